/**
 * Uploads in progress per tenant (`/v1/files`, batch intake): each one holds a request, a parser
 * and a spool (up to 1 MiB of memory, then disk) for as long as its client takes to send it, so a
 * tenant gets a few at once and a 429 beyond, before any of the body is read. Counted in this API
 * process only (N processes allow N times the cap): it bounds what one process holds, which is
 * what it is for.
 */
import type { RequestHandler } from 'express';
import { authOf } from './auth';
import { HttpError } from './errors';

export const DEFAULT_TENANT_MAX_UPLOADS = 4;
/** A refused upload's `retry-after`: uploads last seconds to minutes, so no sooner than this. */
const RETRY_AFTER_SECONDS = 5;

export class UploadSlots {
  private readonly inFlight = new Map<string, number>();

  constructor(readonly maxPerTenant = DEFAULT_TENANT_MAX_UPLOADS) {}

  /** Takes one of the tenant's slots: its release (safe to call more than once), or undefined when all are taken. */
  acquire(tenantId: string): (() => void) | undefined {
    const n = this.inFlight.get(tenantId) ?? 0;
    if (n >= this.maxPerTenant) return undefined;
    this.inFlight.set(tenantId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inFlight.get(tenantId) ?? 1) - 1;
      if (left > 0) this.inFlight.set(tenantId, left);
      else this.inFlight.delete(tenantId);
    };
  }

  /** The uploads a tenant has in progress now. */
  count(tenantId: string): number {
    return this.inFlight.get(tenantId) ?? 0;
  }

  /** Before the body is read: a slot for the request's life (until its answer ends or it closes), or 429. */
  readonly middleware: RequestHandler = (req, res, next) => {
    const { tenantId } = authOf(req);
    const release = this.acquire(tenantId);
    if (!release)
      return next(
        new HttpError(
          429,
          'rate_limit_error',
          `This tenant already has ${this.maxPerTenant} uploads in progress, the most at once; send this one when one of them has finished.`,
          { code: 'too_many_uploads', headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } },
        ),
      );
    res.once('finish', release);
    res.once('close', release);
    if (res.closed) release();
    next();
  };
}
