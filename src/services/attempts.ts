/** What completing a request does to its attempts that never ended. */
import type { Queryable } from '../db';
import { settleAtReserved } from '../db/budgetLedger';
import { abandonStartedAttempts } from '../db/requests';
import { ABANDONED } from '../domain/breaker';
import { reservationIdOf } from '../domain/budget';
import type { HealthPort } from './healthPort';

/**
 * Marks the request's attempts still `started` (their worker died mid-call) as `abandoned`, and
 * spends their budget reservations at the worst case: the provider may have answered and charged,
 * and a budget must not be overspent because a worker crashed. Run in the completing transaction;
 * returns the endpoints (catalog ids) of the abandoned calls, for `reportAbandoned` after commit.
 */
export async function abandonUnfinishedAttempts(tx: Queryable, requestId: string): Promise<string[]> {
  const abandoned = await abandonStartedAttempts(tx, requestId);
  await settleAtReserved(
    tx,
    abandoned.map((a) => reservationIdOf(requestId, a.candidateIndex, a.attempt)),
  );
  return abandoned.map((a) => `${a.provider}/${a.model}`);
}

/** The breakers count abandoned calls (they are not failures: see `BreakerState.abandonedCalls`). */
export function reportAbandoned(health: HealthPort | undefined, endpoints: string[]): void {
  for (const endpoint of endpoints)
    health?.report(endpoint, { ok: false, type: ABANDONED, message: 'worker stopped mid-call', latencyMs: 0 });
}
