/**
 * A request rate over a sliding minute, approximated with two fixed windows: the previous
 * window's count, weighted by how much of it still overlaps the last `windowMs`, plus the current
 * window's count. O(1) per key, no timestamp lists. The Redis store (src/services/limitStore.ts)
 * evaluates the same formula in a Lua script, atomically across processes.
 */
export interface WindowCounts {
  /** Requests counted in the previous fixed window. */
  previous: number;
  /** Requests counted so far in the current fixed window. */
  current: number;
  /** How far into the current window we are. */
  elapsedMs: number;
}

export type WindowDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export const MINUTE_MS = 60_000;

/** Requests in the sliding window ending now: the previous window's overlapping share plus the current's. */
export const windowEstimate = (c: WindowCounts, windowMs = MINUTE_MS) =>
  c.previous * (1 - c.elapsedMs / windowMs) + c.current;

/** Whether one more request fits under `limit` per window; if not, when one will. */
export function slidingWindow(c: WindowCounts, limit: number, windowMs = MINUTE_MS): WindowDecision {
  const estimate = c.previous * (1 - c.elapsedMs / windowMs) + c.current;
  if (estimate + 1 <= limit) return { allowed: true };
  // When the previous window's weight has shrunk enough for one more; else the next window.
  const room = limit - 1 - c.current;
  const at = room >= 0 && c.previous > 0 ? windowMs * (1 - room / c.previous) : windowMs;
  return { allowed: false, retryAfterMs: Math.max(0, at - c.elapsedMs) };
}
