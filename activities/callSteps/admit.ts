/**
 * Admission, before anything goes on record: the process's bulkhead, the catalog's provider and
 * model, a streamed request whose stream already began, and the breaker.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Queryable } from '../../src/db';
import { getAnswer, listAttempts } from '../../src/db/requests';
import type { BreakerSnapshot } from '../../src/domain/breaker';
import { findModel, type Catalog } from '../../src/domain/catalog';
import type { CallModelInput, CallModelResult } from '../../src/domain/request';
import { answerSoFar, cannotCarry, deltasIn, type ContinueFrom } from '../../src/domain/continuation';
import { senderOf, type StreamAnswer } from '../../src/domain/stream';
import { readAnswer } from '../../src/domain/storedAnswer';
import { failure } from '../../src/providers/errors';
import type { HealthPort } from '../../src/services/healthPort';
import type { StreamRelay } from '../../src/services/streamRelay';
import { StreamOut } from '../streamOut';
import { whoOf, type Target } from './call';
import { streamInterrupted } from './settle';

/**
 * The bulkhead: calls in flight per provider in this process. When provider calls share the
 * workflow's task queue, this keeps a hung provider from taking every activity slot.
 */
export class Bulkhead {
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly cap: number) {}

  async run<T>(provider: string, call: () => Promise<T>): Promise<T> {
    const busy = this.inFlight.get(provider) ?? 0;
    if (busy >= this.cap)
      throw ApplicationFailure.create({
        type: 'ProviderBusy',
        message: `${provider}: ${busy} calls in flight on this worker, its limit (SWITCHYARD_MAX_CONCURRENT_CALLS)`,
      });
    this.inFlight.set(provider, busy + 1);
    try {
      return await call();
    } finally {
      this.inFlight.set(provider, (this.inFlight.get(provider) ?? 1) - 1);
    }
  }

  /** Calls in flight to `provider` now. */
  busy(provider: string): number {
    return this.inFlight.get(provider) ?? 0;
  }
}

/** The call's provider and model in the catalog now (the decision may be older than a change). */
export function resolveTarget(catalog: Catalog, input: CallModelInput): Target {
  const provider = catalog.providers.find((p) => p.id === input.provider);
  const model = findModel(catalog, input.modelId);
  if (!provider || !model) throw failure('NotFound', `model '${input.modelId}' left the catalog`, whoOf(input));
  return { provider, model };
}

/**
 * A streamed call whose request's stream already began: an earlier call of it was cut off (its
 * worker died, or its attempt was given up). Its client holds part of an answer, and a second
 * stream would be spliced onto it. The answer stored (the earlier call finished but its end never
 * reached the relay or Temporal): end the stream normally and return it. Otherwise the stream
 * broke mid-way: an error event, and no fallback. Undefined when no stream began.
 */
export async function resumeIfStarted(
  db: Queryable,
  relay: StreamRelay,
  input: CallModelInput,
): Promise<CallModelResult | undefined> {
  const sent = await piecesSent(relay, input);
  if (sent === 0) return undefined;
  const [row, attempts] = await Promise.all([getAnswer(db, input.requestId), listAttempts(db, input.requestId)]);
  const won = attempts.find((a) => a.outcome === 'success');
  const stored = row?.response ? readAnswer(row.response, 'chat') : undefined;
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
  const why = `the call streaming it stopped (its worker died or its attempt was given up)`;
  const f = streamInterrupted(sent, why);
  // An earlier candidate's call began it: this candidate may continue it itself (the stream stays open).
  const begun = input.takeOver && (await begunByEarlier(relay, input));
  if (begun) throw streamInterrupted(begun, why, { takeOver: true });
  // A later candidate may continue it (issue 29): the stream stays open for it.
  if (input.continuable) throw f;
  await relay
    .publish(input.requestId, { type: 'error', errorType: 'StreamInterrupted', message: f.message, chunks: sent })
    // Best effort on a failing path: the API learns the failure from the workflow anyway.
    .catch(() => undefined);
  throw f;
}

/**
 * Pieces the request's stream holds that this call must account for: any event at all for a call
 * that began the stream (today's check); for a continuing call, the pieces only once it took the
 * stream over (a retry of it after its worker died). Counted in deltas where a continuation may
 * follow, since that count is what the next call continues from.
 */
async function piecesSent(relay: StreamRelay, input: CallModelInput): Promise<number> {
  if (!input.continueFrom && !input.continuable) return relay.count(input.requestId).catch(() => 0);
  const events = await relay.read(input.requestId).catch(() => []);
  const mine = `${input.candidateIndex}.`;
  if (input.continueFrom && !events.some((e) => e.type === 'continued' && e.to.startsWith(mine))) return 0;
  return deltasIn(events);
}

/**
 * The pieces (deltas) of a stream begun by an earlier candidate's call, the last of them sent by
 * that call (not by this candidate's own earlier attempt); 0 otherwise.
 */
async function begunByEarlier(relay: StreamRelay, input: CallModelInput): Promise<number> {
  const events = await relay.read(input.requestId).catch(() => []);
  let last: string | undefined;
  for (const e of events) if (e.type === 'delta') last = e.from;
  if (last === undefined || last.startsWith(`${input.candidateIndex}.`)) return 0;
  return deltasIn(events);
}

/**
 * The answer a continuing call goes on from, read from the relay (the workflow passed only the
 * count), and the sender of its last piece. Throws `ContinuationImpossible` (not retried) when the
 * relay lost the pieces or they cannot be carried over (a tool call cut mid-way).
 */
export async function carriedAnswer(
  relay: StreamRelay,
  input: CallModelInput & { continueFrom: ContinueFrom },
): Promise<{ answer: StreamAnswer; from: string }> {
  const events = await relay.read(input.requestId);
  const so = answerSoFar(events, input.continueFrom.chunks);
  const why = so ? cannotCarry(so.answer) : `the relay no longer holds the ${input.continueFrom.chunks} pieces sent`;
  if (why || !so)
    throw ApplicationFailure.create({
      type: 'ContinuationImpossible',
      message: `cannot continue the stream: ${why}`,
      nonRetryable: true,
      details: [whoOf(input)],
    });
  return so;
}

/**
 * The breaker, checked again at call time (the decision may be a second old): an open one fails
 * fast without a call. Returns its snapshot: a half-open one admits the call only as its probe
 * (`takeProbe`, once the call is on record).
 */
export async function checkBreaker(
  health: HealthPort | undefined,
  input: CallModelInput,
): Promise<BreakerSnapshot | undefined> {
  const snap = health ? await health.snapshot(input.modelId) : undefined;
  if (snap?.status === 'open')
    throw failure(
      'BreakerOpen',
      `${input.modelId}: breaker open ${snap.openUntil ? `until ${snap.openUntil}` : 'until an operator closes it'}`,
      whoOf(input),
    );
  return snap;
}
