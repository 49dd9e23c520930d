import { batchProgress } from '../../src/domain/batch/job';
import {
  AUTO_MAX_BUCKETS,
  bucketCount,
  bucketStart,
  decodeCursor,
  encodeCursor,
  pickBucket,
} from '../../src/domain/consoleData';

const t = (iso: string) => new Date(iso);

describe('request list cursor', () => {
  it('round-trips microseconds and ids with any characters, and is opaque url-safe text', () => {
    const c = { createdMicros: '1772452800123456', requestId: 'req:with:colons/and spaces' };
    const s = encodeCursor(c);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(s)).toEqual(c);
  });

  it('refuses what it did not give out', () => {
    expect(decodeCursor('!!')).toBeUndefined();
    expect(decodeCursor(Buffer.from('nonsense').toString('base64url'))).toBeUndefined();
    expect(decodeCursor(Buffer.from('12:').toString('base64url'))).toBeUndefined();
    expect(decodeCursor(Buffer.from('1.5:x').toString('base64url'))).toBeUndefined();
  });
});

describe('series buckets', () => {
  it('counts the UTC buckets a window touches, partial ones included', () => {
    expect(bucketCount(t('2026-01-01T10:00:00Z'), t('2026-01-01T11:00:00Z'), 'minute')).toBe(60);
    expect(bucketCount(t('2026-01-01T10:00:30Z'), t('2026-01-01T11:00:00Z'), 'minute')).toBe(60);
    expect(bucketCount(t('2026-01-01T10:00:30Z'), t('2026-01-01T11:00:01Z'), 'minute')).toBe(61);
    expect(bucketCount(t('2026-01-01T10:30:00Z'), t('2026-01-01T11:30:00Z'), 'hour')).toBe(2);
    expect(bucketCount(t('2026-01-01T00:00:00Z'), t('2026-01-08T00:00:00Z'), 'day')).toBe(7);
    expect(bucketCount(t('2026-01-01T10:00:00Z'), t('2026-01-01T10:00:00Z'), 'minute')).toBe(0);
  });

  it('auto picks the finest bucket with at most 120 buckets', () => {
    const from = t('2026-01-01T00:00:00Z');
    const after = (ms: number) => new Date(from.getTime() + ms);
    expect(pickBucket(from, after(3_600_000))).toBe('minute'); // the default hour: 60
    expect(pickBucket(from, after(120 * 60_000))).toBe('minute');
    expect(pickBucket(from, after(120 * 60_000 + 1))).toBe('hour');
    expect(pickBucket(from, after(86_400_000))).toBe('hour'); // a day: 24
    expect(pickBucket(from, after(7 * 86_400_000))).toBe('day'); // a week: 168 hours, 7 days
    expect(pickBucket(from, after(400 * 86_400_000))).toBe('day'); // the coarsest, whatever the count
    for (let ms = 1; ms < 200 * 86_400_000; ms = Math.ceil(ms * 1.7)) {
      const b = pickBucket(from, after(ms));
      if (ms <= 120 * 86_400_000) expect(bucketCount(from, after(ms), b)).toBeLessThanOrEqual(AUTO_MAX_BUCKETS);
    }
  });

  it('starts a bucket at its UTC boundary', () => {
    expect(bucketStart(t('2026-01-01T10:59:59.999Z'), 'minute').toISOString()).toBe('2026-01-01T10:59:00.000Z');
    expect(bucketStart(t('2026-01-01T10:59:59.999Z'), 'hour').toISOString()).toBe('2026-01-01T10:00:00.000Z');
    expect(bucketStart(t('2026-01-01T23:59:59.999Z'), 'day').toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });
});

describe('batch progress', () => {
  const base = { total: 10, startedAt: '2026-01-01T10:00:00.000Z', statusReason: null };
  const now = Date.parse('2026-01-01T10:02:00.000Z');

  it('rates finished items per minute since the start, and the time left at that rate', () => {
    const p = batchProgress({ ...base, done: 4, failed: 1, now, status: 'running' });
    expect(p).toEqual({
      progress: { total: 10, completed: 4, failed: 1 },
      rate_per_minute: 2.5,
      eta_seconds: 120,
      waiting_reason: null,
    });
  });

  it('has no rate before the first item ends, no time left once finished, a reason only while waiting', () => {
    expect(batchProgress({ ...base, done: 0, failed: 0, now, status: 'running' }).rate_per_minute).toBeNull();
    const finished = batchProgress({
      ...base,
      done: 10,
      failed: 0,
      now: now + 3_600_000,
      finishedAt: '2026-01-01T10:05:00.000Z',
      status: 'completed',
      statusReason: 'x',
    });
    expect(finished).toMatchObject({ rate_per_minute: 2, eta_seconds: null, waiting_reason: null });
    const waiting = batchProgress({ ...base, done: 1, failed: 0, now, status: 'waiting', statusReason: 'budget' });
    expect(waiting.waiting_reason).toBe('budget');
  });
});
