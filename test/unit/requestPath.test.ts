/**
 * The request path's steps (`src/api/requestPath/`, `cached.ts`, `submit.ts`, the adapter's
 * header parsing) and the reader of stored answers, against small fakes: no Temporal, no
 * database, no HTTP. The integration tests check the same path end to end.
 */
import type { Client } from '@temporalio/client';
import type { Db, Queryable, SqlParam } from '../../src/db';
import { CatalogSchema } from '../../src/domain/catalog';
import type { RouteResult } from '../../src/domain/request';
import { answerAs, answerKindOf, readAnswer, StoredAnswerError, type ChatAnswer } from '../../src/domain/storedAnswer';
import { answerFromCache, lookUp, remember, type CacheSettings } from '../../src/api/cached';
import { HttpError } from '../../src/api/errors';
import {
  headersOf,
  switchyardExtension,
  type Outcome,
  type PathRequest,
  type RouteInput,
} from '../../src/api/requestPath/outcome';
import { checkModel, loadAnswer, runRequest, type PathDeps } from '../../src/api/requestPath/run';
import { cacheDirective } from '../../src/api/runRoute';
import { requestIdFor, requestTimeoutMs, workflowIdFor, type Submission } from '../../src/api/submit';
import { Metrics, swallowedErrors } from '../../src/services/metrics';
import { cacheKey, MemoryCache, type CachedAnswer, type ResponseCache } from '../../src/services/responseCache';
import type { VersionedConfig } from '../../src/services/configStore';
import { unitModel } from '../support/catalog';

// ---- fakes ----

const catalog = CatalogSchema.parse({
  providers: [{ id: 'oa' }],
  models: [unitModel('oa', 'm'), unitModel('oa', 'n')],
});
const configStore = { current: () => ({ config: { catalog } }) as unknown as VersionedConfig };

const chatAnswer: ChatAnswer = { content: 'hello', finishReason: 'stop', providerModel: 'm-2026' };

const route = (over: Partial<RouteInput> = {}): RouteInput => ({
  operation: 'chat',
  requestedModel: 'auto',
  needsJson: false,
  context: { tenantId: 't1', compliance: [], excludeProviders: [], metadata: {} },
  ...over,
});

const request = (over: Partial<PathRequest> = {}): PathRequest => ({
  tenantId: 't1',
  body: { model: 'auto', messages: [{ role: 'user', content: 'hi' }] },
  route: route(),
  cache: 'use',
  ...over,
});

const routeResult = (over: Partial<RouteResult> = {}): RouteResult => ({
  requestId: 'r1',
  status: 'succeeded',
  provider: 'oa',
  model: 'm',
  modelId: 'oa/m',
  classification: {
    operation: 'chat',
    taskType: 'chat',
    complexity: 'simple',
    inputTokens: 3,
    requiredContext: 8,
    signals: [],
  },
  decisionSummary: 'cheapest',
  route: { configVersion: 1, strategy: 'cost', candidates: ['oa/m'] },
  candidates: [{ modelId: 'oa/m', provider: 'oa', outcome: 'success' }] as RouteResult['candidates'],
  attempts: [],
  inputTokens: 3,
  outputTokens: 5,
  costUsd: 0.001,
  finishReason: 'stop',
  latencyMs: 12,
  ...over,
});

const entry = (over: Partial<CachedAnswer> = {}): CachedAnswer => ({
  response: chatAnswer,
  provider: 'oa',
  modelId: 'oa/m',
  model: 'm',
  inputTokens: 3,
  outputTokens: 5,
  finishReason: 'stop',
  requestId: 'earlier',
  cachedAt: '2026-12-01T00:00:00.000Z',
  ...over,
});

/** A database answering the request path's statements; every statement is kept. */
function fakeDb(stored: unknown = chatAnswer) {
  const sent: Array<{ sql: string; params: SqlParam[] }> = [];
  const createdAt = new Date('2026-12-07T05:00:00Z');
  const q: Queryable = {
    query: async <T>(sql: string, params: SqlParam[] = []) => {
      sent.push({ sql, params });
      let rows: unknown[] = [];
      if (sql.includes('cache_hit')) rows = [{ created_at: createdAt }];
      else if (sql.startsWith('insert into requests')) rows = [{ body_hash: params[7], tenant_id: params[2] }];
      else if (sql.startsWith('select response')) rows = [{ response: stored, model: 'oa/m', created_at: createdAt }];
      return { rows: rows as T[], rowCount: rows.length };
    },
    exec: async () => undefined,
  };
  const db: Db = { kind: 'pglite', ...q, transaction: (fn) => fn(q), close: async () => undefined };
  return { db, sent, createdAt };
}

/** The part of a Temporal client the request path uses: start a workflow, read its result. */
function fakeClient(result: () => Promise<RouteResult>) {
  const started: Array<{ workflowId: string }> = [];
  const client = {
    connection: { withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn() },
    workflow: {
      start: async (_workflow: unknown, options: { workflowId: string }) => {
        started.push(options);
        return { result };
      },
    },
  };
  return { client: client as unknown as Client, started };
}

const cacheOf = (store: ResponseCache = new MemoryCache(), ttl = 60): CacheSettings => ({
  store,
  ttlSeconds: { chat: ttl, embed: ttl },
});

const failingStore = (): ResponseCache => {
  const refused = () => Promise.reject(new Error('redis gone'));
  return { kind: 'redis', get: refused, set: refused, invalidate: refused, close: refused };
};

async function cacheCounts(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.cacheRequests.get();
  return Object.fromEntries(values.map((v) => [`${v.labels.operation}:${v.labels.result}`, v.value]));
}

const cached = { tenant: 't1', model: 'oa/m', operation: 'chat' };
const keyOf = (r: PathRequest) =>
  cacheKey(r.tenantId, r.route.operation, r.body, { model: r.route.requestedModel, context: r.route.context });

const unreadableCount = async () =>
  (await swallowedErrors.get()).values.find((v) => v.labels.site === 'cache_entry_unreadable')?.value ?? 0;

async function thrown(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

function pathDeps(over: Partial<PathDeps> = {}) {
  const { db, sent, createdAt } = fakeDb();
  const { client, started } = fakeClient(async () => routeResult());
  const deps: PathDeps = {
    db,
    client,
    taskQueue: 'q',
    requestTimeoutMs: 30_000,
    configStore,
    metrics: new Metrics(),
    ...over,
  };
  return { deps, sent, started, createdAt };
}

// ---- the steps ----

describe('checkModel', () => {
  it('lets auto and a catalog model through', () => {
    expect(() => checkModel({ configStore }, { requestedModel: 'auto' })).not.toThrow();
    expect(() => checkModel({ configStore }, { requestedModel: 'oa/n' })).not.toThrow();
  });

  it('refuses a model not in the catalog with a 404 naming the ones that are', () => {
    const err = (() => {
      try {
        checkModel({ configStore }, { requestedModel: 'oa/gone' });
      } catch (e) {
        return e as HttpError;
      }
    })();
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
    expect(err!.message).toBe(`The model 'oa/gone' does not exist. Use "auto" or one of: oa/m, oa/n.`);
  });
});

describe('cacheDirective', () => {
  const directive = (headers: Record<string, string>) => cacheDirective((name) => headers[name]);

  it('uses the cache unless the client opts out', () => {
    expect(directive({})).toBe('use');
    expect(directive({ 'cache-control': 'max-age=0, no-transform' })).toBe('use');
    expect(directive({ 'x-switchyard-cache': 'on' })).toBe('use');
  });

  it('bypasses it for Cache-Control no-cache or no-store, and X-Switchyard-Cache: off (any case)', () => {
    expect(directive({ 'cache-control': 'no-cache' })).toBe('bypass');
    expect(directive({ 'cache-control': 'max-age=0, No-Store' })).toBe('bypass');
    expect(directive({ 'x-switchyard-cache': 'OFF' })).toBe('bypass');
  });
});

describe('lookUp', () => {
  it('does not apply without a cache, for an operation with no time to live, or to a stream', async () => {
    expect(await lookUp({}, request())).toBeUndefined();
    expect(await lookUp({ cache: cacheOf(new MemoryCache(), 0) }, request())).toBeUndefined();
    expect(await lookUp({ cache: cacheOf() }, request({ route: route({ stream: true }) }))).toBeUndefined();
  });

  it('bypass: counted, and the store is not read', async () => {
    const store = new MemoryCache();
    const get = jest.spyOn(store, 'get');
    const metrics = new Metrics();
    expect(await lookUp({ cache: cacheOf(store), metrics }, request({ cache: 'bypass' }))).toEqual({
      status: 'bypass',
    });
    expect(get).not.toHaveBeenCalled();
    expect(await cacheCounts(metrics)).toEqual({ 'chat:bypass': 1 });
  });

  it('miss: the key of the tenant, operation, body and routing, kept for the operation’s time to live', async () => {
    const metrics = new Metrics();
    const r = request();
    const got = await lookUp({ cache: cacheOf(new MemoryCache(), 90), metrics }, r);
    const key = cacheKey('t1', 'chat', r.body, { model: 'auto', context: r.route.context });
    expect(got).toEqual({ status: 'miss', key, ttlMs: 90_000 });
    expect(await cacheCounts(metrics)).toEqual({ 'chat:miss': 1 });
    // Another tenant's identical request is another key.
    const other = await lookUp({ cache: cacheOf() }, request({ tenantId: 't2' }));
    expect(other).toMatchObject({ status: 'miss' });
    expect(other).not.toMatchObject({ key });
  });

  it('hit: the entry under the key', async () => {
    const store = new MemoryCache();
    const r = request();
    const key = cacheKey('t1', 'chat', r.body, { model: 'auto', context: r.route.context });
    await store.set(key, entry(), 60_000, { tenant: 't1', model: 'oa/m', operation: 'chat' });
    const metrics = new Metrics();
    expect(await lookUp({ cache: cacheOf(store), metrics }, r)).toMatchObject({ status: 'hit', key, entry: entry() });
    expect(await cacheCounts(metrics)).toEqual({ 'chat:hit': 1 });
  });

  it('hit: the entry and its answer, read', async () => {
    const store = new MemoryCache();
    const r = request();
    await store.set(keyOf(r), entry({ response: { ...chatAnswer, extra: 1 } }), 60_000, cached);
    const got = await lookUp({ cache: cacheOf(store) }, r);
    expect(got).toMatchObject({ status: 'hit', answer: { ...chatAnswer, extra: 1 } });
  });

  it('an entry of another shape than the operation stores is a miss, counted as swallowed, not a body of undefineds', async () => {
    const store = new MemoryCache();
    const r = request({ route: route({ operation: 'embed' }) });
    await store.set(keyOf(r), entry(), 60_000, cached); // a chat answer under an embeddings key
    const metrics = new Metrics();
    const before = await unreadableCount();
    expect(await lookUp({ cache: cacheOf(store), metrics }, r)).toEqual({
      status: 'miss',
      key: keyOf(r),
      ttlMs: 60_000,
    });
    expect(await cacheCounts(metrics)).toEqual({ 'embed:miss': 1 });
    expect(await unreadableCount()).toBe(before + 1);
  });

  it('a failing store is a miss: the request goes on as if there were no cache', async () => {
    const metrics = new Metrics();
    expect(await lookUp({ cache: cacheOf(failingStore()), metrics }, request())).toMatchObject({ status: 'miss' });
    expect(await cacheCounts(metrics)).toEqual({ 'chat:miss': 1 });
  });
});

describe('answerFromCache', () => {
  it('records the hit as a request of its own and answers with the entry, read', async () => {
    const { db, sent, createdAt } = fakeDb();
    const got = await answerFromCache({ db }, request(), {
      status: 'hit',
      key: 'k',
      entry: entry(),
      answer: chatAnswer,
      startedAt: Date.now(),
    });
    expect(got).toMatchObject({
      source: 'cache',
      requestedModel: 'auto',
      provider: 'oa',
      modelId: 'oa/m',
      inputTokens: 3,
      outputTokens: 5,
      answer: chatAnswer,
      createdAt,
      cachedFrom: 'earlier',
      cachedAt: '2026-12-01T00:00:00.000Z',
    });
    // The catalog's id is the one spelling of the model an answer can name (issue 27).
    expect(got).not.toHaveProperty('model');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.params[0]).toBe(got.requestId);
    // The row keeps the answer as it was stored, and names the request it came from.
    expect(sent[0]!.params).toEqual(expect.arrayContaining(['k', JSON.stringify(chatAnswer), 'earlier']));
  });
});

describe('remember', () => {
  const answered = (over: Partial<RouteResult> = {}) => ({
    result: routeResult(over),
    response: { ...chatAnswer, extra: 1 },
  });

  it('keeps the answer as its row holds it, for the time to live, tagged', async () => {
    const store = new MemoryCache();
    const set = jest.spyOn(store, 'set');
    await remember({ cache: cacheOf(store) }, { key: 'k', ttlMs: 5_000 }, 't1', { operation: 'chat' }, answered());
    expect(set).toHaveBeenCalledWith(
      'k',
      expect.objectContaining({ response: { ...chatAnswer, extra: 1 }, modelId: 'oa/m', requestId: 'r1' }),
      5_000,
      { tenant: 't1', model: 'oa/m', operation: 'chat' },
    );
    expect(await store.get('k')).toMatchObject({ provider: 'oa', finishReason: 'stop' });
  });

  it('does not keep a filtered answer', async () => {
    const store = new MemoryCache();
    await remember(
      { cache: cacheOf(store) },
      { key: 'k', ttlMs: 5_000 },
      't1',
      { operation: 'chat' },
      answered({ finishReason: 'content_filter' }),
    );
    expect(await store.get('k')).toBeUndefined();
  });

  it('a store that refuses does not fail the request', async () => {
    await expect(
      remember({ cache: cacheOf(failingStore()) }, { key: 'k', ttlMs: 1 }, 't1', { operation: 'chat' }, answered()),
    ).resolves.toBeUndefined();
  });
});

describe('submission ids', () => {
  it('without an Idempotency-Key, a new id each time', () => {
    const a = requestIdFor('t1', undefined);
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdFor('t1', undefined)).not.toBe(a);
  });

  it('with one, the same id for the same tenant and key, another for another tenant', () => {
    const a = requestIdFor('t1', 'order-42');
    expect(a).toMatch(/^idem-[0-9a-f]{32}$/);
    expect(requestIdFor('t1', 'order-42')).toBe(a);
    expect(requestIdFor('t2', 'order-42')).not.toBe(a);
    expect(requestIdFor('t1', 'order-43')).not.toBe(a);
    expect(workflowIdFor(a)).toBe(`req-${a}`);
  });

  it('refuses a key that is not 1-255 printable characters without spaces', () => {
    for (const key of ['', 'has space', 'x'.repeat(256), 'é']) {
      expect(() => requestIdFor('t1', key)).toThrow(
        expect.objectContaining({ status: 400, code: 'invalid_idempotency_key', param: 'Idempotency-Key' }),
      );
    }
    expect(requestIdFor('t1', 'x'.repeat(255))).toMatch(/^idem-/);
  });
});

describe('requestTimeoutMs', () => {
  it("is the server's maximum when not given, the client's when lower, never above the maximum", () => {
    expect(requestTimeoutMs(undefined, 30_000)).toBe(30_000);
    expect(requestTimeoutMs('500', 30_000)).toBe(500);
    expect(requestTimeoutMs('0', 30_000)).toBe(0);
    expect(requestTimeoutMs('90000', 30_000)).toBe(30_000);
  });

  it('refuses what is not a non-negative integer', () => {
    for (const v of ['-1', '1.5', 'soon', '1e400']) {
      expect(() => requestTimeoutMs(v, 30_000)).toThrow(
        expect.objectContaining({ status: 400, code: 'invalid_timeout', param: 'X-Switchyard-Timeout-Ms' }),
      );
    }
  });
});

describe('readAnswer', () => {
  it('reads a chat answer, tool calls and a structured result included, keeping unknown keys', () => {
    const stored = {
      content: null,
      finishReason: 'tool_calls',
      providerModel: 'm-2026',
      providerRequestId: 'p1',
      toolCalls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
      result: { label: 'x' },
      later: true,
    };
    expect(readAnswer(stored, 'chat')).toEqual(stored);
  });

  it('reads embeddings', () => {
    const stored = { embeddings: [{ index: 0, embedding: [0.5, -1] }], dimensions: 2, providerModel: 'e' };
    expect(readAnswer(stored, 'embeddings')).toEqual(stored);
  });

  it('refuses an answer of another shape, naming what is wrong', () => {
    expect(() => readAnswer({ finishReason: 'stop', providerModel: 'm' }, 'chat')).toThrow(StoredAnswerError);
    expect(() => readAnswer(chatAnswer, 'embeddings')).toThrow(/not of the embeddings kind: .*embeddings/s);
    expect(() => readAnswer(null, 'chat')).toThrow(StoredAnswerError);
    expect(() =>
      readAnswer({ embeddings: [{ index: 0, embedding: '0.5' }], dimensions: 1, providerModel: 'e' }, 'embeddings'),
    ).toThrow(/an array of numbers/);
  });

  it('answerAs: an answer already read, as its kind (the same object, not parsed again), or an error', () => {
    const embeddings = { embeddings: [{ index: 0, embedding: [0.5] }], dimensions: 1, providerModel: 'e' };
    expect(answerAs(chatAnswer, 'chat')).toBe(chatAnswer);
    expect(answerAs(embeddings, 'embeddings')).toBe(embeddings);
    expect(() => answerAs(chatAnswer, 'embeddings')).toThrow(StoredAnswerError);
    expect(() => answerAs(embeddings, 'chat')).toThrow(StoredAnswerError);
  });

  it('embed stores embeddings; every other operation a chat answer', () => {
    expect(answerKindOf('embed')).toBe('embeddings');
    expect(['chat', 'summarize', 'intent'].map(answerKindOf)).toEqual(['chat', 'chat', 'chat']);
  });
});

describe('loadAnswer', () => {
  it('the stored answer, as stored and read, with its creation time', async () => {
    const { db, createdAt } = fakeDb({ ...chatAnswer, extra: 1 });
    expect(await loadAnswer({ db }, 'r1', 'chat')).toEqual({
      response: { ...chatAnswer, extra: 1 },
      answer: { ...chatAnswer, extra: 1 },
      createdAt,
    });
  });

  it('a success with no stored answer is an error', async () => {
    expect(await thrown(loadAnswer({ db: fakeDb(null).db }, 'r1', 'chat'))).toEqual(
      new Error('request r1 succeeded but its response is not stored'),
    );
  });
});

describe('headersOf', () => {
  const sub: Submission = {
    requestId: 'r1',
    requestedModel: 'oa/n',
    workflowId: 'req-r1',
    deadlineAt: 0,
    handle: undefined as unknown as Submission['handle'],
  };
  const timing = { queuedMs: 1, routingMs: 2, providerMs: 3, totalMs: 6 };
  const workflow: Outcome = {
    source: 'workflow',
    requestId: 'r1',
    requestedModel: 'oa/n',
    provider: 'oa',
    modelId: 'oa/m',
    inputTokens: 3,
    outputTokens: 5,
    answer: chatAnswer,
    createdAt: new Date(),
    sub,
    result: routeResult(),
    timing,
    cache: 'miss',
  };

  it('a failure before the request was stored: the cache status alone (or nothing)', () => {
    expect(headersOf({})).toEqual({});
    expect(headersOf({ cache: 'bypass' })).toEqual({ 'x-switchyard-cache': 'bypass' });
  });

  it('a failure after: its request and workflow ids too', () => {
    expect(headersOf({ cache: 'miss', sub })).toEqual({
      'x-switchyard-cache': 'miss',
      'x-switchyard-request-id': 'r1',
      'x-switchyard-workflow-id': 'req-r1',
    });
  });

  it("a workflow's answer: who served it, the model asked for when another served, and the timing, in order", () => {
    const h = headersOf({ cache: 'miss', sub, outcome: workflow });
    expect(Object.entries(h)).toEqual([
      ['x-switchyard-cache', 'miss'],
      ['x-switchyard-request-id', 'r1'],
      ['x-switchyard-workflow-id', 'req-r1'],
      ['x-switchyard-provider', 'oa'],
      ['x-switchyard-model', 'oa/m'],
      ['x-switchyard-model-substituted', 'oa/n'],
      ['server-timing', expect.stringContaining('total;dur=6')],
    ]);
    // The model asked for served: no substitution header.
    expect(headersOf({ sub, outcome: { ...workflow, requestedModel: 'oa/m' } })).not.toHaveProperty(
      'x-switchyard-model-substituted',
    );
  });

  it("the cache's answer: its own request id and who served the original, no workflow and no timing", () => {
    const cached: Outcome = {
      source: 'cache',
      requestId: 'r2',
      requestedModel: 'oa/n',
      provider: 'oa',
      modelId: 'oa/m',
      inputTokens: 3,
      outputTokens: 5,
      answer: chatAnswer,
      createdAt: new Date(),
      cachedFrom: 'r1',
      cachedAt: '2026-12-01T00:00:00.000Z',
    };
    expect(Object.entries(headersOf({ cache: 'hit', outcome: cached }))).toEqual([
      ['x-switchyard-cache', 'hit'],
      ['x-switchyard-request-id', 'r2'],
      ['x-switchyard-provider', 'oa'],
      ['x-switchyard-model', 'oa/m'],
    ]);
    expect(switchyardExtension(cached)).toEqual({
      request_id: 'r2',
      workflow_id: '',
      provider: 'oa',
      model: 'oa/m',
      cost_usd: 0,
      decision: 'cache hit: the answer of request r1 (2026-12-01T00:00:00.000Z)',
      route: { configVersion: 0, strategy: 'cache', candidates: ['oa/m'] },
      classification: { task_type: 'cached', complexity: 'simple' },
      candidates: [],
      attempts: [],
      model_substituted: { requested: 'oa/n', served: 'oa/m', reason: 'another candidate answered first' },
      cache: { status: 'hit', cached_from: 'r1' },
    });
  });
});

// ---- the path, step after step ----

describe('runRequest', () => {
  it('a miss: submitted, awaited, answered from the stored answer, counted and remembered', async () => {
    const store = new MemoryCache();
    const { deps, started, createdAt } = pathDeps({ cache: cacheOf(store) });
    const ran = await runRequest(deps, request({ idempotencyKey: 'k1', admissionMs: 4 }));
    if ('error' in ran) throw ran.error;
    const { outcome } = ran;
    const requestId = requestIdFor('t1', 'k1');
    expect(started).toEqual([expect.objectContaining({ workflowId: workflowIdFor(requestId) })]);
    expect(outcome).toMatchObject({
      source: 'workflow',
      requestId,
      provider: 'oa',
      modelId: 'oa/m',
      answer: chatAnswer,
      createdAt,
      cache: 'miss',
      sub: { requestId, workflowId: workflowIdFor(requestId) },
    });
    // The admission wait is the request's queueing before it was stored.
    expect(outcome.source === 'workflow' && outcome.timing.queuedMs).toBe(4);
    expect(Object.keys(ran.headers)).toEqual([
      'x-switchyard-cache',
      'x-switchyard-request-id',
      'x-switchyard-workflow-id',
      'x-switchyard-provider',
      'x-switchyard-model',
      'server-timing',
    ]);
    const { values } = await deps.metrics!.requests.get();
    expect(values).toEqual([
      expect.objectContaining({ value: 1, labels: expect.objectContaining({ status: 'succeeded' }) }),
    ]);

    // Remembered: the same request again is the cache's, with no second workflow.
    const again = await runRequest(deps, request());
    expect(again).toMatchObject({ outcome: { source: 'cache', cachedFrom: 'r1', answer: chatAnswer } });
    expect(again.headers['x-switchyard-cache']).toBe('hit');
    expect(started).toHaveLength(1);
  });

  it('an unreadable cache entry: nothing recorded of it, the workflow answers, its answer kept in its place', async () => {
    const store = new MemoryCache();
    const { deps, sent } = pathDeps({ cache: cacheOf(store) });
    const r = request();
    await store.set(keyOf(r), entry({ response: { content: 42 } }), 60_000, cached);
    const ran = await runRequest(deps, r);
    expect(ran).toMatchObject({ outcome: { source: 'workflow', cache: 'miss', answer: chatAnswer } });
    expect(ran.headers['x-switchyard-cache']).toBe('miss');
    expect(sent.filter((s) => s.sql.includes('cache_hit'))).toEqual([]);
    expect(await store.get(keyOf(r))).toMatchObject({ response: chatAnswer, requestId: 'r1' });
  });

  it('a bypass: no lookup and nothing kept, the header says so, the body has no cache part', async () => {
    const store = new MemoryCache();
    const set = jest.spyOn(store, 'set');
    const { deps } = pathDeps({ cache: cacheOf(store) });
    const ran = await runRequest(deps, request({ cache: 'bypass' }));
    expect(ran.headers['x-switchyard-cache']).toBe('bypass');
    expect('outcome' in ran && ran.outcome.source === 'workflow' && ran.outcome.cache).toBeUndefined();
    expect('outcome' in ran && switchyardExtension(ran.outcome).cache).toBeNull();
    expect(set).not.toHaveBeenCalled();
  });

  it("a failed workflow: the error, counted, with the request's ids in the headers", async () => {
    const { client } = fakeClient(() => Promise.reject(new Error('connection lost')));
    const { deps } = pathDeps({ client, cache: cacheOf() });
    const ran = await runRequest(deps, request());
    expect('error' in ran && ran.error).toMatchObject({ status: 503, code: 'service_unavailable' });
    expect(Object.keys(ran.headers)).toEqual([
      'x-switchyard-cache',
      'x-switchyard-request-id',
      'x-switchyard-workflow-id',
    ]);
    const { values } = await deps.metrics!.requests.get();
    expect(values).toEqual([
      expect.objectContaining({ labels: expect.objectContaining({ status: 'service_unavailable' }) }),
    ]);
  });

  it('an unknown model: refused before the cache and the database, with no headers', async () => {
    const { deps, sent } = pathDeps({ cache: cacheOf() });
    const ran = await runRequest(deps, request({ route: route({ requestedModel: 'oa/gone' }) }));
    expect('error' in ran && ran.error).toMatchObject({ status: 404 });
    expect(ran.headers).toEqual({});
    expect(sent).toEqual([]);
  });

  it('the timeout and key are checked when the request is stored: a cache hit is answered first', async () => {
    const store = new MemoryCache();
    const { deps } = pathDeps({ cache: cacheOf(store) });
    const r = request();
    await store.set(cacheKey('t1', 'chat', r.body, { model: 'auto', context: r.route.context }), entry(), 60_000, {
      tenant: 't1',
      model: 'oa/m',
      operation: 'chat',
    });
    expect(await runRequest(deps, { ...r, timeout: 'soon' })).toMatchObject({ outcome: { source: 'cache' } });
    const refused = await runRequest(deps, { ...r, cache: 'bypass', timeout: 'soon', idempotencyKey: 'has space' });
    expect('error' in refused && refused.error).toMatchObject({ status: 400, code: 'invalid_timeout' });
    expect(refused.headers).toEqual({ 'x-switchyard-cache': 'bypass' });
  });
});
