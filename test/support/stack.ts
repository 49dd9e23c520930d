/**
 * An in-process Switchyard for integration tests: a Temporal dev server (the provisioned CLI),
 * the real workers and API, a real database, and fake providers of both wire formats. Requests go
 * over real HTTP to the API, and from the workers over real HTTP through the official SDKs.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import Anthropic from '@anthropic-ai/sdk';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { createApp, type ApiDeps } from '../../src/api/app';
import { MemoryLimitStore } from '../../src/services/limitStore';
import { upsertApiKey } from '../../src/db/apiKeys';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { CatalogSchema, type Catalog } from '../../src/domain/catalog';
import type { SwitchyardConfigInput } from '../../src/domain/config';
import { AdapterRegistry } from '../../src/providers/registry';
import { SecretStore } from '../../src/services/secretStore';
import type { ConfigStore } from '../../src/services/configStore';
import { HealthClient } from '../../src/clients/providerHealth';
import { BudgetSupervisor } from '../../src/clients/budgetWindow';
import { testConfigStore } from './config';
import { UrlPolicy } from '../../src/services/urlPolicy';
import { ensureBinary, TEMPORAL_CLI } from '../../src/temporal/binaries';
import { SEARCH_ATTRIBUTES } from '../../src/temporal/searchAttributes';
import { NativeConnection } from '@temporalio/worker';
import { buildWorkflowBundle, installRuntime, startWorkers, type RunningWorkers } from '../../src/start/worker';
import { until } from './chaos';
import { countingDb, type CountingDb } from './countingDb';
import { openTestDb, uniqueId, type DbKind } from './db';
import { startFakeProvider, type FakeProvider } from './fakeProvider';
import { MemoryRelay, RedisRelay, type StreamRelay } from '../../src/services/streamRelay';
import { Metrics } from '../../src/services/metrics';
import { MemoryCache, RedisCache } from '../../src/services/responseCache';
import type { StreamLimits } from '../../src/providers/deadline';
import { NO_VERSION_CHECK } from '../../src/temporal/devServer';
import { connectClosable } from '../../src/temporal/closableConnection';

export interface TestStack {
  baseURL: string;
  /** What the HTTP API was built with: another front end (gRPC) over the same stack. */
  apiDeps: ApiDeps;
  apiKey: string;
  /** The route workflows' task queue. */
  taskQueue: string;
  tenantId: string;
  env: TestWorkflowEnvironment;
  /** The stack's database; it records the statements it is sent (`statements()`, `reset()`). */
  db: CountingDb;
  fakes: { openai: FakeProvider; anthropic: FakeProvider };
  configStore: ConfigStore;
  health?: HealthClient;
  /** Starts another set of workers with its own health client: a second worker process, in effect. */
  addWorkers(): Promise<{ health: HealthClient; stop(): Promise<void> }>;
  /** How many workflow queries the breakers' clients made (operators' views and tests only). */
  healthQueries(): number;
  /** An admin key of the test tenant (its own policy, budgets, keys, replay). */
  adminKey: string;
  /** An operator key (catalog, providers, breakers, the configuration, every tenant). */
  operatorKey: string;
  /** POST a JSON body to an API path; returns status and parsed JSON. */
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

/** The two fake providers as catalog providers: `oa` (OpenAI wire format) and `an` (Anthropic). */
export function fakeCatalogProviders(f: TestStack['fakes']) {
  return [
    { id: 'oa', wireFormat: 'openai' as const, baseUrl: f.openai.url },
    { id: 'an', wireFormat: 'anthropic' as const, baseUrl: f.anthropic.url },
  ];
}

/** A catalog of the two fake providers and these models (as built by `fakeModel`). */
export const fakeCatalog = (f: TestStack['fakes'], models: Array<Record<string, unknown>>): Catalog =>
  CatalogSchema.parse({ providers: fakeCatalogProviders(f), models });

/** The official `openai` client against a test stack, with the SDK's retries off (tests count calls). */
export const openaiClient = (stack: Pick<TestStack, 'baseURL' | 'apiKey'>) =>
  new OpenAI({ apiKey: stack.apiKey, baseURL: stack.baseURL, maxRetries: 0 });

/**
 * Streams a chat with the official openai SDK (default: `oa/primary`, "Count to ten."): the chunks
 * seen, the error the iterator threw (if any: a stream cut mid-way), the text, the request id and
 * the response. A refusal before the stream begins throws, as the SDK's `create` does.
 */
export async function streamChat(
  client: OpenAI,
  body: Partial<OpenAI.ChatCompletionCreateParamsStreaming> = {},
  headers: Record<string, string> = {},
) {
  const { data, response } = await client.chat.completions
    .create(
      { model: 'oa/primary', messages: [{ role: 'user', content: 'Count to ten.' }], ...body, stream: true },
      { headers },
    )
    .withResponse();
  const chunks: ChatCompletionChunk[] = [];
  let error: unknown;
  try {
    for await (const c of data) chunks.push(c);
  } catch (err) {
    error = err;
  }
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  return { chunks, error, text, requestId: response.headers.get('x-switchyard-request-id')!, response };
}

/**
 * A request's record (`GET /requests/:id`) once its workflow has finished: a stream's client may
 * learn the answer before the record is written. `T` is the shape the test reads.
 */
export async function finishedRecord<T extends { status: string }>(
  stack: Pick<TestStack, 'baseURL' | 'apiKey'>,
  id: string,
): Promise<T> {
  const now = async () =>
    (await (
      await fetch(`${stack.baseURL}/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
    ).json()) as T;
  let r = await now();
  await until(async () => (r = await now()).status !== 'running' && r.status !== 'received');
  return r;
}

/** The official `@anthropic-ai/sdk` client against a test stack (it adds `/v1` itself). */
export const anthropicClient = (stack: Pick<TestStack, 'baseURL' | 'apiKey'>) =>
  new Anthropic({ apiKey: stack.apiKey, baseURL: stack.baseURL.replace(/\/v1$/, ''), maxRetries: 0 });

/** Gives the stack's tenant a daily budget through the admin API (as its admin would). */
export async function setDailyBudget(stack: Pick<TestStack, 'baseURL' | 'adminKey' | 'tenantId'>, usd: number) {
  const res = await fetch(`${stack.baseURL}/admin/tenants/${stack.tenantId}/budget`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ dailyUsd: usd }),
  });
  if (res.status !== 200) throw new Error(`setting the budget: ${res.status} ${await res.text()}`);
}

/** The stack's SWITCHYARD_MASTER_KEY: stored provider keys are sealed under it. */
export const TEST_MASTER_KEY = Buffer.alloc(32, 7);

/** Retries that keep a test fast: two attempts 20 ms apart, each within 5 s. */
export const FAST_RETRIES = {
  default: {
    maximumAttempts: 2,
    initialIntervalMs: 20,
    backoffCoefficient: 1,
    maximumIntervalMs: 20,
    timeoutMs: 5_000,
  },
};

/** The key the test workers hold for a provider (long enough to be registered for redaction). */
// Nothing of the id in it: leak checks look for any 10 characters of a key, and ids are in every answer.
export const providerSecret = (providerId: string) =>
  `secret-${createHash('sha256').update(providerId).digest('hex').slice(0, 12)}-4f9c2a7b1d`;

/** A chat model on a fake provider, with plain prices and limits (tests override what they test). */
export function fakeModel(provider: string, model: string, overrides: Record<string, unknown> = {}) {
  return {
    id: `${provider}/${model}`,
    provider,
    model,
    inputPricePerMTok: 0.1,
    outputPricePerMTok: 0.4,
    contextWindow: 16_000,
    maxOutputTokens: 2_000,
    capabilities: ['chat'],
    qualityTier: 3,
    ...overrides,
  };
}

export interface StackOptions {
  catalog: (fakes: TestStack['fakes']) => Catalog;
  /** The rest of the configuration (retry, fallback, routing, rules…). */
  config?: Omit<SwitchyardConfigInput, 'catalog'>;
  requestTimeoutMs?: number;
  /** Run circuit breakers (providerHealth entities fed by the workers). */
  breakers?: boolean;
  /** `default`: the configuration comes from the shipped defaults, not a file (default: a file). */
  configSource?: 'file' | 'default';
  /**
   * Check URLs set through the API and batch webhook URLs at submission (as `npm start` does;
   * default: unchecked), and the workers' webhook calls (default: 127.0.0.1 allowed).
   */
  urlPolicy?: UrlPolicy;
  /** Where provider calls run (the worker's setting; default shared). */
  callQueues?: 'shared' | 'per-provider';
  maxConcurrentCalls?: number;
  /** Batch jobs' server settings (default: a waiting batch checks again every second). */
  batches?: { maxConcurrency?: number; recheckMs?: number };
  /** The stream relay: in memory (default, as one process), or Redis with separate connections for worker and API. */
  relay?: 'memory' | 'redis';
  /** Streamed calls' time-to-first-token and idle limits. */
  streamLimits?: StreamLimits;
  /** The response cache: seconds per operation (absent: off); in Redis when `relay` is redis. */
  cache?: Record<string, number>;
  /** Wraps the relay the workers publish to (a flaky relay, say); the API reads the unwrapped one. */
  wrapWorkerRelay?: (relay: StreamRelay) => StreamRelay;
  /** The database: PGlite or PostgreSQL (default: PostgreSQL when DATABASE_URL is set). */
  db?: DbKind;
  /** A request body that sends nothing for this long gets 408 (default: the API's 15 s). */
  bodyIdleMs?: number;
  /** Uploads in progress per tenant, the upload spool's memory before disk and its directory (default: the API's). */
  uploads?: { maxPerTenant?: number; spoolMemoryBytes?: number; spoolDir?: string };
  /** A tenant's background responses in flight at once (the API's default when unset). */
  maxBackgroundPerTenant?: number;
  /** How long the workers use a stored secret before reading it again (default: the store's 10 s). */
  secretCacheMs?: number;
}

/** Redis for the tests that use it: REDIS_URL, or the machine's own. */
export const testRedisUrl = () => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function startTestStack(opts: StackOptions): Promise<TestStack> {
  installRuntime('ERROR');
  const [openai, anthropic, db, bundle] = await Promise.all([
    startFakeProvider('openai'),
    startFakeProvider('anthropic'),
    openTestDb(opts.db).then(countingDb),
    buildWorkflowBundle(),
  ]);
  const fakes = { openai, anthropic };
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      extraArgs: NO_VERSION_CHECK,
      executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_CLI) },
      searchAttributes: SEARCH_ATTRIBUTES,
    },
  });
  const catalog = opts.catalog(fakes);
  const configStore = await testConfigStore(db, { ...opts.config, catalog }, opts.configSource, opts.urlPolicy);
  const taskQueue = uniqueId('route');
  const secrets = Object.fromEntries(catalog.providers.map((p) => [p.id, providerSecret(p.id)]));
  // The app's clients (API, breakers, budget windows) on a connection that closes safely while a
  // call waits to be retried; `env.client` stays the tests' own.
  const appConnection = await connectClosable({ address: env.address });
  const appClient = new Client({ connection: appConnection.connection });
  // The breakers' client counts the workflow queries it makes: the request path should make none.
  let healthQueries = 0;
  const healthTemporal = new Client({
    connection: appConnection.connection,
    interceptors: {
      workflow: [
        {
          async query(input, next) {
            healthQueries++;
            return next(input);
          },
        },
      ],
    },
  });
  const newHealth = () =>
    opts.breakers
      ? new HealthClient(healthTemporal, db, taskQueue, () => configStore.current().config.breakers)
      : undefined;
  const health = newHealth();
  const metrics = new Metrics(db);
  const cache = opts.cache && {
    store: opts.relay === 'redis' ? new RedisCache(testRedisUrl()) : new MemoryCache(),
    ttlSeconds: opts.cache,
  };
  const workerRelay: StreamRelay = opts.relay === 'redis' ? new RedisRelay(testRedisUrl()) : new MemoryRelay();
  const publishTo = opts.wrapWorkerRelay ? opts.wrapWorkerRelay(workerRelay) : workerRelay;
  const webhookPolicy = opts.urlPolicy ?? new UrlPolicy(['127.0.0.1']);
  const start = (h: HealthClient | undefined, connection = env.nativeConnection) =>
    startWorkers({
      connection,
      namespace: 'default',
      taskQueue,
      workflowBundle: bundle,
      maxConcurrentCalls: opts.maxConcurrentCalls,
      deps: {
        db,
        config: () => configStore.current(),
        // Each set of workers opens stored secrets itself, as a separate worker process would.
        adapters: new AdapterRegistry(
          secrets,
          30_000,
          undefined,
          undefined,
          new SecretStore(db, TEST_MASTER_KEY, { cacheMs: opts.secretCacheMs }),
        ),
        health: h,
        callQueues: opts.callQueues,
        maxConcurrentCalls: opts.maxConcurrentCalls,
        relay: publishTo,
        metrics,
        ...(opts.streamLimits && { streamLimits: opts.streamLimits }),
        // Webhooks: the stack's policy, or its listeners' loopback address (the workers' own default refuses it).
        urlPolicy: webhookPolicy,
      },
    });
  const workers: RunningWorkers = await start(health);
  const apiRelay = opts.relay === 'redis' ? new RedisRelay(testRedisUrl()) : workerRelay;
  // Budget window entities, as the worker process runs them.
  const budgetSupervisor = new BudgetSupervisor(appClient, taskQueue, 60_000);
  await budgetSupervisor.sync(configStore.current().config);
  configStore.onChange((v) => void budgetSupervisor.sync(v.config));
  const extra: Array<{ stop(): Promise<void> }> = [];
  const tenantId = uniqueId('tenant');
  const apiKey = `sk-sy-${uniqueId('key')}`;
  const adminKey = `sk-sy-${uniqueId('admin')}`;
  await upsertApiKey(db, tenantId, apiKey, 'test');
  await upsertApiKey(db, tenantId, adminKey, 'test-admin', 'admin');
  const operatorKey = `sk-sy-${uniqueId('operator')}`;
  await upsertApiKey(db, tenantId, operatorKey, 'test-operator', 'operator');
  const stopping = new AbortController();
  // One listener per request in flight (each removed when it ends): many at once is normal.
  setMaxListeners(0, stopping.signal);
  const apiDeps: ApiDeps = {
    db,
    client: appClient,
    taskQueue,
    requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
    relay: apiRelay,
    metrics,
    cache,
    stopping: stopping.signal,
    configStore,
    secrets: new SecretStore(db, TEST_MASTER_KEY),
    health,
    logger: pino({ level: 'silent' }),
    batches: {
      maxConcurrency: opts.batches?.maxConcurrency ?? 32,
      recheckMs: opts.batches?.recheckMs ?? 1_000,
      // A batch's webhook URL is checked at submission, as `npm start` does, when the stack has a policy.
      ...(opts.urlPolicy && { urlPolicy: opts.urlPolicy }),
    },
    ...(opts.bodyIdleMs !== undefined && { bodyIdleMs: opts.bodyIdleMs }),
    ...(opts.uploads && { uploads: opts.uploads }),
    ...(opts.maxBackgroundPerTenant !== undefined && { maxBackgroundPerTenant: opts.maxBackgroundPerTenant }),
    // One store, so another server given these dependencies (gRPC) counts against the same limits.
    limitStore: new MemoryLimitStore(),
  };
  const app = createApp(apiDeps);
  const server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;

  return {
    baseURL,
    apiDeps,
    apiKey,
    taskQueue,
    tenantId,
    env,
    db,
    fakes,
    configStore,
    health,
    adminKey,
    operatorKey,
    healthQueries: () => healthQueries,
    async addWorkers() {
      const h = newHealth()!;
      // Its own connection, as a second worker process would have.
      const connection = await NativeConnection.connect({ address: env.address });
      const w = await start(h, connection);
      let stopped: Promise<void> | undefined;
      const handle = {
        health: h,
        stop: () =>
          (stopped ??= (async () => {
            await w.shutdown();
            await h.stop();
            await connection.close();
          })()),
      };
      extra.push(handle);
      return handle;
    },
    async post(path, body, headers = {}) {
      const res = await fetch(`${baseURL}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json(), headers: res.headers };
    },
    async stop() {
      // Requests still waiting on a workflow stop waiting before the connection closes.
      stopping.abort();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      configStore.stop();
      for (const e of extra) await e.stop();
      await workers.shutdown();
      await health?.stop();
      await appConnection.close();
      await env.teardown();
      await Promise.all([
        openai.close(),
        anthropic.close(),
        db.close(),
        workerRelay.close(),
        apiRelay.close(),
        cache?.store.close(),
      ]);
    },
  };
}

export interface UseTestStackOptions {
  /** The beforeAll's timeout in ms (default: Jest's). */
  timeout?: number;
  /** Reset both fake providers' behaviours and recorded calls before each test. */
  resetFakes?: boolean;
}

/**
 * One test stack for the enclosing file or `describe`: started in beforeAll, stopped in afterAll.
 * Returns the stack itself as a proxy (`stack.post(...)`, `stack.fakes`…), usable inside hooks
 * and tests; touching it before beforeAll has run throws, naming the cause. Options given as a
 * function are read in beforeAll (for options that need something made first, a directory).
 */
export function useTestStack(opts: StackOptions | (() => StackOptions), use: UseTestStackOptions = {}): TestStack {
  let current: TestStack | undefined;
  const get = (): TestStack => {
    if (!current) throw new Error('useTestStack: the stack is used before its beforeAll ran (or it failed to start)');
    return current;
  };
  beforeAll(async () => {
    current = await startTestStack(typeof opts === 'function' ? opts() : opts);
  }, use.timeout);
  afterAll(async () => {
    await current?.stop();
    current = undefined;
  });
  if (use.resetFakes) {
    beforeEach(() => {
      get().fakes.openai.reset();
      get().fakes.anthropic.reset();
    });
  }
  return new Proxy({} as TestStack, {
    get: (_, key) => Reflect.get(get(), key),
    has: (_, key) => Reflect.has(get(), key),
    ownKeys: () => Reflect.ownKeys(get()),
    getOwnPropertyDescriptor: (_, key) => {
      const d = Reflect.getOwnPropertyDescriptor(get(), key);
      return d && { ...d, configurable: true };
    },
  });
}
