/**
 * What the request path is given and what it gives back, free of HTTP: the handlers' adapter
 * (`../runRoute`) builds a `PathRequest` from the Express request, and copies the headers an
 * outcome implies onto the response.
 */
import type { RouteRequestInput, RouteResult } from '../../domain/request';
import { substitutionOf } from '../../domain/request';
import type { StoredAnswer } from '../../domain/storedAnswer';
import { serverTiming, timingJson, type Timing } from '../../domain/timing';
import type { Submission } from '../submit';
import type { RequestTemplate } from '../../db/requests';

export type RouteInput = Omit<RouteRequestInput, 'requestId' | 'tenantId' | 'deadlineAt'>;

/** `use`: look the answer up and keep it (when the operation is cached); `bypass`: the client opted out. */
export type CacheDirective = 'use' | 'bypass';
export type CacheStatus = 'hit' | 'miss' | 'bypass';

export interface PathRequest {
  tenantId: string;
  /** `Idempotency-Key` as sent: checked when the request is stored (after the cache). */
  idempotencyKey?: string;
  /** `X-Switchyard-Timeout-Ms` as sent: checked when the request is stored (after the cache). */
  timeout?: string;
  body: unknown;
  route: RouteInput;
  cache: CacheDirective;
  /** Time the request waited for an admission slot before its handler ran (in `Server-Timing`). */
  admissionMs?: number;
  /** The template version `body` was rendered from: on the request's record. */
  template?: RequestTemplate;
}

/** What a client is answered with, whichever source answered. */
interface Answered {
  requestId: string;
  /** The model the client asked for (`auto` or a catalog id). */
  requestedModel: string;
  provider: string;
  /**
   * The catalog's id of the model that answered (`provider/model`): the one spelling every answer
   * names it by. The provider's own name of it stays out of the outcome, so no answer can use it.
   */
  modelId: string;
  inputTokens: number;
  outputTokens: number;
  answer: StoredAnswer;
  createdAt: Date;
}

export type Outcome =
  | (Answered & {
      source: 'workflow';
      sub: Submission;
      result: RouteResult;
      /** Where the request's time went (also the `Server-Timing` header). */
      timing: Timing;
      /** `miss` when the cache applies to the operation (the answer is then kept); absent otherwise. */
      cache?: 'miss';
    })
  | (Answered & { source: 'cache'; cachedFrom: string; cachedAt: string });

/** How far a request got: the headers follow from it, whether it ended in an outcome or an error. */
export interface Progress {
  cache?: CacheStatus;
  sub?: Pick<Submission, 'requestId' | 'workflowId'>;
  outcome?: Outcome;
}

export type Headers = Record<string, string>;

/** The `x-switchyard-*` headers (and `Server-Timing`) of a request, in the order they were always sent. */
export function headersOf({ cache, sub, outcome }: Progress): Headers {
  const h: Headers = {};
  if (cache) h['x-switchyard-cache'] = cache;
  const requestId = sub?.requestId ?? outcome?.requestId;
  if (requestId !== undefined) h['x-switchyard-request-id'] = requestId;
  if (sub) h['x-switchyard-workflow-id'] = sub.workflowId;
  if (!outcome) return h;
  h['x-switchyard-provider'] = outcome.provider;
  h['x-switchyard-model'] = outcome.modelId;
  if (outcome.source === 'cache') return h;
  // The header names the model asked for; why it was replaced is in the `switchyard` field.
  const substituted = substitutionOf(outcome.requestedModel, outcome.modelId, outcome.result);
  if (substituted) h['x-switchyard-model-substituted'] = substituted.requested;
  h['server-timing'] = serverTiming(outcome.timing);
  return h;
}

/** The `switchyard` extension field of a response (ignored by OpenAI clients): where the request went and why. */
export function switchyardExtension(o: Outcome) {
  if (o.source === 'cache')
    return {
      request_id: o.requestId,
      workflow_id: '',
      provider: o.provider,
      model: o.modelId,
      cost_usd: 0,
      decision: `cache hit: the answer of request ${o.cachedFrom} (${o.cachedAt})`,
      route: { configVersion: 0, strategy: 'cache', candidates: [o.modelId] },
      classification: { task_type: 'cached', complexity: 'simple' },
      candidates: [],
      attempts: [],
      model_substituted: substitutionOf(o.requestedModel, o.modelId) ?? null,
      cache: { status: 'hit', cached_from: o.cachedFrom },
    };
  const { sub, result } = o;
  return {
    request_id: sub.requestId,
    workflow_id: sub.workflowId,
    provider: result.provider,
    model: result.modelId,
    cost_usd: result.costUsd,
    decision: result.decisionSummary,
    route: result.route,
    classification: { task_type: result.classification.taskType, complexity: result.classification.complexity },
    candidates: result.candidates,
    attempts: result.attempts,
    model_substituted: substitutionOf(sub.requestedModel, result.modelId, result) ?? null,
    cache: o.cache ? { status: o.cache } : null,
    timing_ms: timingJson(o.timing),
  };
}
