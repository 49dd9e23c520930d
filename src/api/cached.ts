/**
 * The response cache on the request path: looked up before a workflow starts (a hit is answered
 * at once, recorded as a request with no provider call and no budget), and filled after a
 * success. A client opts out per request (`bypass`: `Cache-Control: no-cache` or `no-store`, or
 * `X-Switchyard-Cache: off`, read by the adapter); streamed requests are not cached.
 */
import { randomUUID } from 'node:crypto';
import { recordCacheHit } from '../db/requests';
import { answerKindOf, readAnswer, type StoredAnswer } from '../domain/storedAnswer';
import type { RouteResult } from '../domain/request';
import { noteSwallowed } from '../services/metrics';
import { cacheKey, type CachedAnswer, type ResponseCache } from '../services/responseCache';
import type { Outcome, PathRequest, RouteInput } from './requestPath/outcome';
import type { RunnerDeps } from './submit';

export interface CacheSettings {
  store: ResponseCache;
  /** Seconds an answer is kept, per operation (0: not cached). */
  ttlSeconds: Record<string, number>;
}

/** A miss is kept under its key once answered. */
export interface Miss {
  status: 'miss';
  key: string;
  ttlMs: number;
}
/** A hit holds its entry's answer, read: an entry the operation cannot read is a miss. */
export type Lookup =
  | { status: 'bypass' }
  | Miss
  | { status: 'hit'; key: string; entry: CachedAnswer; answer: StoredAnswer; startedAt: number };

/** Undefined: the cache does not apply (none, off for the operation, or streamed). */
export async function lookUp(
  deps: Pick<RunnerDeps, 'metrics' | 'cache'>,
  r: Pick<PathRequest, 'tenantId' | 'body' | 'route' | 'cache'>,
  /** A strict request's model (substitution none): an answer another model gave is a miss. */
  onlyModel?: string,
): Promise<Lookup | undefined> {
  const { operation } = r.route;
  const ttl = deps.cache?.ttlSeconds[operation] ?? 0;
  if (!deps.cache || ttl <= 0 || r.route.stream) return undefined;
  if (r.cache === 'bypass') {
    deps.metrics?.cacheRequests.inc({ operation, result: 'bypass' });
    return { status: 'bypass' };
  }
  const startedAt = Date.now();
  const key = cacheKey(r.tenantId, operation, r.body, { model: r.route.requestedModel, context: r.route.context });
  // A cache that fails is a miss: the request goes to a provider as if there were no cache.
  const entry = await deps.cache.store.get(key).catch((err: unknown) => {
    noteSwallowed('cache_read', err, { tenant: r.tenantId, operation }, 'the response cache lookup failed');
    return undefined;
  });
  // Read before anything is recorded of it: a damaged entry is answered by a provider, and the
  // answer kept in its place.
  const usable = entry && (onlyModel === undefined || entry.modelId === onlyModel) ? entry : undefined;
  const answer = usable && readCached(usable, { tenant: r.tenantId, operation });
  deps.metrics?.cacheRequests.inc({ operation, result: answer ? 'hit' : 'miss' });
  return usable && answer
    ? { status: 'hit', key, entry: usable, answer, startedAt }
    : { status: 'miss', key, ttlMs: ttl * 1000 };
}

/** The entry's answer, or undefined (logged and counted) when it is not of the operation's kind. */
function readCached(entry: CachedAnswer, ids: { tenant: string; operation: string }): StoredAnswer | undefined {
  try {
    return readAnswer(entry.response, answerKindOf(ids.operation));
  } catch (err) {
    noteSwallowed('cache_entry_unreadable', err, ids, 'a response cache entry could not be read: treated as a miss');
    return undefined;
  }
}

/** A hit, answered: recorded as a request of its own (no workflow), which names the request it came from. */
export async function answerFromCache(
  deps: Pick<RunnerDeps, 'db'>,
  r: Pick<PathRequest, 'tenantId' | 'body' | 'route' | 'template'>,
  hit: Extract<Lookup, { status: 'hit' }>,
): Promise<Extract<Outcome, { source: 'cache' }>> {
  const { entry } = hit;
  const requestId = randomUUID();
  const createdAt = await recordCacheHit(deps.db, {
    requestId,
    tenantId: r.tenantId,
    operation: r.route.operation,
    requestedModel: r.route.requestedModel,
    body: r.body,
    bodyHash: hit.key,
    provider: entry.provider,
    model: entry.modelId,
    response: entry.response,
    inputTokens: entry.inputTokens,
    outputTokens: entry.outputTokens,
    cachedFrom: entry.requestId,
    latencyMs: Date.now() - hit.startedAt,
    endUser: r.route.context.userId,
    ...(r.template && { template: r.template }),
  });
  return {
    source: 'cache',
    requestId,
    requestedModel: r.route.requestedModel,
    provider: entry.provider,
    modelId: entry.modelId,
    inputTokens: entry.inputTokens,
    outputTokens: entry.outputTokens,
    answer: hit.answer,
    createdAt,
    cachedFrom: entry.requestId,
    cachedAt: entry.cachedAt,
  };
}

/** Keeps a successful answer for the operation's time to live (a filtered answer is not kept). */
export async function remember(
  deps: Pick<RunnerDeps, 'cache'>,
  miss: Pick<Miss, 'key' | 'ttlMs'>,
  tenantId: string,
  route: Pick<RouteInput, 'operation'>,
  answered: {
    result: Pick<
      RouteResult,
      'requestId' | 'provider' | 'modelId' | 'model' | 'inputTokens' | 'outputTokens' | 'finishReason'
    >;
    /** The stored answer as its row holds it: the cache keeps the record, not a reading of it. */
    response: unknown;
  },
): Promise<void> {
  const { result } = answered;
  if (!deps.cache || result.finishReason === 'content_filter') return;
  await deps.cache.store
    .set(
      miss.key,
      {
        response: answered.response,
        provider: result.provider,
        modelId: result.modelId,
        model: result.model,
        inputTokens: result.inputTokens,
        outputTokens: result.outputTokens,
        finishReason: result.finishReason,
        requestId: result.requestId,
        cachedAt: new Date().toISOString(),
      },
      miss.ttlMs,
      { tenant: tenantId, model: result.modelId, operation: route.operation },
    )
    // The answer is sent all the same; only later requests miss it.
    .catch((err: unknown) =>
      noteSwallowed(
        'cache_write',
        err,
        { requestId: result.requestId, tenant: tenantId, operation: route.operation },
        'the answer was not kept in the response cache',
      ),
    );
}
