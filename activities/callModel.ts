/**
 * `callModel`: one provider call attempt, on the provider's own task queue. Checks the breaker,
 * reserves the budget's worst case, calls, and records the attempt and settles the reservation
 * in one transaction; stores the answer in Postgres and returns only usage and cost.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import * as budgets from '../src/db/budgetLedger';
import * as requests from '../src/db/requests';
import { reservationIdOf } from '../src/domain/budget';
import { costUsd, findModel } from '../src/domain/catalog';
import type { Queryable } from '../src/db';
import type { StoredBody } from '../src/db/requests';
import { type AttemptRecord, type CallModelInput, type CallModelResult } from '../src/domain/request';
import { toProviderFailure, failure, type ProviderFailureDetails } from '../src/providers/errors';
import { finishRequest, reportAbandoned } from '../src/services/attempts';
import { closeCall, reserveCall } from '../src/services/budgetOperations';
import type { ActivityDeps } from './deps';
import { batchCancelled } from '../src/db/batches';
import { callProvider, type StreamHooks } from './providerCall';
import { messagesOf, storedRequestOf } from './storedRequest';
import { addDelta, emptyAnswer } from '../src/domain/stream';
import { countMessageTokens, countTokens } from '../src/domain/tokens';

const HEARTBEAT_EVERY_MS = 2_000;
const FOREIGN_KEY_VIOLATION = '23503';
// A reservation outlives its call by this much before the budget workflow expires it.
const RESERVATION_MARGIN_MS = 60_000;
/** Stream limits when the worker sets none (SWITCHYARD_STREAM_FIRST_TOKEN_MS, SWITCHYARD_STREAM_IDLE_MS). */
export const DEFAULT_STREAM_LIMITS = { firstTokenMs: 20_000, idleMs: 30_000 };

/** A stream that broke after the client got part of it: no fallback can mend that. */
function streamInterrupted(chunks: number, why: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'StreamInterrupted',
    message: `interrupted after ${chunks} chunks: ${why}`,
    nonRetryable: true,
    details: [{ chunks }],
  });
}

export function createCallModelActivity(deps: ActivityDeps) {
  // The bulkhead: calls in flight per provider in this process. When provider calls share the
  // workflow's task queue, this keeps a hung provider from taking every activity slot.
  const inFlight = new Map<string, number>();
  const cap = deps.maxConcurrentCalls ?? 100;

  async function attemptCall(input: CallModelInput): Promise<CallModelResult> {
    const ctx = Context.current();
    const catalog = deps.config().config.catalog;
    const provider = catalog.providers.find((p) => p.id === input.provider);
    const model = findModel(catalog, input.modelId);
    if (!provider || !model)
      throw failure('NotFound', `model '${input.modelId}' left the catalog`, {
        provider: input.provider,
        model: input.model,
      });
    const adapter = deps.adapters.get(provider);
    const relay = input.stream ? deps.relay : undefined;
    // A retried streaming call whose stream already began (its worker died mid-stream): the client
    // has part of an answer, and a second stream would be spliced onto it. End it with an error.
    if (relay && ctx.info.attempt > 1) {
      const sent = await relay.count(input.requestId);
      if (sent > 0) {
        const f = streamInterrupted(sent, `the worker streaming from ${input.modelId} stopped`);
        await relay.publish(input.requestId, {
          type: 'error',
          errorType: 'StreamInterrupted',
          message: f.message,
          chunks: sent,
        });
        throw f;
      }
    }
    // The breaker, checked again at call time (the decision may be a second old): an open one
    // fails fast without a call; a half-open one admits this call only as its probe.
    let probe = false;
    const snap = deps.health ? await deps.health.snapshot(input.modelId) : undefined;
    if (snap?.status === 'open')
      throw failure('BreakerOpen', `${input.modelId}: breaker open until ${snap.openUntil}`, {
        provider: input.provider,
        model: input.model,
      });
    const startedAt = new Date();
    const attempt = {
      candidateIndex: input.candidateIndex,
      attempt: ctx.info.attempt,
      provider: input.provider,
      model: input.model,
      startedAt: startedAt.toISOString(),
    };
    // The attempt goes on record as started before the call: if this worker dies mid-call, it
    // stays visible (and is marked abandoned when the request completes). The same round trip
    // reads the prompt and, under a budget, reserves the worst case first, one reservation per
    // call attempt (a retried task of the same attempt finds its own). Refused: no call and no
    // attempt; a cheaper candidate may still fit.
    let reservation: string | undefined;
    let stored: StoredBody | undefined;
    try {
      if (input.budget) {
        const held = await reserveCall(
          deps.db,
          deps.config().config,
          {
            id: reservationIdOf(input.requestId, input.candidateIndex, ctx.info.attempt),
            tenantId: input.budget.tenantId,
            userId: input.budget.userId,
            amountUsd: input.budget.reserveUsd,
            ttlMs: input.timeoutMs + RESERVATION_MARGIN_MS,
            now: startedAt.getTime(),
          },
          { requestId: input.requestId, attempt },
        );
        if (!held.ok) {
          throw ApplicationFailure.create({
            type: 'BudgetExceeded',
            message: `${input.modelId}: ${held.message}`,
            nonRetryable: true,
            details: [{ provider: input.provider, model: input.model, budget: held.window }],
          });
        }
        reservation = held.id;
        stored = held.request;
      }
      // No budget applies (or no row came back with the reservation): start it on its own.
      stored ??= await requests.startAttempt(deps.db, input.requestId, attempt);
    } catch (err) {
      // No request row for the attempt to reference: the request is not in the database.
      if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) storedRequestOf(input.requestId, undefined);
      throw err;
    }
    const r = storedRequestOf(input.requestId, stored);
    // A batch's call: checked after the attempt is on record, so a cancel that waits for the
    // batch's started attempts to end has either seen this one or is seen by it (no call after).
    if (input.batchId !== undefined && (await batchCancelled(deps.db, input.batchId))) {
      await deps.db.transaction(async (tx) => {
        await requests.forgetAttempt(tx, input.requestId, input.candidateIndex, ctx.info.attempt);
        if (reservation) await budgets.release(tx, reservation);
      });
      throw ApplicationFailure.create({
        type: 'BatchCancelled',
        message: `batch ${input.batchId} was cancelled`,
        nonRetryable: true,
      });
    }
    // The probe slot only once the budget admits the call: a refused call must not take it.
    if (snap?.status === 'half-open') {
      probe = await deps.health!.requestProbe(input.modelId);
      if (!probe) {
        await deps.db.transaction(async (tx) => {
          await requests.forgetAttempt(tx, input.requestId, input.candidateIndex, ctx.info.attempt);
          if (reservation) await budgets.release(tx, reservation);
        });
        throw failure('BreakerOpen', `${input.modelId}: breaker half-open and its probe is taken`, {
          provider: input.provider,
          model: input.model,
        });
      }
    }
    // One transaction: the attempt's recorded cost and the ledger's spend cannot disagree.
    // `then` runs inside it too (a success completes the request in the same commit).
    const finish = <T>(a: AttemptRecord, then?: (tx: Queryable) => Promise<T>) =>
      deps.db.transaction(async (tx) => {
        await requests.recordAttempt(tx, input.requestId, a);
        if (reservation) await closeCall(tx, reservation, a.costUsd ?? 0);
        return then?.(tx);
      });
    const heartbeat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
    // Streaming: each piece goes to the relay as it comes (in order; awaited before the end).
    const answer = emptyAnswer();
    let published: Promise<unknown> = Promise.resolve();
    const hooks: StreamHooks | undefined = relay && {
      limits: deps.streamLimits ?? DEFAULT_STREAM_LIMITS,
      onDelta: (d) => {
        addDelta(answer, d);
        const sent = relay.publish(input.requestId, { type: 'delta', model: input.modelId, ...d });
        published = Promise.all([published, sent]);
        published.catch(() => undefined);
      },
    };
    /** What a broken stream used, for its attempt and the budget: the provider reported none. */
    const streamedSpend = () => {
      const inputTokens = countMessageTokens(messagesOf(r));
      const outputTokens = countTokens(answer.content + answer.toolCalls.map((c) => c?.function.arguments).join(''));
      return { inputTokens, outputTokens, costUsd: costUsd(model, inputTokens, outputTokens) };
    };
    /** Ends a stream that broke after its first piece: an error event to the client, on record. */
    const endInterrupted = async (why: string, errorType: string, spent: object, status?: number) => {
      const f = streamInterrupted(answer.chunks, why);
      await published.catch(() => undefined);
      await relay!.publish(input.requestId, {
        type: 'error',
        errorType: 'StreamInterrupted',
        message: f.message,
        chunks: answer.chunks,
      });
      await finish({
        ...attempt,
        ...spent,
        outcome: 'error',
        errorType: 'StreamInterrupted',
        errorMessage: `${f.message} (${errorType})`,
        status,
        latencyMs: Date.now() - startedAt.getTime(),
      });
      return f;
    };
    try {
      const out = await callProvider(
        adapter,
        model,
        r,
        { signal: ctx.cancellationSignal, timeoutMs: input.timeoutMs },
        input.budget !== undefined,
        hooks,
      );
      await published;
      const latencyMs = Date.now() - startedAt.getTime();
      // The endpoint answered: healthy, even if the answer fails its schema.
      deps.health?.report(input.modelId, { ok: true, latencyMs, probe });
      const cost = costUsd(model, out.usage.inputTokens, out.usage.outputTokens);
      const spent = { inputTokens: out.usage.inputTokens, outputTokens: out.usage.outputTokens, costUsd: cost };
      if (out.invalid !== undefined) {
        if (relay && answer.chunks > 0) throw await endInterrupted(out.invalid, 'InvalidOutput', spent);
        await finish({
          ...attempt,
          ...spent,
          outcome: 'error',
          errorType: 'InvalidOutput',
          errorMessage: out.invalid,
          latencyMs,
        });
        throw failure('InvalidOutput', out.invalid, { provider: input.provider, model: input.model });
      }
      // The answer is the request's: store it and complete the request in the attempt's own
      // transaction, so the workflow needs no further activity (and a retried task finds it done).
      const { attempts, abandoned } = (await finish({ ...attempt, ...spent, outcome: 'success', latencyMs }, (tx) =>
        finishRequest(tx, input.requestId, {
          status: 'succeeded',
          response: out.stored,
          provider: input.provider,
          model: input.modelId,
          inputTokens: out.usage.inputTokens,
          outputTokens: out.usage.outputTokens,
          latencyMs: Date.now() - r.createdAt,
        }),
      ))!;
      reportAbandoned(deps.health, abandoned);
      await relay?.publish(input.requestId, {
        type: 'end',
        model: input.modelId,
        finishReason: out.usage.finishReason,
        inputTokens: out.usage.inputTokens,
        outputTokens: out.usage.outputTokens,
      });
      return {
        providerModel: out.usage.providerModel,
        finishReason: out.usage.finishReason,
        inputTokens: out.usage.inputTokens,
        outputTokens: out.usage.outputTokens,
        costUsd: cost,
        latencyMs,
        attempts,
      };
    } catch (err) {
      if (err instanceof ApplicationFailure && (err.type === 'InvalidOutput' || err.type === 'StreamInterrupted'))
        throw err;
      const f = toProviderFailure(err, input.provider, input.model);
      const details = f.details?.[0] as ProviderFailureDetails | undefined;
      // Cancelled because the request's own deadline passed: says nothing about the provider, so
      // the breaker does not hear of it (one tenant's short deadlines must not open a shared breaker).
      const cancelled = ctx.cancellationSignal.aborted;
      if (!cancelled) {
        // The type and status only: the breaker is shared by every tenant, and a provider's
        // error text can echo what it was sent.
        deps.health?.report(input.modelId, {
          ok: false,
          type: f.type ?? 'Unknown',
          message: `${f.type ?? 'Unknown'}${details?.status ? ` (HTTP ${details.status})` : ''}`,
          latencyMs: Date.now() - startedAt.getTime(),
          probe,
        });
      }
      if (relay && answer.chunks > 0)
        throw await endInterrupted(
          f.message,
          cancelled ? 'Cancelled' : (f.type ?? 'Unknown'),
          streamedSpend(),
          details?.status,
        );
      await finish({
        ...attempt,
        outcome: 'error',
        errorType: cancelled ? 'Cancelled' : (f.type ?? 'Unknown'),
        errorMessage: f.message,
        status: details?.status,
        latencyMs: Date.now() - startedAt.getTime(),
      });
      throw f;
    } finally {
      clearInterval(heartbeat);
    }
  }

  return {
    /**
     * One provider call (on the workflow's task queue, or its provider's: see `callQueues`),
     * within this process's per-provider limit. Heartbeats while it waits, so a
     * dead worker is noticed quickly; records its own attempt; stores the answer in Postgres and
     * returns only usage and cost, so history stays small.
     */
    async callModel(input: CallModelInput): Promise<CallModelResult> {
      const busy = inFlight.get(input.provider) ?? 0;
      if (busy >= cap)
        throw ApplicationFailure.create({
          type: 'ProviderBusy',
          message: `${input.provider}: ${busy} calls in flight on this worker, its limit (SWITCHYARD_MAX_CONCURRENT_CALLS)`,
        });
      inFlight.set(input.provider, busy + 1);
      try {
        return await attemptCall(input);
      } finally {
        inFlight.set(input.provider, (inFlight.get(input.provider) ?? 1) - 1);
      }
    },
  };
}
