/**
 * The configured classifying model (`routing.classifier.llm`, issue 23), asked by the routing
 * decision about a prompt the trained classifier is unsure of. Its call goes through the worker's
 * adapter registry (the instance's key, base URL and kind, as any call), is skipped while the
 * model's breaker is not closed, tells the breaker how it went, and is a request of its own on
 * record: a `requests` row `<request id>.classify` (operation `classify`, the requesting tenant)
 * with its attempt, tokens and cost, the tenant's budget reserved and settled like any call's.
 * Answers are cached in Postgres by tenant, model and sha256 of the prompt text, so every worker
 * shares them. Anything short of a valid answer (a timeout, a failure, invalid JSON, a refused
 * budget, an open breaker) leaves the trained result, with a note in the classification.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../db';
import { readLlmClassification, writeLlmClassification } from '../db/llmClassifications';
import * as requests from '../db/requests';
import { reservationIdOf, reservationUsd } from '../domain/budget';
import { costUsd, findModel, type Model, type Provider } from '../domain/catalog';
import type { ChatMessage } from '../domain/chat';
import { lastUserText, type Classification } from '../domain/classify';
import type { SwitchyardConfig } from '../domain/config';
import type { PolicyInput } from '../domain/policy';
import {
  classifierRefusal,
  decidedByLlm,
  keptTrained,
  LLM_ANSWER_JSON_SCHEMA,
  LLM_MAX_ANSWER_TOKENS,
  llmMessages,
  LlmAnswerSchema,
  needsLlm,
  parseLlmAnswer,
  type LlmAnswer,
  type LlmClassifierSettings,
} from '../domain/llmClassifier';
import { countMessageTokens } from '../domain/tokens';
import { toProviderFailure, type ProviderFailureDetails } from '../providers/errors';
import type { AdapterRegistry } from '../providers/registry';
import type { ChatCallInput } from '../providers/types';
import { finishRequest, reportAbandoned } from './attempts';
import { closeCall, reserveCall } from './budgetOperations';
import type { HealthPort } from './healthPort';
import { noteSwallowed } from './metrics';

/** The operation a classification request is recorded as. */
export const CLASSIFY_OPERATION = 'classify';
/** The id of a request's classification request. */
export const classifyRequestIdOf = (requestId: string) => `${requestId}.classify`;
/** A reservation outlives its call by this much before the budget workflow expires it (as a call's does). */
const RESERVATION_MARGIN_MS = 60_000;

export interface LlmClassifierDeps {
  db: Db;
  adapters: AdapterRegistry;
  health?: HealthPort;
  /** Whether this worker can call a provider (its keys); absent: every one. */
  canReach?: (provider: { id: string; simulated?: boolean }) => boolean;
}

export interface ClassifyAsk {
  /** The routed request's id (its classification request is `<id>.classify`). */
  requestId: string;
  tenantId: string;
  userId?: string;
  messages: ChatMessage[];
  /** The routed request as the policy reads it: its tenant's and its own restrictions apply to the call. */
  policy: PolicyInput;
  /** The decision's attempt number (the routing activity's): its call's attempt. */
  attempt: number;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The configured settings and the model they name, when the model is asked about this classification. */
function askedOf(
  config: SwitchyardConfig,
  trained: Classification,
): { settings: LlmClassifierSettings; model?: Model } | undefined {
  const settings = config.routing.classifier?.llm;
  if (!settings || !needsLlm(trained, settings.belowConfidence)) return undefined;
  return { settings, model: findModel(config.catalog, settings.model) };
}

const cachedAnswerOf = (row: { taskType: string; complexity: string }): LlmAnswer | undefined => {
  const parsed = LlmAnswerSchema.safeParse(row);
  return parsed.success ? parsed.data : undefined;
};

/**
 * The classification routing uses: the trained one, or (configured, and the trained classifier
 * unsure) the configured model's answer, from the cache or asked now. Never throws for the
 * model's sake: every failure of this path leaves the trained result, noted.
 */
export async function classifyWithLlm(
  deps: LlmClassifierDeps,
  config: SwitchyardConfig,
  ask: ClassifyAsk,
  trained: Classification,
): Promise<Classification> {
  const asked = askedOf(config, trained);
  if (!asked) return trained;
  const { settings } = asked;
  const base = { model: asked.model?.id ?? settings.model, belowConfidence: settings.belowConfidence };
  const text = lastUserText(ask.messages);
  if (!text.trim()) return trained;
  const model = asked.model;
  const provider = model && config.catalog.providers.find((p) => p.id === model.provider);
  if (!model || !provider || model.status === 'inactive')
    return keptTrained(trained, { ...base, outcome: 'unavailable', note: 'the model is not in the catalog' });
  const promptHash = sha256(text);
  try {
    const hit = await readLlmClassification(deps.db, { tenantId: ask.tenantId, modelId: model.id, promptHash });
    const cached = hit && cachedAnswerOf(hit);
    if (hit && cached) return decidedByLlm(trained, cached, { ...base, outcome: 'cached', requestId: hit.requestId });
    if (deps.canReach && !deps.canReach(provider))
      return keptTrained(trained, {
        ...base,
        outcome: 'unavailable',
        note: `this worker has no credentials for provider '${provider.id}'`,
      });
    const refused = classifierRefusal(model, ask.policy, config, countMessageTokens(llmMessages(text)));
    if (refused)
      return keptTrained(trained, {
        ...base,
        outcome: 'unavailable',
        note: `the prompt may not go there (${refused})`,
      });
    const breaker = deps.health ? await deps.health.snapshot(model.id) : undefined;
    // A half-open breaker's probe is left to routed traffic.
    if (breaker && breaker.status !== 'closed')
      return keptTrained(trained, { ...base, outcome: 'unavailable', note: `its breaker is ${breaker.status}` });
    return await askModel(deps, config, ask, { settings, model, provider, promptHash, text }, trained);
  } catch (err) {
    noteSwallowed(
      'llm_classifier',
      err,
      { requestId: ask.requestId, model: model.id },
      'the configured classifier could not be used; the trained result stands',
    );
    return keptTrained(trained, { ...base, outcome: 'failed', note: 'an internal error (logged)' });
  }
}

interface Target {
  settings: LlmClassifierSettings;
  model: Model;
  provider: Provider;
  promptHash: string;
  text: string;
}

/** The call itself, on record as a request of its own; the answer cached when valid. */
async function askModel(
  deps: LlmClassifierDeps,
  config: SwitchyardConfig,
  ask: ClassifyAsk,
  t: Target,
  trained: Classification,
): Promise<Classification> {
  const { model, provider, settings } = t;
  const requestId = classifyRequestIdOf(ask.requestId);
  const base = { model: model.id, belowConfidence: settings.belowConfidence, requestId };
  const messages = llmMessages(t.text);
  const call: ChatCallInput = {
    model: model.model,
    messages,
    maxOutputTokens: LLM_MAX_ANSWER_TOKENS,
    temperature: 0,
    // Structured output where the model has it; the answer is validated either way.
    ...(model.capabilities.includes('json') && {
      responseFormat: {
        type: 'json_schema' as const,
        json_schema: { name: 'prompt_label', strict: true, schema: { ...LLM_ANSWER_JSON_SCHEMA } },
      },
    }),
  };
  const { row, created } = await requests.insertRequest(deps.db, {
    requestId,
    workflowId: '',
    tenantId: ask.tenantId,
    operation: CLASSIFY_OPERATION,
    requestedModel: model.id,
    body: {
      model: model.id,
      messages,
      max_tokens: LLM_MAX_ANSWER_TOKENS,
      temperature: 0,
      ...(call.responseFormat && { response_format: call.responseFormat }),
    },
    bodyHash: t.promptHash,
  });
  // A retried decision whose classification already ended: its outcome stands, no second call.
  if (!created && (row.status === 'succeeded' || row.status === 'failed')) {
    const earlier = row.status === 'succeeded' ? parseLlmAnswer(storedContent(row.response)) : undefined;
    return earlier?.ok
      ? decidedByLlm(trained, earlier.answer, { ...base, outcome: 'answered' })
      : keptTrained(trained, { ...base, outcome: 'failed', note: 'an earlier attempt of this decision failed' });
  }

  const startedAt = new Date();
  const attempt = { candidateIndex: 0, attempt: ask.attempt, provider: provider.id, model: model.model };
  const reservation = await reserveCall(deps.db, config, {
    id: reservationIdOf(requestId, 0, ask.attempt),
    tenantId: ask.tenantId,
    ...(ask.userId !== undefined && { userId: ask.userId }),
    amountUsd: reservationUsd(model, countMessageTokens(messages), LLM_MAX_ANSWER_TOKENS),
    ttlMs: settings.timeoutMs + RESERVATION_MARGIN_MS,
    now: startedAt.getTime(),
  });
  if (!reservation.ok) {
    await finishRequest(deps.db, requestId, {
      status: 'failed',
      error: { type: 'BudgetExceeded', message: reservation.message },
      latencyMs: 0,
    });
    return keptTrained(trained, { ...base, outcome: 'unavailable', note: `the budget: ${reservation.message}` });
  }
  const reservationId = reservation.id;
  await requests.recordAttempt(deps.db, requestId, {
    ...attempt,
    outcome: 'started',
    startedAt: startedAt.toISOString(),
    latencyMs: 0,
  });

  const since = () => Date.now() - startedAt.getTime();
  /** The attempt and the request completed, the reservation closed at its cost, in one commit. */
  const finish = async (
    a: { outcome: 'success' | 'error'; errorType?: string; errorMessage?: string; status?: number },
    spent: { inputTokens: number; outputTokens: number; costUsd: number } | undefined,
    outcome: Parameters<typeof finishRequest>[2],
  ) => {
    const { abandoned } = await deps.db.transaction(async (tx) => {
      await requests.recordAttempt(tx, requestId, {
        ...attempt,
        ...a,
        ...spent,
        startedAt: startedAt.toISOString(),
        latencyMs: outcome.latencyMs,
      });
      if (reservationId) await closeCall(tx, reservationId, spent?.costUsd ?? 0);
      return finishRequest(tx, requestId, outcome);
    });
    reportAbandoned(deps.health, abandoned);
  };

  let out;
  try {
    const adapter = await deps.adapters.get(provider);
    out = await adapter.chat(call, { timeoutMs: settings.timeoutMs });
  } catch (err) {
    const f = toProviderFailure(err, provider.id, model.model);
    const details = f.details?.[0] as ProviderFailureDetails | undefined;
    const type = f.type ?? 'Unknown';
    const latencyMs = since();
    // Its own short timeout says little of the provider: the breaker hears only of other failures.
    if (type !== 'Timeout')
      deps.health?.report(model.id, {
        ok: false,
        type,
        message: `${type}${details?.status ? ` (HTTP ${details.status})` : ''}`,
        latencyMs,
      });
    await finish(
      {
        outcome: 'error',
        errorType: type,
        errorMessage: f.message,
        ...(details?.status && { status: details.status }),
      },
      undefined,
      {
        status: 'failed',
        provider: provider.id,
        model: model.id,
        error: { type, message: f.message },
        latencyMs,
      },
    );
    return type === 'Timeout'
      ? keptTrained(trained, { ...base, outcome: 'timeout', note: `no answer within ${settings.timeoutMs} ms` })
      : keptTrained(trained, { ...base, outcome: 'failed', note: type });
  }

  const latencyMs = since();
  deps.health?.report(model.id, { ok: true, latencyMs });
  const spent = {
    inputTokens: out.inputTokens,
    outputTokens: out.outputTokens,
    costUsd: costUsd(model, out.inputTokens, out.outputTokens),
  };
  const parsed = parseLlmAnswer(out.content);
  const stored = {
    content: out.content,
    finishReason: out.finishReason,
    providerModel: out.providerModel,
    ...(parsed.ok && { result: parsed.answer }),
  };
  const usage = { inputTokens: out.inputTokens, outputTokens: out.outputTokens };
  if (!parsed.ok) {
    const why = `${model.id} returned ${parsed.why}`;
    await finish({ outcome: 'error', errorType: 'InvalidOutput', errorMessage: why }, spent, {
      status: 'failed',
      response: stored,
      provider: provider.id,
      model: model.id,
      ...usage,
      error: { type: 'InvalidOutput', message: why },
      latencyMs,
    });
    return keptTrained(trained, { ...base, outcome: 'invalid', note: parsed.why });
  }
  await finish({ outcome: 'success' }, spent, {
    status: 'succeeded',
    response: stored,
    provider: provider.id,
    model: model.id,
    ...usage,
    latencyMs,
  });
  await writeLlmClassification(deps.db, {
    tenantId: ask.tenantId,
    modelId: model.id,
    promptHash: t.promptHash,
    ttlSeconds: settings.cacheTtlSeconds,
    requestId,
    ...parsed.answer,
  }).catch((err: unknown) =>
    noteSwallowed(
      'llm_classifier',
      err,
      { requestId: ask.requestId, model: model.id },
      "the configured classifier's answer was not cached (the next identical prompt asks again)",
    ),
  );
  return decidedByLlm(trained, parsed.answer, { ...base, outcome: 'answered' });
}

/** The text of a stored classification answer. */
function storedContent(response: unknown): string | null {
  const c = (response as { content?: unknown } | null)?.content;
  return typeof c === 'string' ? c : null;
}

/**
 * For the dry run (`POST /v1/route`), which calls no model: the cached answer when there is one,
 * else the trained result, noted as not asked.
 */
export async function classifyFromCache(
  db: Db,
  config: SwitchyardConfig,
  ask: Pick<ClassifyAsk, 'tenantId' | 'messages'>,
  trained: Classification,
): Promise<Classification> {
  const asked = askedOf(config, trained);
  const text = lastUserText(ask.messages);
  if (!asked || !text.trim()) return trained;
  const base = { model: asked.model?.id ?? asked.settings.model, belowConfidence: asked.settings.belowConfidence };
  const hit = asked.model
    ? await readLlmClassification(db, { tenantId: ask.tenantId, modelId: asked.model.id, promptHash: sha256(text) })
    : undefined;
  const cached = hit && cachedAnswerOf(hit);
  if (hit && cached) return decidedByLlm(trained, cached, { ...base, outcome: 'cached', requestId: hit.requestId });
  return keptTrained(trained, {
    ...base,
    outcome: 'not-asked',
    note: 'the dry run calls no model; a routed request would ask it',
  });
}
