/**
 * Reserve and record: the attempt goes on record as started before the call, so if its worker
 * dies mid-call it stays visible (and is marked abandoned when the request completes). The same
 * round trip reads the prompt and, under a budget, reserves the worst case first, one
 * reservation per call attempt (a retried task of the same attempt finds its own). Refused: no
 * call and no attempt; a cheaper candidate may still fit.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../../src/db';
import * as requests from '../../src/db/requests';
import type { StoredBody } from '../../src/db/requests';
import { reservationIdOf } from '../../src/domain/budget';
import type { CallModelInput } from '../../src/domain/request';
import { STREAM_CALL_MAX_MS } from '../../src/domain/stream';
import type { SwitchyardConfig } from '../../src/domain/config';
import { storedRequestOf, type StoredRequest } from '../storedRequest';
import { reserveCall } from '../../src/services/budgetOperations';
import type { AttemptRef, StartedAttempt } from './call';

const FOREIGN_KEY_VIOLATION = '23503';
// A reservation outlives its call by this much before the budget workflow expires it.
export const RESERVATION_MARGIN_MS = 60_000;

/** The attempt's record as it starts (attempt: Temporal's attempt number of this call). */
export function startedAttempt(input: CallModelInput, attempt: number, startedAt: Date): StartedAttempt {
  return {
    candidateIndex: input.candidateIndex,
    attempt,
    provider: input.provider,
    model: input.model,
    startedAt: startedAt.toISOString(),
  };
}

/** An attempt on record (its reservation in `ref`) and the request it calls for. */
export interface Recorded {
  ref: AttemptRef;
  request: StoredRequest;
}

/** `reserveAndRecord`'s arguments but `fresh`. */
type ReserveArgs = [db: Db, config: SwitchyardConfig, input: CallModelInput, started: StartedAttempt, startedAt: Date];

/**
 * Reserves (under a budget) and records the attempt; returns it with the request it calls for.
 * `fresh` (a local activity's attempt): its number may already be on record from an earlier run of
 * the call (a dead worker's), which is then left as it is: `taken`, nothing reserved or recorded here.
 */
export async function reserveAndRecord(...args: ReserveArgs): Promise<Recorded>;
export async function reserveAndRecord(...args: [...ReserveArgs, fresh: boolean]): Promise<Recorded | { taken: true }>;
export async function reserveAndRecord(
  ...[db, config, input, started, startedAt, fresh = false]: [...ReserveArgs, fresh?: boolean]
): Promise<Recorded | { taken: true }> {
  const ref: AttemptRef = {
    requestId: input.requestId,
    candidateIndex: input.candidateIndex,
    attempt: started.attempt,
  };
  let stored: StoredBody | undefined;
  try {
    if (input.budget) {
      const held = await reserveCall(
        db,
        config,
        {
          id: reservationIdOf(input.requestId, input.candidateIndex, started.attempt),
          tenantId: input.budget.tenantId,
          userId: input.budget.userId,
          amountUsd: input.budget.reserveUsd,
          ttlMs: (input.stream ? STREAM_CALL_MAX_MS : input.timeoutMs) + RESERVATION_MARGIN_MS,
          now: startedAt.getTime(),
        },
        { requestId: input.requestId, attempt: started, fresh },
      );
      if (!held.ok) {
        throw ApplicationFailure.create({
          type: 'BudgetExceeded',
          message: `${input.modelId}: ${held.message}`,
          nonRetryable: true,
          details: [{ provider: input.provider, model: input.model, budget: held.window }],
        });
      }
      if (held.taken) return { taken: true };
      ref.reservation = held.id;
      stored = held.request;
    }
    // No budget applies (or no row came back with the reservation): start it on its own.
    if (!stored) {
      const row = await requests.startAttempt(db, input.requestId, started, fresh);
      if (row?.taken) return { taken: true };
      stored = row;
    }
  } catch (err) {
    // No request row for the attempt to reference: the request is not in the database.
    if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) storedRequestOf(input.requestId, undefined);
    throw err;
  }
  return { ref, request: storedRequestOf(input.requestId, stored) };
}
