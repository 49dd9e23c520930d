/**
 * The request path of chat, operations and embeddings, free of HTTP, in the order it runs:
 * check the model → look the answer up in the cache (a hit ends here) → submit the `routeRequest`
 * workflow → await it (counted) → load the stored answer → remember it in the cache. The outcome
 * is the workflow's or the cache's; the headers follow from how far the request got, so a failure
 * carries them too (its request id, for one). Traced, it runs in a span of its own (`./spans`).
 */
import { getAnswer } from '../../db/requests';
import { findModel } from '../../domain/catalog';
import { AUTO_MODELS } from '../../domain/policy';
import type { RouteResult } from '../../domain/request';
import { answerKindOf, readAnswer, type StoredAnswer } from '../../domain/storedAnswer';
import { timingOf } from '../../domain/timing';
import type { ConfigStore } from '../../services/configStore';
import { answerFromCache, lookUp, remember } from '../cached';
import { HttpError } from '../errors';
import { awaitResult, countRoute, submitRequest, type RunnerDeps, type Submission } from '../submit';
import { errorTypeOf, failSpan, inRouteSpan } from './spans';
import { headersOf, type Headers, type Outcome, type PathRequest, type Progress, type RouteInput } from './outcome';

export type PathDeps = RunnerDeps & { configStore: Pick<ConfigStore, 'current'> };

/** The request path's end: an outcome or an error, with the headers either implies. */
export type Ran = { outcome: Outcome; headers: Headers } | { error: unknown; headers: Headers };

export async function runRequest(deps: PathDeps, r: PathRequest): Promise<Ran> {
  return inRouteSpan(r, async (span) => {
    const ran = await runPath(deps, r);
    if (!span) return ran;
    const h = ran.headers;
    span.setAttributes({
      ...(h['x-switchyard-cache'] !== undefined && { 'switchyard.cache': h['x-switchyard-cache'] }),
      ...(h['x-switchyard-request-id'] !== undefined && { 'switchyard.request_id': h['x-switchyard-request-id'] }),
      ...('outcome' in ran && { 'switchyard.chosen_model': ran.outcome.modelId }),
    });
    if ('error' in ran) failSpan(span, errorTypeOf(ran.error), ran.error);
    return ran;
  });
}

async function runPath(deps: PathDeps, r: PathRequest): Promise<Ran> {
  const startedAt = Date.now();
  const progress: Progress = {};
  try {
    checkModel(deps, r.route);
    const lookup = await lookUp(deps, r, strictModel(deps, r));
    progress.cache = lookup?.status;
    if (lookup?.status === 'hit') {
      progress.outcome = await answerFromCache(deps, r, lookup);
      return { outcome: progress.outcome, headers: headersOf(progress) };
    }
    const sub = await submitRequest(deps, r);
    progress.sub = sub;
    const result = await awaitCounted(deps, sub, { tenantId: r.tenantId, operation: r.route.operation, startedAt });
    const { response, answer, createdAt } = await loadAnswer(deps, sub.requestId, r.route.operation);
    progress.outcome = {
      source: 'workflow',
      requestId: sub.requestId,
      requestedModel: sub.requestedModel,
      provider: result.provider,
      modelId: result.modelId,
      inputTokens: result.inputTokens,
      outputTokens: result.outputTokens,
      answer,
      createdAt,
      sub,
      result,
      timing: timingOf({ startedAt, endedAt: Date.now(), attempts: result.attempts, admissionMs: r.admissionMs }),
      ...(lookup?.status === 'miss' && { cache: 'miss' as const }),
    };
    if (lookup?.status === 'miss') await remember(deps, lookup, r.tenantId, r.route, { result, response });
    return { outcome: progress.outcome, headers: headersOf(progress) };
  } catch (error) {
    return { error, headers: headersOf(progress) };
  }
}

/**
 * A model asked for by name must be in the catalog: a clear 404 naming the ones that are. So must
 * each of the request's fallbacks (`models[i]`), which follow a named model only.
 */
export function checkModel(
  deps: Pick<PathDeps, 'configStore'>,
  route: Pick<RouteInput, 'requestedModel' | 'fallbacks'>,
): void {
  const catalog = deps.configStore.current().config.catalog;
  const known = () => catalog.models.map((m) => m.id).join(', ');
  if (!AUTO_MODELS.has(route.requestedModel) && !findModel(catalog, route.requestedModel)) {
    throw HttpError.notFound(`The model '${route.requestedModel}' does not exist. Use "auto" or one of: ${known()}.`, {
      param: 'model',
      code: 'model_not_found',
    });
  }
  if (route.fallbacks && AUTO_MODELS.has(route.requestedModel))
    throw HttpError.invalid("'models' is a fallback chain after a named model: name one in 'model', not auto.", {
      param: 'models',
      code: 'invalid_value',
    });
  route.fallbacks?.forEach((id, i) => {
    if (!findModel(catalog, id))
      throw HttpError.notFound(`The model '${id}' in models[${i}] does not exist. Use one of: ${known()}.`, {
        param: `models[${i}]`,
        code: 'model_not_found',
      });
  });
}

/**
 * The model a request names when it may not be substituted (its own `substitution: none`, else
 * its tenant's default), as the routing policy decides it: a cached answer of another model
 * must not answer it either.
 */
export function strictModel(
  deps: Pick<PathDeps, 'configStore'>,
  r: Pick<PathRequest, 'tenantId' | 'route'>,
): string | undefined {
  if (AUTO_MODELS.has(r.route.requestedModel)) return undefined;
  const { config } = deps.configStore.current();
  const mode = r.route.context.substitution ?? config.tenants[r.tenantId]?.substitution;
  return mode === 'none' ? findModel(config.catalog, r.route.requestedModel)?.id : undefined;
}

/** The workflow's result, and the request counted either way. */
export async function awaitCounted(
  deps: RunnerDeps,
  sub: Submission,
  counted: { tenantId: string; operation: string; startedAt: number },
): Promise<RouteResult> {
  const result = await awaitResult(deps, sub).catch((error: unknown) => {
    countRoute(deps, counted, { error });
    throw error;
  });
  countRoute(deps, counted, { result });
  return result;
}

/** The answer the workflow stored: as its row holds it (`response`, for the cache) and read. */
export async function loadAnswer(
  deps: Pick<RunnerDeps, 'db'>,
  requestId: string,
  operation: string,
): Promise<{ response: unknown; answer: StoredAnswer; createdAt: Date }> {
  const row = await getAnswer(deps.db, requestId);
  if (!row?.response) throw new Error(`request ${requestId} succeeded but its response is not stored`);
  return {
    response: row.response,
    answer: readAnswer(row.response, answerKindOf(operation)),
    createdAt: row.created_at,
  };
}
