/**
 * Per-key request rate and per-tenant concurrency, from the tenant's policy (`limits`) or the
 * process defaults. Over either: 429 with `retry-after`. Counted per API process (a deployment
 * with N API processes allows up to N times the limit; put them behind one, or divide).
 *
 * The rate is a sliding-window counter: the last full minute's count, weighted by how much of it
 * still overlaps the last 60 s, plus this minute's count. O(1) per key, no timestamp lists.
 */
import type { RequestHandler } from 'express';
import { authOf } from './auth';
import { HttpError } from './errors';

export interface LimitSettings {
  requestsPerMinute?: number;
  maxConcurrent?: number;
}

const MINUTE = 60_000;

interface Window {
  start: number;
  current: number;
  previous: number;
}

export class Limits {
  private readonly windows = new Map<string, Window>();
  private readonly inFlight = new Map<string, number>();
  private lastSweep = Date.now();

  constructor(private readonly settingsFor: (tenantId: string) => LimitSettings) {}

  /** Per key: requests per minute. */
  readonly rate: RequestHandler = (req, _res, next) => {
    const { keyId, tenantId } = authOf(req);
    const limit = this.settingsFor(tenantId).requestsPerMinute;
    if (limit === undefined) return next();
    const now = Date.now();
    this.sweep(now);
    const start = now - (now % MINUTE);
    let w = this.windows.get(keyId);
    if (!w || w.start !== start) {
      w = { start, previous: w && w.start === start - MINUTE ? w.current : 0, current: 0 };
      this.windows.set(keyId, w);
    }
    const elapsed = (now - start) / MINUTE;
    const estimate = w.previous * (1 - elapsed) + w.current;
    if (estimate + 1 > limit) {
      // When the previous minute's weight has shrunk enough for one more; else the next minute.
      const room = limit - 1 - w.current;
      const at = room >= 0 && w.previous > 0 ? MINUTE * (1 - room / w.previous) : MINUTE;
      const waitMs = Math.max(0, at - (now - start));
      return next(
        new HttpError(429, 'rate_limit_error', `This API key is limited to ${limit} requests per minute.`, {
          code: 'key_rate_limited',
          headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) },
        }),
      );
    }
    w.current++;
    next();
  };

  /** Per tenant: routed requests in flight at once. */
  readonly concurrency: RequestHandler = (req, res, next) => {
    const { tenantId } = authOf(req);
    const limit = this.settingsFor(tenantId).maxConcurrent;
    if (limit === undefined) return next();
    const now = this.inFlight.get(tenantId) ?? 0;
    if (now >= limit)
      return next(
        new HttpError(429, 'rate_limit_error', `This tenant is limited to ${limit} requests in flight at once.`, {
          code: 'tenant_concurrency',
          headers: { 'retry-after': '1' },
        }),
      );
    this.inFlight.set(tenantId, now + 1);
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      const left = (this.inFlight.get(tenantId) ?? 1) - 1;
      if (left > 0) this.inFlight.set(tenantId, left);
      else this.inFlight.delete(tenantId);
    };
    res.once('finish', release);
    res.once('close', release);
    next();
  };

  /** Forgets keys idle for two minutes (their windows count nothing any more). */
  private sweep(now: number): void {
    if (now - this.lastSweep < MINUTE) return;
    this.lastSweep = now;
    for (const [k, w] of this.windows) if (now - w.start >= 2 * MINUTE) this.windows.delete(k);
  }
}
