/**
 * `callModel`: one provider call attempt, on the provider's own task queue, as a pipeline of
 * steps (each in `callSteps/`, each testable without a worker):
 *
 *   admit            the bulkhead, the catalog, a stream already begun, the breaker (`admit.ts`)
 *   reserve, record  the budget's worst case reserved and the attempt on record, one round trip (`reserve.ts`)
 *   confirm          a cancelled batch, a half-open breaker's probe slot (`confirm.ts`)
 *   rate gate        the provider's tpm minute; the wait on record (`rateGate.ts`)
 *   invoke           the adapter, streamed through the relay when asked (`invoke.ts`)
 *   settle           success, invalid output, provider failure or interrupted stream (`settle.ts`)
 *
 * A step that refuses after the attempt is on record withdraws it (`withdrawAttempt`); every
 * outcome is recorded with the reservation closed in one transaction (`finishAttempt`). The
 * answer is stored in Postgres; only usage and cost are returned.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { CallModelInput, CallModelResult } from '../src/domain/request';
import type { ActivityDeps } from './deps';
import { Bulkhead, carriedAnswer, checkBreaker, resolveTarget, resumeIfStarted } from './callSteps/admit';
import { callContextOf, type Call } from './callSteps/call';
import * as requests from '../src/db/requests';
import { checkBatch, takeProbe } from './callSteps/confirm';
import { DEFAULT_STREAM_LIMITS, heartbeating, invoke, malformedSkipped, openStream } from './callSteps/invoke';
import { takeTurn } from './callSteps/rateGate';
import { reserveAndRecord, startedAttempt } from './callSteps/reserve';
import { settleAnswer, settleFailure } from './callSteps/settle';
import { inProviderSpan, noteAnswer } from './callSteps/span';
import type { CallOutput } from './providerCall';

export { DEFAULT_STREAM_LIMITS };

export function createCallModelActivity(deps: ActivityDeps) {
  const bulkhead = new Bulkhead(deps.maxConcurrentCalls ?? 100);

  /**
   * The attempt reserved and on record, under Temporal's attempt number. A local activity rerun
   * after its worker died starts again at attempt 1, a number that run already used: then it takes
   * the next free one (one more statement, only then).
   */
  async function putOnRecord(input: CallModelInput, attempt: number, local: boolean, startedAt: Date) {
    let started = startedAttempt(input, attempt, startedAt);
    for (let tries = 0; ; tries++) {
      const out = await reserveAndRecord(deps.db, deps.config().config, input, started, startedAt, local);
      if (!('taken' in out)) return { started, ...out };
      if (tries >= 3) throw new Error(`attempt ${started.attempt} of ${input.requestId} is already on record`);
      const next = await requests.nextLocalAttempt(deps.db, input.requestId, input.candidateIndex, attempt);
      started = startedAttempt(input, next, startedAt);
    }
  }

  async function attemptCall(input: CallModelInput): Promise<CallModelResult> {
    const context = Context.current();
    const ctx = callContextOf(context);
    const target = resolveTarget(deps.config().config.catalog, input);
    const adapter = await deps.adapters.get(target.provider);
    const relay = input.stream ? deps.relay : undefined;
    const resumed = relay && (await resumeIfStarted(deps.db, relay, input));
    if (resumed) return resumed;
    // Continuing a broken stream (issue 29): the answer so far, read from the relay.
    const continuing =
      relay && input.continueFrom && (await carriedAnswer(relay, { ...input, continueFrom: input.continueFrom }));
    const breaker = await checkBreaker(deps.health, input);
    // A local attempt (the fast path) retried as the deadline passes: the deadline's timer could not
    // stop it (its workflow task is still open), so it stops here, before anything is on record.
    if (input.deadlineAt !== undefined && Date.now() >= input.deadlineAt)
      throw ApplicationFailure.create({
        type: 'DeadlineExceeded',
        message: `${input.modelId}: the request deadline passed before this attempt`,
        nonRetryable: true,
      });

    const startedAt = new Date();
    const { started, ref, request } = await putOnRecord(input, ctx.info.attempt, context.info.isLocal, startedAt);

    await checkBatch(deps.db, input, ref);
    const probe = await takeProbe(deps.db, deps.health, breaker, input, ref);
    // Rate limits: the wait in the provider's queue (rpm, server-side), then this minute's tokens (tpm).
    const tokens = await takeTurn(deps, ctx, input, target, request, startedAt, ref);

    return heartbeating(ctx, async () => {
      const stream = relay && openStream(relay, input, started.attempt, continuing || undefined);
      const call: Call = { input, model: target.model, request, ref, started, startedAt, probe, stream, tokens };
      // Traced: the provider's part in a span of its own (GenAI conventions), with its failure's type.
      return inProviderSpan(target, call, context.info.isLocal, async (span) => {
        let out: CallOutput;
        try {
          out = await invoke(adapter, call, ctx.cancellationSignal, deps.streamLimits ?? DEFAULT_STREAM_LIMITS, (e) =>
            malformedSkipped(deps.metrics, call, e),
          );
        } catch (err) {
          // These two end an attempt that is already settled: passed on as they are (no adapter throws them today).
          if (err instanceof ApplicationFailure && (err.type === 'InvalidOutput' || err.type === 'StreamInterrupted'))
            throw err;
          throw await settleFailure(deps, call, err, ctx.cancellationSignal.aborted);
        }
        noteAnswer(span, out);
        // The provider answered: a failure from here on is ours (the database), not the provider's;
        // Temporal retries the call, and the breaker hears nothing more.
        return settleAnswer(deps, call, out);
      });
    });
  }

  return {
    /**
     * One provider call (on the workflow's task queue, or its provider's: see `callQueues`),
     * within this process's per-provider limit. Heartbeats while it waits, so a
     * dead worker is noticed quickly; records its own attempt; stores the answer in Postgres and
     * returns only usage and cost, so history stays small.
     */
    async callModel(input: CallModelInput): Promise<CallModelResult> {
      return bulkhead.run(input.provider, () => attemptCall(input));
    },
  };
}
