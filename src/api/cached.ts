/**
 * The response cache on the request path: looked up before a workflow starts (a hit is answered
 * at once, recorded as a request with no provider call and no budget), and filled after a
 * success. A client opts out per request with `Cache-Control: no-cache` (or `no-store`) or
 * `X-Switchyard-Cache: off`; streamed requests are not cached.
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { recordCacheHit } from '../db/requests';
import type { Classification } from '../domain/classify';
import { noteSwallowed } from '../services/metrics';
import { cacheKey, type ResponseCache } from '../services/responseCache';
import type { ConfigStore } from '../services/configStore';
import type { RouteInput, Routed } from './runRoute';
import type { RunnerDeps } from './submit';

export interface CacheSettings {
  store: ResponseCache;
  /** Seconds an answer is kept, per operation (0: not cached). */
  ttlSeconds: Record<string, number>;
}

type Deps = RunnerDeps & { configStore: ConfigStore; cache?: CacheSettings };
export type Lookup = { key: string; ttlMs: number } | { hit: Routed };

const bypassed = (req: Request) =>
  /\bno-(cache|store)\b/i.test(req.header('cache-control') ?? '') ||
  /^off$/i.test(req.header('x-switchyard-cache') ?? '');

/** Undefined: the cache does not apply (off for the operation, or streamed). */
export async function lookUp(
  deps: Deps,
  req: Request,
  res: Response,
  tenantId: string,
  body: unknown,
  route: RouteInput,
): Promise<Lookup | undefined> {
  const ttl = deps.cache?.ttlSeconds[route.operation] ?? 0;
  if (!deps.cache || ttl <= 0 || route.stream) return undefined;
  if (bypassed(req)) {
    res.setHeader('x-switchyard-cache', 'bypass');
    deps.metrics?.cacheRequests.inc({ operation: route.operation, result: 'bypass' });
    return undefined;
  }
  const started = Date.now();
  const key = cacheKey(tenantId, route.operation, body, { model: route.requestedModel, context: route.context });
  // A cache that fails is a miss: the request goes to a provider as if there were no cache.
  const hit = await deps.cache.store.get(key).catch((err: unknown) => {
    noteSwallowed(
      'cache_read',
      err,
      { tenant: tenantId, operation: route.operation },
      'the response cache lookup failed',
    );
    return undefined;
  });
  deps.metrics?.cacheRequests.inc({ operation: route.operation, result: hit ? 'hit' : 'miss' });
  res.setHeader('x-switchyard-cache', hit ? 'hit' : 'miss');
  if (!hit) return { key, ttlMs: ttl * 1000 };
  const requestId = randomUUID();
  const createdAt = await recordCacheHit(deps.db, {
    requestId,
    tenantId,
    operation: route.operation,
    requestedModel: route.requestedModel,
    body,
    bodyHash: key,
    provider: hit.provider,
    model: hit.modelId,
    response: hit.response,
    inputTokens: hit.inputTokens,
    outputTokens: hit.outputTokens,
    cachedFrom: hit.requestId,
    latencyMs: Date.now() - started,
  });
  res.setHeader('x-switchyard-request-id', requestId);
  res.setHeader('x-switchyard-provider', hit.provider);
  res.setHeader('x-switchyard-model', hit.modelId);
  const summary = `cache hit: the answer of request ${hit.requestId} (${hit.cachedAt})`;
  return {
    hit: {
      sub: {
        requestId,
        requestedModel: route.requestedModel,
        workflowId: '',
        deadlineAt: 0,
        handle: undefined as never,
      },
      result: {
        requestId,
        status: 'succeeded',
        provider: hit.provider,
        model: hit.model,
        modelId: hit.modelId,
        classification: { taskType: 'cached', complexity: 'simple' } as unknown as Classification,
        decisionSummary: summary,
        route: { configVersion: 0, strategy: 'cache', candidates: [hit.modelId] },
        candidates: [],
        attempts: [],
        inputTokens: hit.inputTokens,
        outputTokens: hit.outputTokens,
        costUsd: 0,
        finishReason: hit.finishReason,
        latencyMs: Date.now() - started,
      },
      row: { response: hit.response, created_at: createdAt },
      cache: { status: 'hit', cachedFrom: hit.requestId },
    },
  };
}

/** Keeps a successful answer for the operation's time to live (a filtered answer is not kept). */
export async function remember(
  deps: Deps,
  lookup: Lookup,
  tenantId: string,
  route: RouteInput,
  routed: Routed,
): Promise<void> {
  if (!deps.cache || !('key' in lookup) || routed.result.finishReason === 'content_filter') return;
  const { result } = routed;
  await deps.cache.store
    .set(
      lookup.key,
      {
        response: routed.row.response,
        provider: result.provider,
        modelId: result.modelId,
        model: result.model,
        inputTokens: result.inputTokens,
        outputTokens: result.outputTokens,
        finishReason: result.finishReason,
        requestId: result.requestId,
        cachedAt: new Date().toISOString(),
      },
      lookup.ttlMs,
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
