import { applicableWindows, windowEnd, windowStart, worstCaseCost } from '../../src/domain/budget';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('budget windows (UTC)', () => {
  it('daily windows roll over at midnight UTC', () => {
    expect(iso(windowStart('daily', t('2026-11-22T23:59:59.999Z')))).toBe('2026-11-22T00:00:00.000Z');
    expect(iso(windowEnd('daily', t('2026-11-22T23:59:59.999Z')))).toBe('2026-11-23T00:00:00.000Z');
    expect(iso(windowStart('daily', t('2026-11-23T00:00:00.000Z')))).toBe('2026-11-23T00:00:00.000Z');
    expect(iso(windowEnd('daily', t('2026-12-31T12:00:00Z')))).toBe('2027-01-01T00:00:00.000Z');
  });

  it('weekly windows run Monday to Monday', () => {
    expect(iso(windowStart('weekly', t('2026-11-22T10:00:00Z')))).toBe('2026-11-16T00:00:00.000Z'); // a Sunday
    expect(iso(windowEnd('weekly', t('2026-11-22T10:00:00Z')))).toBe('2026-11-23T00:00:00.000Z');
    expect(iso(windowStart('weekly', t('2026-11-23T00:00:00Z')))).toBe('2026-11-23T00:00:00.000Z'); // a Monday
    expect(iso(windowEnd('weekly', t('2026-12-30T00:00:00Z')))).toBe('2027-01-04T00:00:00.000Z');
  });

  it('monthly windows roll over on the 1st, including 31 → 1 and February', () => {
    expect(iso(windowEnd('monthly', t('2026-01-31T23:00:00Z')))).toBe('2026-02-01T00:00:00.000Z');
    expect(iso(windowStart('monthly', t('2026-02-28T23:59:59Z')))).toBe('2026-02-01T00:00:00.000Z');
    expect(iso(windowEnd('monthly', t('2026-02-28T23:59:59Z')))).toBe('2026-03-01T00:00:00.000Z');
    expect(iso(windowEnd('monthly', t('2028-02-29T12:00:00Z')))).toBe('2028-03-01T00:00:00.000Z'); // leap year
    expect(iso(windowEnd('monthly', t('2026-12-15T00:00:00Z')))).toBe('2027-01-01T00:00:00.000Z');
  });

  it('lists the windows with limits, in a stable lock order', () => {
    const w = applicableWindows(
      [
        { scope: 'user:acme:u1', limits: { dailyUsd: 1 } },
        { scope: 'tenant:acme', limits: { monthlyUsd: 100, dailyUsd: 10 } },
      ],
      t('2026-11-22T10:00:00Z'),
    );
    expect(w.map((x) => `${x.scope}/${x.period}/${x.limitUsd}`)).toEqual(['tenant:acme/daily/10', 'tenant:acme/monthly/100', 'user:acme:u1/daily/1']);
  });

  it('reserves the worst case: all input plus the whole output cap', () => {
    const m = { inputPricePerMTok: 2.5, outputPricePerMTok: 10, maxOutputTokens: 4_000 };
    expect(worstCaseCost(m, 1_000, 10_000)).toBeCloseTo(0.0025 + 0.04, 10); // capped at the model's 4,000
  });
});
