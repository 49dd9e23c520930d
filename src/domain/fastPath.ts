/**
 * The fast path (issue 24): where a candidate's call runs. A short, non-streamed call on the
 * workflow's own task queue runs as a local activity, inside the workflow task that scheduled it
 * (one `MarkerRecorded` in history, no activity task to schedule, dispatch and complete); every
 * other call stays a regular activity. Decided by `decideRoute` (a local activity: its result is
 * in history, so replay takes the same path) and recorded on each candidate of the decision.
 */
import type { RouteRequestInput, RoutedCandidate } from './request';

/** `local`: a local activity (the fast path); `activity`: a regular activity. */
export type CallPath = 'local' | 'activity';

export interface FastPathSettings {
  enabled: boolean;
  /** The longest call (its per-attempt timeout, or the time left to the deadline) it takes. */
  maxCallMs: number;
}

/**
 * The path of one candidate's call. A regular activity for: the fast path turned off; a stream (it
 * may run for minutes, relays its pieces with heartbeats, and can be continued or taken over by
 * another call); a batch's request (its worker's activity slots are the batch's concurrency); a
 * call on its provider's own task queue (the queue is the bulkhead, the server-side `rpm` limit,
 * or where the workers holding that provider's key poll; a local activity runs on the workflow's
 * worker); a call of a rate-limited provider (it may wait its turn up to `rateLimitWaitMs`); and a
 * call that may run longer than `maxCallMs`.
 */
export function callPathOf(
  c: Pick<RoutedCandidate, 'callQueue' | 'call' | 'rateLimitWaitMs'>,
  route: Pick<RouteRequestInput, 'stream' | 'batchId' | 'deadlineAt'>,
  fast: FastPathSettings,
  now: number,
): CallPath {
  if (
    !fast.enabled ||
    route.stream ||
    route.batchId !== undefined ||
    c.callQueue !== 'shared' ||
    c.rateLimitWaitMs !== undefined
  )
    return 'activity';
  const longest = Math.min(c.call.timeoutMs, route.deadlineAt - now);
  return longest <= fast.maxCallMs ? 'local' : 'activity';
}
