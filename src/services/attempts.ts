/** Completing a request, and what that does to its attempts that never ended. */
import type { Queryable } from '../db';
import { settleAtReserved } from '../db/budgetLedger';
import { completeRequest, type RequestOutcome } from '../db/requests';
import { ABANDONED } from '../domain/breaker';
import { reservationIdOf } from '../domain/budget';
import type { AttemptRecord } from '../domain/request';
import type { HealthPort } from './healthPort';

/**
 * Completes the request (in the caller's transaction): its attempts still `started` (their worker
 * died mid-call) become `abandoned`, and their budget reservations are spent at the worst case:
 * the provider may have answered and charged, and a budget must not be overspent because a worker
 * crashed. Returns the attempts and the endpoints (catalog ids) of the abandoned calls, for
 * `reportAbandoned` after the commit.
 */
export async function finishRequest(
  tx: Queryable,
  requestId: string,
  outcome: RequestOutcome,
): Promise<{ attempts: AttemptRecord[]; abandoned: string[] }> {
  const { attempts, abandoned } = await completeRequest(tx, requestId, outcome);
  if (abandoned.length)
    await settleAtReserved(
      tx,
      abandoned.map((a) => reservationIdOf(requestId, a.candidateIndex, a.attempt)),
    );
  return { attempts, abandoned: abandoned.map((a) => `${a.provider}/${a.model}`) };
}

/** The breakers count abandoned calls (they are not failures: see `BreakerState.abandonedCalls`). */
export function reportAbandoned(health: HealthPort | undefined, endpoints: string[]): void {
  for (const endpoint of endpoints)
    health?.report(endpoint, { ok: false, type: ABANDONED, message: 'worker stopped mid-call', latencyMs: 0 });
}
