/**
 * The two transactions that end an attempt on record: withdrawn before any call (nothing was
 * spent), or finished with its outcome (the attempt's recorded cost and the ledger's spend in
 * one commit, so they cannot disagree).
 */
import type { Db, Queryable } from '../../src/db';
import * as budgets from '../../src/db/budgetLedger';
import * as requests from '../../src/db/requests';
import type { AttemptRecord } from '../../src/domain/request';
import { closeCall } from '../../src/services/budgetOperations';
import type { AttemptRef } from './call';

/** A call refused after its attempt went on record: the attempt forgotten, its reservation released. */
export function withdrawAttempt(db: Db, ref: AttemptRef): Promise<void> {
  return db.transaction(async (tx) => {
    await requests.forgetAttempt(tx, ref.requestId, ref.candidateIndex, ref.attempt);
    if (ref.reservation) await budgets.release(tx, ref.reservation);
  });
}

/**
 * The attempt's outcome recorded and its reservation closed at its cost. `then` runs inside the
 * same transaction (a success completes the request in the same commit).
 */
export function finishAttempt<T>(
  db: Db,
  ref: AttemptRef,
  a: AttemptRecord,
  then?: (tx: Queryable) => Promise<T>,
): Promise<T | undefined> {
  return db.transaction(async (tx) => {
    await requests.recordAttempt(tx, ref.requestId, a);
    if (ref.reservation) await closeCall(tx, ref.reservation, a.costUsd ?? 0);
    return then?.(tx);
  });
}
