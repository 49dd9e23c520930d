/**
 * Settlement: the attempt's outcome recorded and its reservation closed (`finishAttempt`), the
 * breaker and metrics told, the stream ended. Four ends: a success (which completes the request),
 * an answer that fails its checks (invalid output), a provider failure, and a stream that broke
 * after the client got part of it (interrupted: no fallback can mend that).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Db, Queryable } from '../../src/db';
import { listAttempts } from '../../src/db/requests';
import { writePin } from '../../src/db/sessionPins';
import { continuedLine } from '../../src/domain/continuation';
import { healthFailureType } from '../../src/domain/breaker';
import { costUsd } from '../../src/domain/catalog';
import { DEFAULT_SESSION_TTL_SECONDS, sessionsOf } from '../../src/domain/config';
import type { CallModelResult } from '../../src/domain/request';
import { countMessageTokens, countTokens } from '../../src/domain/tokens';
import { failure, toProviderFailure, type ProviderFailureDetails } from '../../src/providers/errors';
import { finishRequest, reportAbandoned } from '../../src/services/attempts';
import type { VersionedConfig } from '../../src/services/configStore';
import type { HealthPort } from '../../src/services/healthPort';
import { noteSwallowed, type Metrics } from '../../src/services/metrics';
import type { CallOutput } from '../providerCall';
import { messagesOf } from '../storedRequest';
import type { StreamOut } from '../streamOut';
import { recordOf, whoOf, type Call } from './call';
import { finishAttempt } from './transactions';

export interface SettleDeps {
  db: Db;
  health?: HealthPort;
  metrics?: Metrics;
  /** The configuration now: a session's pin lifetime (absent: sessions' defaults). */
  config?: () => VersionedConfig;
}

/** What an answered or broken call used: its tokens and their cost. */
export interface Spent {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

type Answer = Extract<CallOutput, { invalid?: undefined }>;

/** A stream that broke after the client got part of it: no fallback can mend that. */
export function streamInterrupted(chunks: number, why: string, more: { takeOver?: true } = {}): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'StreamInterrupted',
    message: `interrupted after ${chunks} chunks: ${why}`,
    nonRetryable: true,
    details: [{ chunks, ...more }],
  });
}

const sinceStart = (call: Pick<Call, 'startedAt'>) => Date.now() - call.startedAt.getTime();

/**
 * The provider answered: healthy, even if the answer fails its checks. A valid answer completes
 * the request; an invalid one ends the attempt as `InvalidOutput` (thrown). A failure from here on
 * is ours (the database), not the provider's: the caller lets Temporal retry it, and the breaker
 * hears nothing more.
 */
export async function settleAnswer(deps: SettleDeps, call: Call, out: CallOutput): Promise<CallModelResult> {
  const { input } = call;
  call.tokens?.settle(out.usage.inputTokens + out.usage.outputTokens);
  await call.stream?.flush();
  const latencyMs = sinceStart(call);
  // A continuation ended without a call (its client held the whole cap) says nothing of the provider.
  if (!out.usage.notCalled) {
    deps.health?.report(input.modelId, { ok: true, latencyMs, probe: call.probe });
    deps.metrics?.providerSeconds.observe(
      { provider: input.provider, model: input.modelId, outcome: 'success' },
      latencyMs / 1000,
    );
  }
  const spent: Spent = {
    inputTokens: out.usage.inputTokens,
    outputTokens: out.usage.outputTokens,
    costUsd: costUsd(call.model, out.usage.inputTokens, out.usage.outputTokens),
  };
  if (out.invalid !== undefined) throw await settleInvalid(deps.db, call, out.invalid, spent, latencyMs);
  return settleSuccess(deps, call, out, spent, latencyMs);
}

/**
 * A continued answer's usage (issue 29): every attempt's recorded tokens, the broken streams'
 * and the continuation's (this attempt is on record already), as its cost is every attempt's.
 */
async function continuedUsage(
  tx: Queryable,
  requestId: string,
): Promise<{ inputTokens: number; outputTokens: number }> {
  const attempts = await listAttempts(tx, requestId);
  return {
    inputTokens: attempts.reduce((n, a) => n + (a.inputTokens ?? 0), 0),
    outputTokens: attempts.reduce((n, a) => n + (a.outputTokens ?? 0), 0),
  };
}

/** A continued answer's notes on its row: the workflow's line, and why nothing was called if so. */
function continuedNotes(input: Call['input'], chunks: number, notCalled?: true): string[] {
  return [
    continuedLine(chunks, input.modelId),
    ...(notCalled ? [`the client already held its max_tokens: ended as length without calling ${input.modelId}`] : []),
  ];
}

/**
 * The answer is the request's: stored, and the request completed in the attempt's own
 * transaction, so the workflow needs no further activity (and a retried task finds it done).
 * A continuation's totals (the request's row, the stream's usage, the result) cover every
 * attempt, and its row notes "continued after N pieces on X", as the workflow's result does.
 */
export async function settleSuccess(
  deps: Pick<SettleDeps, 'db' | 'health' | 'config'>,
  call: Call,
  out: Answer,
  spent: Spent,
  latencyMs: number,
): Promise<CallModelResult> {
  const { input } = call;
  const continued = call.stream !== undefined && call.stream.carried > 0;
  let usage = { inputTokens: out.usage.inputTokens, outputTokens: out.usage.outputTokens };
  const { attempts, abandoned } = (await finishAttempt(
    deps.db,
    call.ref,
    { ...recordOf(call), ...spent, outcome: 'success', latencyMs },
    async (tx) => {
      if (continued) usage = await continuedUsage(tx, input.requestId);
      return finishRequest(tx, input.requestId, {
        status: 'succeeded',
        response: out.stored,
        provider: input.provider,
        model: input.modelId,
        ...usage,
        latencyMs: Date.now() - call.request.createdAt,
        ...(continued &&
          input.continueFrom && { notes: continuedNotes(input, input.continueFrom.chunks, out.usage.notCalled) }),
      });
    },
  ))!;
  reportAbandoned(deps.health, abandoned);
  await pinSession(deps, call);
  await call.stream?.end({ finishReason: out.usage.finishReason, ...usage });
  return {
    providerModel: out.usage.providerModel,
    finishReason: out.usage.finishReason,
    ...usage,
    costUsd: spent.costUsd,
    latencyMs,
    attempts,
  };
}

/**
 * A request of a session: the model that answered becomes the session's pin (one upsert, after the
 * answer is committed), for its provider's prompt-cache lifetime. Best effort: a pin not written
 * costs the next request of the session its cache, not this one its answer.
 */
async function pinSession(deps: Pick<SettleDeps, 'db' | 'config'>, call: Call): Promise<void> {
  const session = call.request.session;
  if (!session || !call.request.tenantId) return;
  const config = deps.config?.().config;
  const sessions = config ? sessionsOf(config) : undefined;
  if (sessions && !sessions.enabled) return;
  const provider = config?.catalog.providers.find((p) => p.id === call.input.provider);
  const ttlSeconds = provider?.promptCacheTtlSeconds ?? sessions?.ttlSeconds ?? DEFAULT_SESSION_TTL_SECONDS;
  await writePin(deps.db, {
    tenantId: call.request.tenantId,
    sessionKey: session,
    provider: call.input.provider,
    modelId: call.input.modelId,
    ttlSeconds,
  }).catch((err: unknown) =>
    noteSwallowed(
      'session_pin_write',
      err,
      { requestId: call.input.requestId, provider: call.input.provider, model: call.input.modelId },
      "a session's pin was not written (its next request may lose the provider's prompt cache)",
    ),
  );
}

/** An answer that fails its checks: paid for, recorded as `InvalidOutput`; returns the failure to throw. */
export async function settleInvalid(
  db: Db,
  call: Call,
  why: string,
  spent: Spent,
  latencyMs: number,
): Promise<ApplicationFailure> {
  if (call.stream && call.stream.own > 0) return endInterrupted(db, call, call.stream, why, 'InvalidOutput', spent);
  await finishAttempt(db, call.ref, {
    ...recordOf(call),
    ...spent,
    outcome: 'error',
    errorType: 'InvalidOutput',
    errorMessage: why,
    latencyMs,
  });
  return failure('InvalidOutput', why, whoOf(call.input));
}

/**
 * The provider failed (or the call was cancelled: `cancelled`, when the request's own deadline
 * passed). Returns the failure to throw, after the attempt is on record.
 */
export async function settleFailure(
  deps: SettleDeps,
  call: Call,
  err: unknown,
  cancelled: boolean,
): Promise<ApplicationFailure> {
  const { input } = call;
  const f = toProviderFailure(err, input.provider, input.model);
  // A failed call is not counted against the minute (its provider charged nothing we know of).
  call.tokens?.settle(0);
  const details = f.details?.[0] as ProviderFailureDetails | undefined;
  const errorType = cancelled ? 'Cancelled' : (f.type ?? 'Unknown');
  deps.metrics?.providerSeconds.observe(
    { provider: input.provider, model: input.modelId, outcome: errorType },
    sinceStart(call) / 1000,
  );
  // A cancelled call says nothing about the provider, so the breaker does not hear of it (one
  // tenant's short deadlines must not open a shared breaker).
  if (!cancelled) {
    // The type and status only: the breaker is shared by every tenant, and a provider's error
    // text can echo what it was sent.
    deps.health?.report(input.modelId, {
      ok: false,
      type: healthFailureType(f.type ?? 'Unknown'),
      message: `${f.type ?? 'Unknown'}${details?.status ? ` (HTTP ${details.status})` : ''}`,
      latencyMs: sinceStart(call),
      probe: call.probe,
    });
  }
  // A continuation refused before its first piece (a prefill it does not take) is its own plain
  // failure: the stream stays as the broken call left it, and the original error stands.
  if (call.stream && call.stream.own > 0)
    return endInterrupted(
      deps.db,
      call,
      call.stream,
      f.message,
      errorType,
      streamedSpend(call, call.stream.answer, { content: call.stream.carriedContent }),
      details?.status,
    );
  await finishAttempt(deps.db, call.ref, {
    ...recordOf(call),
    outcome: 'error',
    errorType,
    errorMessage: f.message,
    status: details?.status,
    latencyMs: sinceStart(call),
  });
  return f;
}

/** What a broken stream used, for its attempt and the budget: the provider reported none. */
export function streamedSpend(
  call: Pick<Call, 'model' | 'request'>,
  a: StreamOut['answer'],
  carried: Pick<StreamOut['answer'], 'content'> = { content: '' },
): Spent {
  // A continuation was sent the text it carried (input) and produced only the rest (output).
  const inputTokens = countMessageTokens(messagesOf(call.request)) + countTokens(carried.content);
  const outputTokens = countTokens(
    a.content.slice(carried.content.length) + a.toolCalls.map((c) => c?.function.arguments).join(''),
  );
  return { inputTokens, outputTokens, costUsd: costUsd(call.model, inputTokens, outputTokens) };
}

/**
 * Ends a stream that broke after its first piece: on record first (the attempt, the budget settled
 * on what was sent), then the error event to the client. Returns the failure to throw.
 */
export async function endInterrupted(
  db: Db,
  call: Call,
  stream: StreamOut,
  why: string,
  errorType: string,
  spent: Spent,
  status?: number,
): Promise<ApplicationFailure> {
  const f = streamInterrupted(stream.answer.chunks, why);
  await finishAttempt(db, call.ref, {
    ...recordOf(call),
    ...spent,
    outcome: 'error',
    errorType: 'StreamInterrupted',
    errorMessage: `${f.message} (${errorType})`,
    status,
    latencyMs: sinceStart(call),
  });
  // A later candidate may continue the stream (issue 29): it stays open for it, and the
  // workflow's ending tells the client if none does.
  if (!call.input.continuable) await stream.error(f.message);
  else await stream.flush();
  return f;
}
