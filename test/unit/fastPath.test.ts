/**
 * The fast path's choice (issue 24), the pure part: `callPathOf` (which calls run as local
 * activities), `fastPathOf` and the `routing.fastPath` schema, and the call context a local
 * activity's steps get (heartbeats dropped: a local activity cannot heartbeat).
 */
import { callContextOf, type CallContext } from '../../activities/callSteps/call';
import { DEFAULT_FAST_PATH_MAX_CALL_MS, fastPathOf } from '../../src/domain/config';
import { callPathOf } from '../../src/domain/fastPath';
import type { RoutedCandidate } from '../../src/domain/request';
import { ConfigValidationError, validateConfig } from '../../src/services/configStore';
import { unitModel } from '../support/catalog';

const NOW = 1_000_000;
const ON = { enabled: true, maxCallMs: 30_000 };
const candidate = (timeoutMs: number, more: Partial<RoutedCandidate> = {}) => ({
  callQueue: 'shared' as const,
  call: {
    maximumAttempts: 3,
    initialIntervalMs: 1_000,
    backoffCoefficient: 2,
    maximumIntervalMs: 20_000,
    timeoutMs,
    nonRetryableTypes: [],
  },
  ...more,
});
const route = (deadlineMs: number, more: { stream?: boolean; batchId?: string } = {}) => ({
  deadlineAt: NOW + deadlineMs,
  ...more,
});

describe('callPathOf', () => {
  it('a short, non-streamed call on the shared queue is local', () => {
    expect(callPathOf(candidate(30_000), route(120_000), ON, NOW)).toBe('local');
    expect(callPathOf(candidate(5_000), route(120_000), ON, NOW)).toBe('local');
  });

  it('a call whose timeout is longer is local only when the deadline is short', () => {
    expect(callPathOf(candidate(60_000), route(120_000), ON, NOW)).toBe('activity');
    expect(callPathOf(candidate(60_000), route(30_000), ON, NOW)).toBe('local');
    expect(callPathOf(candidate(60_000), route(30_001), ON, NOW)).toBe('activity');
  });

  it('streams, batch requests, provider queues and rate-limited providers stay regular activities', () => {
    expect(callPathOf(candidate(5_000), route(60_000, { stream: true }), ON, NOW)).toBe('activity');
    expect(callPathOf(candidate(5_000), route(60_000, { batchId: 'b1' }), ON, NOW)).toBe('activity');
    expect(callPathOf({ ...candidate(5_000), callQueue: undefined }, route(60_000), ON, NOW)).toBe('activity');
    expect(callPathOf(candidate(5_000, { rateLimitWaitMs: 30_000 }), route(60_000), ON, NOW)).toBe('activity');
  });

  it('turned off, every call is a regular activity', () => {
    expect(callPathOf(candidate(5_000), route(60_000), { ...ON, enabled: false }, NOW)).toBe('activity');
  });
});

describe('routing.fastPath', () => {
  const catalog = {
    providers: [{ id: 'oa', wireFormat: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
    models: [unitModel('oa', 'cheap')],
  };

  it('is on, 30 s, when absent', () => {
    expect(fastPathOf(validateConfig({ catalog }))).toEqual({
      enabled: true,
      maxCallMs: DEFAULT_FAST_PATH_MAX_CALL_MS,
    });
    expect(DEFAULT_FAST_PATH_MAX_CALL_MS).toBe(60_000);
  });

  it('takes enabled and maxCallMs', () => {
    const c = validateConfig({ catalog, routing: { fastPath: { enabled: false, maxCallMs: 10_000 } } });
    expect(fastPathOf(c)).toEqual({ enabled: false, maxCallMs: 10_000 });
  });

  it('refuses a bad value or an unknown key, naming the field', () => {
    const issues = (raw: unknown) => {
      try {
        validateConfig(raw);
      } catch (err) {
        if (err instanceof ConfigValidationError) return err.issues.map((i) => i.path);
        throw err;
      }
      return [];
    };
    expect(issues({ catalog, routing: { fastPath: { maxCallMs: 0 } } })).toEqual(['routing.fastPath.maxCallMs']);
    expect(issues({ catalog, routing: { fastPath: { enabled: 'yes' } } })).toEqual(['routing.fastPath.enabled']);
    expect(issues({ catalog, routing: { fastPath: { maxMs: 5 } } })).toEqual(['routing.fastPath']);
  });
});

describe('callContextOf', () => {
  const context = (isLocal: boolean) => {
    const beats: unknown[] = [];
    const ctx = {
      info: { attempt: 2, currentAttemptScheduledTimestampMs: NOW, isLocal },
      cancellationSignal: new AbortController().signal,
      heartbeat: (d?: unknown) => void beats.push(d ?? 'beat'),
      sleep: () => Promise.resolve(),
    };
    return { ctx, beats };
  };

  it('a regular activity heartbeats through its context', () => {
    const { ctx, beats } = context(false);
    const c: CallContext = callContextOf(ctx);
    c.heartbeat();
    expect(beats).toEqual(['beat']);
  });

  it("a local activity's heartbeats are dropped; its attempt and cancellation are its own", () => {
    const { ctx, beats } = context(true);
    const c = callContextOf(ctx);
    c.heartbeat();
    expect(beats).toEqual([]);
    expect(c.info.attempt).toBe(2);
    expect(c.cancellationSignal).toBe(ctx.cancellationSignal);
  });
});
