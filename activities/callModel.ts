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
import { costUsd, findModel, rateLimitWaitOf, type Model, type Provider } from '../src/domain/catalog';
import { ChatCompletionRequestSchema, maxOutputTokens } from '../src/domain/chat';
import { DEFAULT_OUTPUT_TOKENS } from '../src/domain/limits';
import type { Queryable } from '../src/db';
import type { StoredBody } from '../src/db/requests';
import { type AttemptRecord, type CallModelInput, type CallModelResult } from '../src/domain/request';
import { toProviderFailure, failure, type ProviderFailureDetails } from '../src/providers/errors';
import { finishRequest, reportAbandoned } from '../src/services/attempts';
import { closeCall, reserveCall } from '../src/services/budgetOperations';
import type { ActivityDeps } from './deps';
import type { StreamRelay } from '../src/services/streamRelay';
import { batchCancelled } from '../src/db/batches';
import { callProvider, type StreamHooks } from './providerCall';
import { messagesOf, storedRequestOf, type StoredRequest } from './storedRequest';
import { senderOf, STREAM_CALL_MAX_MS } from '../src/domain/stream';
import { getAnswer, listAttempts } from '../src/db/requests';
import { StreamOut } from './streamOut';
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

  /**
   * Waits for the call's turn under its provider's rate limits, up to the provider's bound. The
   * rpm wait already happened (in the provider's task queue: the time from scheduled to started);
   * a `tpm` limit takes this minute's tokens in Postgres, shared by every worker, or waits for
   * the next minute. Refused past the bound: `refuse` (forget the attempt), then `RateLimited`
   * (the workflow falls back). The wait goes on the attempt's record.
   */
  async function takeTurn(
    input: CallModelInput,
    provider: Provider,
    model: Model,
    r: StoredRequest,
    startedAt: Date,
    refuse: () => Promise<void>,
  ): Promise<{ settle(actual: number): void } | undefined> {
    const bound = rateLimitWaitOf(provider);
    if (bound === undefined) return undefined;
    const ctx = Context.current();
    let queuedMs = Math.max(0, startedAt.getTime() - ctx.info.currentAttemptScheduledTimestampMs);
    let taken: { minute: Date; estimate: number } | undefined;
    if (provider.tpm !== undefined) {
      const cap = r.operation === 'chat' ? maxOutputTokens(ChatCompletionRequestSchema.parse(r.body)) : undefined;
      const estimate =
        countMessageTokens(messagesOf(r)) + Math.min(model.maxOutputTokens, cap ?? DEFAULT_OUTPUT_TOKENS);
      const gateStart = Date.now();
      for (;;) {
        const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000);
        if (await requests.takeTokens(deps.db, provider.id, minute, estimate, provider.tpm)) {
          taken = { minute, estimate };
          break;
        }
        const next = minute.getTime() + 60_000;
        if (next - gateStart > bound) {
          await refuse();
          throw failure(
            'RateLimited',
            `${provider.id}: its tpm limit (${provider.tpm}) has no room for ${estimate} more tokens this minute, and the next is past the ${bound} ms wait`,
            { provider: input.provider, model: input.model },
          );
        }
        // Heartbeats while it waits (the call's heartbeat timeout is shorter than a minute).
        while (Date.now() < next) {
          ctx.heartbeat();
          await ctx.sleep(Math.min(2_000, next - Date.now() + 5));
        }
      }
      queuedMs += Date.now() - gateStart;
    }
    await requests.setQueued(deps.db, input.requestId, input.candidateIndex, ctx.info.attempt, queuedMs);
    deps.metrics?.rateLimitWaitSeconds.observe({ provider: provider.id }, queuedMs / 1000);
    return {
      settle: (actual) => {
        if (taken)
          void requests
            .adjustTokens(deps.db, provider.id, taken.minute, actual - taken.estimate)
            .catch(() => undefined);
      },
    };
  }

  /**
   * A streamed call finding its request's stream already begun. The answer stored (the earlier
   * call finished but its end never reached the relay or Temporal): end the stream normally and
   * return it. Otherwise the stream broke mid-way: an error event, and no fallback.
   */
  async function resumeStarted(input: CallModelInput, relay: StreamRelay, sent: number): Promise<CallModelResult> {
    const [row, attempts] = await Promise.all([
      getAnswer(deps.db, input.requestId),
      listAttempts(deps.db, input.requestId),
    ]);
    const won = attempts.find((a) => a.outcome === 'success');
    const stored = row?.response as { finishReason: string; providerModel: string } | undefined;
    if (stored && won && row?.model) {
      const ended = {
        finishReason: stored.finishReason,
        inputTokens: won.inputTokens ?? 0,
        outputTokens: won.outputTokens ?? 0,
      };
      await new StreamOut(relay, input.requestId, row.model, senderOf(won.candidateIndex, won.attempt)).end(ended);
      return {
        ...ended,
        providerModel: stored.providerModel,
        costUsd: won.costUsd ?? 0,
        latencyMs: won.latencyMs ?? 0,
        attempts,
      };
    }
    const f = streamInterrupted(sent, `the call streaming it stopped (its worker died or its attempt was given up)`);
    await relay
      .publish(input.requestId, { type: 'error', errorType: 'StreamInterrupted', message: f.message, chunks: sent })
      .catch(() => undefined);
    throw f;
  }

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
    const adapter = await deps.adapters.get(provider);
    const relay = input.stream ? deps.relay : undefined;
    // A streamed call whose request's stream already began: an earlier call of it was cut off
    // (its worker died, or its attempt was given up). Its client holds part of an answer, and a
    // second stream would be spliced onto it: end the stream (or finish it, if the answer is stored).
    if (relay) {
      const sent = await relay.count(input.requestId).catch(() => 0);
      if (sent > 0) return resumeStarted(input, relay, sent);
    }
    // The breaker, checked again at call time (the decision may be a second old): an open one
    // fails fast without a call; a half-open one admits this call only as its probe.
    let probe = false;
    const snap = deps.health ? await deps.health.snapshot(input.modelId) : undefined;
    if (snap?.status === 'open')
      throw failure(
        'BreakerOpen',
        `${input.modelId}: breaker open ${snap.openUntil ? `until ${snap.openUntil}` : 'until an operator closes it'}`,
        {
          provider: input.provider,
          model: input.model,
        },
      );
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
            ttlMs: (input.stream ? STREAM_CALL_MAX_MS : input.timeoutMs) + RESERVATION_MARGIN_MS,
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
    // Rate limits: the wait in the provider's queue (rpm, server-side), then this minute's tokens (tpm).
    const tokens = await takeTurn(input, provider, model, r, startedAt, async () => {
      await deps.db.transaction(async (tx) => {
        await requests.forgetAttempt(tx, input.requestId, input.candidateIndex, ctx.info.attempt);
        if (reservation) await budgets.release(tx, reservation);
      });
    });
    const heartbeat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
    // Streaming: each piece goes to the relay as it comes.
    const stream =
      relay && new StreamOut(relay, input.requestId, input.modelId, senderOf(input.candidateIndex, ctx.info.attempt));
    const hooks: StreamHooks | undefined = stream && {
      limits: deps.streamLimits ?? DEFAULT_STREAM_LIMITS,
      onDelta: (d) => stream.delta(d),
    };
    /** What a broken stream used, for its attempt and the budget: the provider reported none. */
    const streamedSpend = (a: StreamOut['answer']) => {
      const inputTokens = countMessageTokens(messagesOf(r));
      const outputTokens = countTokens(a.content + a.toolCalls.map((c) => c?.function.arguments).join(''));
      return { inputTokens, outputTokens, costUsd: costUsd(model, inputTokens, outputTokens) };
    };
    /**
     * Ends a stream that broke after its first piece: on record first (the attempt, the budget
     * settled on what was sent), then the error event to the client.
     */
    const endInterrupted = async (s: StreamOut, why: string, errorType: string, spent: object, status?: number) => {
      const f = streamInterrupted(s.answer.chunks, why);
      await finish({
        ...attempt,
        ...spent,
        outcome: 'error',
        errorType: 'StreamInterrupted',
        errorMessage: `${f.message} (${errorType})`,
        status,
        latencyMs: Date.now() - startedAt.getTime(),
      });
      await s.error(f.message);
      return f;
    };
    // Set once the provider has answered: a failure after that is ours (the database), not the provider's.
    let answered = false;
    try {
      const out = await callProvider(
        adapter,
        model,
        r,
        // A stream is bounded by its first-token and idle limits (the call's timeout caps the first token).
        { signal: ctx.cancellationSignal, timeoutMs: stream ? STREAM_CALL_MAX_MS : input.timeoutMs },
        input.budget !== undefined,
        hooks && {
          ...hooks,
          limits: { ...hooks.limits, firstTokenMs: Math.min(hooks.limits.firstTokenMs, input.timeoutMs) },
        },
      );
      answered = true;
      tokens?.settle(out.usage.inputTokens + out.usage.outputTokens);
      await stream?.flush();
      const latencyMs = Date.now() - startedAt.getTime();
      // The endpoint answered: healthy, even if the answer fails its schema.
      deps.health?.report(input.modelId, { ok: true, latencyMs, probe });
      deps.metrics?.providerSeconds.observe(
        { provider: input.provider, model: input.modelId, outcome: 'success' },
        latencyMs / 1000,
      );
      const cost = costUsd(model, out.usage.inputTokens, out.usage.outputTokens);
      const spent = { inputTokens: out.usage.inputTokens, outputTokens: out.usage.outputTokens, costUsd: cost };
      if (out.invalid !== undefined) {
        if (stream && stream.answer.chunks > 0) throw await endInterrupted(stream, out.invalid, 'InvalidOutput', spent);
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
      await stream?.end({
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
      // The provider answered and our own step failed (the database): Temporal retries the call,
      // and the breaker hears nothing (the endpoint was fine).
      if (answered) throw err;
      const f = toProviderFailure(err, input.provider, input.model);
      // A failed call is not counted against the minute (its provider charged nothing we know of).
      tokens?.settle(0);
      const details = f.details?.[0] as ProviderFailureDetails | undefined;
      // Cancelled because the request's own deadline passed: says nothing about the provider, so
      // the breaker does not hear of it (one tenant's short deadlines must not open a shared breaker).
      const cancelled = ctx.cancellationSignal.aborted;
      deps.metrics?.providerSeconds.observe(
        { provider: input.provider, model: input.modelId, outcome: cancelled ? 'Cancelled' : (f.type ?? 'Unknown') },
        (Date.now() - startedAt.getTime()) / 1000,
      );
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
      if (stream && stream.answer.chunks > 0)
        throw await endInterrupted(
          stream,
          f.message,
          cancelled ? 'Cancelled' : (f.type ?? 'Unknown'),
          streamedSpend(stream.answer),
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
