/**
 * The request path shared by chat and operations: check the model, store and submit the
 * `routeRequest` workflow, wait for it, and load the stored answer.
 */
import type { Request, Response } from 'express';
import { getAnswer } from '../db/requests';
import { findModel } from '../domain/catalog';
import { hasImages, maxOutputTokens, offersTools, type ChatCompletionRequest } from '../domain/chat';
import { AUTO_MODELS } from '../domain/policy';
import { substitutionOf, type RouteRequestInput, type RouteResult } from '../domain/request';
import type { ConfigStore } from '../services/configStore';
import { routeContext, waitForRecovery } from './context';
import { lookUp, remember } from './cached';
import { serverTiming, timingJson, timingOf, type Timing } from '../domain/timing';
import { HttpError } from './errors';
import { awaitResult, countRoute, requestTimeoutMs, submitRequest, type RunnerDeps, type Submission } from './submit';

export type { RunnerDeps } from './submit';

export type RouteInput = Omit<RouteRequestInput, 'requestId' | 'tenantId' | 'deadlineAt'>;

/** The route of a chat completion: what the workflow and the dry run both decide on. */
export function chatRouteInput(req: Request, tenantId: string, body: ChatCompletionRequest): RouteInput {
  return {
    operation: 'chat',
    requestedModel: body.model,
    maxOutputTokens: maxOutputTokens(body),
    needsJson: body.response_format !== undefined && body.response_format.type !== 'text',
    ...(hasImages(body.messages) && { needsVision: true }),
    ...(offersTools(body) && { needsTools: true }),
    context: routeContext(req, tenantId, { user: body.user, metadata: body.metadata }),
    waitForRecovery: waitForRecovery(req),
    ...(body.stream && { stream: true }),
  };
}

export interface Routed {
  sub: Submission;
  result: RouteResult;
  row: Pick<NonNullable<Awaited<ReturnType<typeof getAnswer>>>, 'response' | 'created_at'>;
  /** The response cache's part (absent: the cache does not apply to this operation). */
  cache?: { status: 'hit' | 'miss' | 'bypass'; cachedFrom?: string };
  /** Where the request's time went (also the `Server-Timing` header). */
  timing?: Timing;
}

/** A model asked for by name must be in the catalog: a clear 404 naming the ones that are. */
export function checkModel(deps: { configStore: ConfigStore }, route: RouteInput): void {
  const catalog = deps.configStore.current().config.catalog;
  if (!AUTO_MODELS.has(route.requestedModel) && !findModel(catalog, route.requestedModel)) {
    const known = catalog.models.map((m) => m.id).join(', ');
    throw HttpError.notFound(`The model '${route.requestedModel}' does not exist. Use "auto" or one of: ${known}.`, {
      param: 'model',
      code: 'model_not_found',
    });
  }
}

/** Stores the request and starts its workflow (its model checked first); sets the id headers. */
export async function startRoute(
  deps: RunnerDeps & { configStore: ConfigStore },
  req: Request,
  res: Response,
  tenantId: string,
  body: unknown,
  route: RouteInput,
): Promise<Submission> {
  const sub = await submitRequest(deps, {
    tenantId,
    idempotencyKey: req.header('idempotency-key'),
    timeoutMs: requestTimeoutMs(req.header('x-switchyard-timeout-ms'), deps.requestTimeoutMs),
    body,
    route,
  });
  res.setHeader('x-switchyard-request-id', sub.requestId);
  res.setHeader('x-switchyard-workflow-id', sub.workflowId);
  return sub;
}

/**
 * The whole request path shared by chat and operations: check the model, store and submit,
 * wait for the workflow, and load the stored answer; sets the `x-switchyard-*` headers.
 */
export async function runRoute(
  deps: RunnerDeps & { configStore: ConfigStore },
  req: Request,
  res: Response,
  tenantId: string,
  body: unknown,
  route: RouteInput,
): Promise<Routed> {
  const startedAt = Date.now();
  checkModel(deps, route);
  // The response cache first: a hit is answered here, with no workflow, provider or budget.
  const cached = await lookUp(deps, req, res, tenantId, body, route);
  if (cached && 'hit' in cached) return cached.hit;
  const sub = await startRoute(deps, req, res, tenantId, body, route);
  const counted = { tenantId, operation: route.operation, startedAt };
  const result = await awaitResult(deps, sub).catch((error: unknown) => {
    countRoute(deps, counted, { error });
    throw error;
  });
  countRoute(deps, counted, { result });
  const row = await getAnswer(deps.db, sub.requestId);
  if (!row?.response) throw new Error(`request ${sub.requestId} succeeded but its response is not stored`);
  res.setHeader('x-switchyard-provider', result.provider);
  res.setHeader('x-switchyard-model', result.modelId);
  const substituted = substitutionOf(route.requestedModel, result.modelId, result);
  // The header names the model asked for; why it was replaced is in the `switchyard` field.
  if (substituted) res.setHeader('x-switchyard-model-substituted', substituted.requested);
  const timing = timingOf({
    startedAt,
    endedAt: Date.now(),
    attempts: result.attempts,
    admissionMs: res.locals.admissionMs as number | undefined,
  });
  res.setHeader('server-timing', serverTiming(timing));
  const routed: Routed = { sub, result, row, timing, ...(cached && { cache: { status: 'miss' as const } }) };
  if (cached) await remember(deps, cached, tenantId, route, routed);
  return routed;
}

/** The `switchyard` extension field of a response (ignored by OpenAI clients): where the request went and why. */
export function switchyardExtension({ sub, result, cache, timing }: Routed) {
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
    cache: cache ? { status: cache.status, ...(cache.cachedFrom && { cached_from: cache.cachedFrom }) } : null,
    ...(timing && { timing_ms: timingJson(timing) }),
  };
}
