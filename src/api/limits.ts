/**
 * Per-key request rate and per-tenant concurrency, from the tenant's policy (`limits`) or the
 * process defaults. Over either: 429 with `retry-after`. Counted where the LimitStore counts:
 * in Redis across every API process when `REDIS_URL` is set, else per API process (a deployment of
 * N API processes without Redis allows up to N times the limit).
 */
import type { RequestHandler } from 'express';
import { MemoryLimitStore, type LimitStore } from '../services/limitStore';
import { authOf, type AuthContext } from './auth';
import { HttpError } from './errors';

export interface LimitSettings {
  requestsPerMinute?: number;
  maxConcurrent?: number;
}

export class Limits {
  constructor(
    private readonly settingsFor: (tenantId: string) => LimitSettings,
    private readonly store: LimitStore = new MemoryLimitStore(),
    /** Told of each counted request's use of its key's limit (rate-limit alerts). */
    private readonly onUse?: (use: { tenantId: string; keyId: string; used: number; limit: number }) => void,
  ) {}

  /** Per key: requests per minute (a 429 with `retry-after` when over). */
  async checkRate({ keyId, tenantId }: Pick<AuthContext, 'keyId' | 'tenantId'>): Promise<void> {
    const limit = this.settingsFor(tenantId).requestsPerMinute;
    if (limit === undefined) return;
    const decision = await this.store.hit(`key:${keyId}`, limit);
    if (decision.used !== undefined) this.onUse?.({ tenantId, keyId, used: decision.used, limit });
    if (decision.allowed) return;
    throw new HttpError(429, 'rate_limit_error', `This API key is limited to ${limit} requests per minute.`, {
      code: 'key_rate_limited',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))) },
    });
  }

  /** Per tenant: a slot among its routed requests in flight (a 429 when none is free); undefined: no limit. */
  async acquireSlot(tenantId: string): Promise<(() => void) | undefined> {
    const limit = this.settingsFor(tenantId).maxConcurrent;
    if (limit === undefined) return undefined;
    const lease = await this.store.acquire(`tenant:${tenantId}`, limit);
    if (!lease)
      throw new HttpError(429, 'rate_limit_error', `This tenant is limited to ${limit} requests in flight at once.`, {
        code: 'tenant_concurrency',
        headers: { 'retry-after': '1' },
      });
    return lease.release;
  }

  readonly rate: RequestHandler = (req, _res, next) => {
    this.checkRate(authOf(req)).then(() => next(), next);
  };

  readonly concurrency: RequestHandler = (req, res, next) => {
    this.acquireSlot(authOf(req).tenantId).then((release) => {
      if (!release) return next();
      res.once('finish', release);
      res.once('close', release);
      // The client may have gone while the slot was being taken (not req.destroyed: a request whose
      // body has been read is destroyed already).
      if (res.closed || !res.socket || res.socket.destroyed) release();
      next();
    }, next);
  };
}
