/**
 * Where a request's time went (seed 004): waiting for its turn (admission, provider rate
 * limits), routing (classify, decide, Temporal's dispatch: until its first provider call
 * started), the provider calls themselves, and the total. Derived from the attempt records, so
 * the response and the stored record agree.
 */
import type { AttemptRecord } from './request';

export interface Timing {
  queuedMs: number;
  routingMs: number;
  providerMs: number;
  totalMs: number;
}

export function timingOf(r: {
  startedAt: number;
  endedAt: number;
  attempts: Pick<AttemptRecord, 'startedAt' | 'latencyMs' | 'queuedMs'>[];
  /** Time waited for an admission slot in the API, before the request was stored. */
  admissionMs?: number;
}): Timing {
  const admission = r.admissionMs ?? 0;
  const totalMs = Math.max(0, r.endedAt - r.startedAt) + admission;
  const queuedMs = admission + r.attempts.reduce((n, a) => n + (a.queuedMs ?? 0), 0);
  const providerMs = r.attempts.reduce((n, a) => n + a.latencyMs, 0);
  const first = r.attempts.length ? Math.min(...r.attempts.map((a) => Date.parse(a.startedAt))) : r.endedAt;
  const routingMs = Math.max(0, first - r.startedAt - (r.attempts[0]?.queuedMs ?? 0));
  return { queuedMs, routingMs, providerMs, totalMs };
}

/** The standard `Server-Timing` header for it (browsers' dev tools and proxies show it). */
export const serverTiming = (t: Timing): string =>
  `queued;dur=${t.queuedMs}, routing;dur=${t.routingMs}, provider;dur=${t.providerMs}, total;dur=${t.totalMs}`;

/** As the API shows it (`switchyard.timing_ms`, and the request record's `timing_ms`). */
export const timingJson = (t: Timing) => ({
  queued: t.queuedMs,
  routing: t.routingMs,
  provider: t.providerMs,
  total: t.totalMs,
});
