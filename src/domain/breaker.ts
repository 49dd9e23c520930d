/**
 * The circuit breaker of one provider endpoint, as pure functions over plain JSON state (it is
 * carried across continue-as-new). Time is always passed in: the providerHealth workflow gives
 * its deterministic clock, tests give whatever they like.
 *
 *   closed ──(N failures in the window, or failure rate over a minimum of calls)──► open
 *   open ──(cooldown timer fires)──► half-open ──(probe succeeds)──► closed
 *                                       └──────(probe fails)──► open, cooldown doubled
 * A re-trip never shortens an open deadline. Operators can force open or closed.
 */
import type { BreakerSettings } from './breakerSettings';

export type { BreakerSettings } from './breakerSettings';

export type BreakerStatus = 'closed' | 'open' | 'half-open';

export interface BreakerState {
  endpoint: string;
  status: BreakerStatus;
  /** Failure times within the window (closed state). */
  failures: number[];
  /** Calls and failures in the current rate window. */
  windowStart: number;
  windowCalls: number;
  windowFailures: number;
  openUntil?: number;
  /** Consecutive trips without a successful probe: the cooldown doubles with each. */
  consecutiveTrips: number;
  tripCount: number;
  probes: number[];
  ewmaLatencyMs?: number;
  ewmaErrorRate: number;
  lastError?: { type: string; message: string; at: number };
  /**
   * Calls whose worker died before they ended. Counted, never a failure: a crashed or redeployed
   * worker says nothing about the provider, and must not open a breaker shared by every tenant.
   */
  abandonedCalls?: number;
  /** Set when an operator forced the state. */
  forced?: { status: 'open' | 'closed'; reason: string; at: number };
}

export interface Outcomes {
  failures: Array<{ at: number; type: string; message: string; latencyMs?: number }>;
  successes?: { count: number; latencySumMs: number; at: number };
  /** These outcomes come from probe calls (they close or re-open a half-open breaker). */
  probe?: boolean;
}

/** Failure types that say something about the endpoint's health (not the request's own faults). */
export const HEALTH_FAILURES = new Set([
  'RateLimited',
  'Overloaded',
  'Timeout',
  'Connection',
  'MalformedResponse',
  'AuthFailed',
  'NotFound',
]);

/**
 * The type a breaker hears for a call's failure. A stream with no first token in time is the
 * endpoint timing out (`Timeout`): told so, the breaker's vocabulary (and so the providerHealth
 * workflow's histories) stays as it was before `FirstTokenTimeout` existed.
 */
export const healthFailureType = (type: string): string => (type === 'FirstTokenTimeout' ? 'Timeout' : type);

/** A call whose worker died mid-call (see `abandonedCalls`). */
export const ABANDONED = 'Abandoned';

const EWMA_ALPHA = 0.2;

export function initialBreaker(endpoint: string, now: number): BreakerState {
  return {
    endpoint,
    status: 'closed',
    failures: [],
    windowStart: now,
    windowCalls: 0,
    windowFailures: 0,
    consecutiveTrips: 0,
    tripCount: 0,
    probes: [],
    ewmaErrorRate: 0,
  };
}

export function cooldownFor(consecutiveTrips: number, s: BreakerSettings): number {
  return Math.min(s.cooldownMs * 2 ** Math.max(0, consecutiveTrips - 1), s.maxCooldownMs);
}

function trip(state: BreakerState, now: number, s: BreakerSettings): BreakerState {
  const consecutiveTrips = state.consecutiveTrips + 1;
  // A re-trip always extends the deadline, never shortens it.
  const openUntil = Math.max(state.openUntil ?? 0, now + cooldownFor(consecutiveTrips, s));
  return {
    ...state,
    status: 'open',
    openUntil,
    consecutiveTrips,
    tripCount: state.tripCount + 1,
    failures: [],
    probes: [],
    windowStart: now,
    windowCalls: 0,
    windowFailures: 0,
  };
}

function ewma(prev: number | undefined, value: number, weight = 1): number {
  const a = 1 - (1 - EWMA_ALPHA) ** weight;
  return prev === undefined ? value : prev + a * (value - prev);
}

/** Applies a batch of outcomes (failures promptly, successes aggregated per worker). */
export function applyOutcomes(state: BreakerState, o: Outcomes, now: number, s: BreakerSettings): BreakerState {
  let st = advance(state, now, s);
  if (st.forced?.status === 'open') return st; // an operator's open wins until they close it
  const healthFailures = o.failures.filter((f) => HEALTH_FAILURES.has(f.type));
  const abandoned = o.failures.filter((f) => f.type === ABANDONED).length;
  if (abandoned > 0) st = { ...st, abandonedCalls: (st.abandonedCalls ?? 0) + abandoned };
  const successCount = o.successes?.count ?? 0;
  const calls = healthFailures.length + successCount;
  if (calls > 0) {
    st = { ...st, ewmaErrorRate: ewma(st.ewmaErrorRate, healthFailures.length / calls, calls) };
    if (o.successes && o.successes.count > 0)
      st = {
        ...st,
        ewmaLatencyMs: ewma(st.ewmaLatencyMs, o.successes.latencySumMs / o.successes.count, o.successes.count),
      };
  }
  const last = healthFailures[healthFailures.length - 1];
  if (last) st = { ...st, lastError: { type: last.type, message: last.message.slice(0, 300), at: last.at } };

  if (st.status === 'half-open') {
    if (o.probe || st.probes.length > 0) {
      if (healthFailures.length > 0) return trip({ ...st, probes: [] }, now, s);
      if (successCount > 0)
        return {
          ...st,
          status: 'closed',
          openUntil: undefined,
          consecutiveTrips: 0,
          probes: [],
          failures: [],
          forced: undefined,
        };
    }
    return st;
  }
  if (st.status === 'open') return st;

  // Closed: count failures in the sliding window, and calls for the rate window.
  const failures = [...st.failures, ...healthFailures.map((f) => f.at)].filter((t) => t > now - s.windowMs);
  st = {
    ...st,
    failures,
    windowCalls: st.windowCalls + calls,
    windowFailures: st.windowFailures + healthFailures.length,
  };
  const rateTrips = st.windowCalls >= s.minCalls && st.windowFailures / st.windowCalls >= s.failureRateThreshold;
  // An operator's close resets the breaker; it does not disable it: new failures trip it again.
  if (failures.length >= s.failureThreshold || rateTrips) return trip({ ...st, forced: undefined }, now, s);
  return st;
}

/** Moves time forward: an open breaker whose cooldown passed becomes half-open; stale probes and rate windows expire. */
export function advance(state: BreakerState, now: number, s: BreakerSettings): BreakerState {
  let st = state;
  if (st.status === 'open' && st.openUntil !== undefined && now >= st.openUntil && st.forced?.status !== 'open') {
    st = { ...st, status: 'half-open', probes: [] };
  }
  if (st.probes.some((p) => p <= now - s.probeTimeoutMs))
    st = { ...st, probes: st.probes.filter((p) => p > now - s.probeTimeoutMs) };
  if (now - st.windowStart >= s.windowMs) st = { ...st, windowStart: now, windowCalls: 0, windowFailures: 0 };
  return st;
}

/** A half-open breaker admits a limited number of probes; returns whether this caller got one. */
export function grantProbe(
  state: BreakerState,
  now: number,
  s: BreakerSettings,
): { state: BreakerState; granted: boolean } {
  const st = advance(state, now, s);
  if (st.status === 'closed') return { state: st, granted: true };
  if (st.status === 'open' || st.probes.length >= s.probeSlots) return { state: st, granted: false };
  return { state: { ...st, probes: [...st.probes, now] }, granted: true };
}

export function force(
  state: BreakerState,
  status: 'open' | 'closed',
  reason: string,
  now: number,
  s: BreakerSettings,
): BreakerState {
  if (status === 'closed')
    return {
      ...state,
      status: 'closed',
      openUntil: undefined,
      consecutiveTrips: 0,
      probes: [],
      failures: [],
      windowStart: now,
      windowCalls: 0,
      windowFailures: 0,
      forced: { status, reason, at: now },
    };
  return {
    ...state,
    status: 'open',
    openUntil: Math.max(state.openUntil ?? 0, now + cooldownFor(state.consecutiveTrips + 1, s)),
    forced: { status, reason, at: now },
  };
}

/** What callers see: the `state` query's answer and the policy's input. */
export interface BreakerSnapshot {
  endpoint: string;
  status: BreakerStatus;
  openUntil?: string;
  tripCount: number;
  consecutiveTrips: number;
  ewmaLatencyMs?: number;
  errorRate: number;
  abandonedCalls?: number;
  lastError?: { type: string; message: string; at: string };
  forced?: { status: 'open' | 'closed'; reason: string; at: string };
}

/**
 * What routing reads of a breaker: its status, cooldown end, operator force and trip count. The
 * entity publishes its projection whenever this changes (not on every outcome batch).
 */
export function routingKey(st: BreakerState): string {
  return [st.status, st.openUntil ?? '', st.forced?.status ?? '', st.tripCount].join('|');
}

export function snapshot(st: BreakerState): BreakerSnapshot {
  return {
    endpoint: st.endpoint,
    status: st.status,
    // A forced-open breaker has no end: it stays open until an operator closes it.
    ...(st.openUntil !== undefined &&
      st.status !== 'closed' &&
      st.forced?.status !== 'open' && { openUntil: new Date(st.openUntil).toISOString() }),
    tripCount: st.tripCount,
    consecutiveTrips: st.consecutiveTrips,
    ...(st.ewmaLatencyMs !== undefined && { ewmaLatencyMs: Math.round(st.ewmaLatencyMs) }),
    errorRate: Math.round(st.ewmaErrorRate * 1000) / 1000,
    ...(st.abandonedCalls && { abandonedCalls: st.abandonedCalls }),
    ...(st.lastError && { lastError: { ...st.lastError, at: new Date(st.lastError.at).toISOString() } }),
    ...(st.forced && { forced: { ...st.forced, at: new Date(st.forced.at).toISOString() } }),
  };
}
