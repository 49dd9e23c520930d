/**
 * Opens (or keeps open) a key's `rate_limit_near` episode as its requests are counted: the API is
 * where the counts are (per process or in Redis), so it is where "near" is seen. The episode lasts
 * a sliding minute past the last near request (the alert monitor resolves it then). A key is
 * written at most every few seconds per process, so a busy key costs the database little.
 */
import type { Queryable } from '../db';
import { openAlert, refreshAlertDetails } from '../db/alerts';
import { rateLimitCondition } from '../domain/alerts';
import { MINUTE_MS } from '../domain/slidingWindow';
import { noteSwallowed } from './metrics';

const REFRESH_MS = 5_000;

export class RateLimitAlerts {
  private readonly lastWrite = new Map<string, number>();

  constructor(
    private readonly db: Queryable,
    private readonly fraction: () => number,
  ) {}

  /** A key's request was counted with `used` of `limit` in the sliding minute. */
  note(use: { tenantId: string; keyId: string; used: number; limit: number }): void {
    const now = Date.now();
    const c = rateLimitCondition({ ...use, fraction: this.fraction(), windowEndsAt: now + MINUTE_MS });
    if (!c) return;
    if (now - (this.lastWrite.get(use.keyId) ?? 0) < REFRESH_MS) return;
    this.lastWrite.set(use.keyId, now);
    if (this.lastWrite.size > 10_000) this.lastWrite.clear();
    void (async () => {
      if (!(await openAlert(this.db, c, now))) await refreshAlertDetails(this.db, c.kind, c.subject, c.details);
    })().catch((err: unknown) =>
      noteSwallowed('alert_open', err, { keyId: use.keyId }, 'could not open a rate-limit alert'),
    );
  }
}
