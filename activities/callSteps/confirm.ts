/**
 * Checks made once the attempt is on record, each withdrawing it (`withdrawAttempt`) when it
 * refuses the call: a cancelled batch, and a half-open breaker's probe slot.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../../src/db';
import { batchCancelled } from '../../src/db/batches';
import type { BreakerSnapshot } from '../../src/domain/breaker';
import type { CallModelInput } from '../../src/domain/request';
import { failure } from '../../src/providers/errors';
import type { HealthPort } from '../../src/services/healthPort';
import { whoOf, type AttemptRef } from './call';
import { withdrawAttempt } from './transactions';

/**
 * A batch's call: checked after the attempt is on record, so a cancel that waits for the batch's
 * started attempts to end has either seen this one or is seen by it (no call after).
 */
export async function checkBatch(db: Db, input: CallModelInput, ref: AttemptRef): Promise<void> {
  if (input.batchId === undefined || !(await batchCancelled(db, input.batchId))) return;
  await withdrawAttempt(db, ref);
  throw ApplicationFailure.create({
    type: 'BatchCancelled',
    message: `batch ${input.batchId} was cancelled`,
    nonRetryable: true,
  });
}

/**
 * A half-open breaker admits one call as its probe. The slot is asked for only once the budget
 * admits the call (a refused call must not take it). Returns whether this call is the probe.
 */
export async function takeProbe(
  db: Db,
  health: HealthPort | undefined,
  snap: BreakerSnapshot | undefined,
  input: CallModelInput,
  ref: AttemptRef,
): Promise<boolean> {
  // (A snapshot comes from `health`: without it there is none.)
  if (snap?.status !== 'half-open' || !health) return false;
  if (await health.requestProbe(input.modelId)) return true;
  await withdrawAttempt(db, ref);
  throw failure('BreakerOpen', `${input.modelId}: breaker half-open and its probe is taken`, whoOf(input));
}
