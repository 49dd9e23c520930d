/**
 * Assembles a running Switchyard from configuration: database (migrated), Temporal (a dev server
 * unless TEMPORAL_ADDRESS), the simulated provider when no key is set, the worker and the API.
 * `npm start` runs every part in one process; `npm run worker` / `npm run api` run one half each.
 * `stop()` undoes everything in reverse order, so nothing outlives the process.
 */
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import type http from 'node:http';
import express from 'express';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { connectClosable } from '../temporal/closableConnection';
import { NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Logger } from 'pino';
import { Admission } from '../api/admission';
import { createApp, type ApiDeps } from '../api/app';
import { startGrpcServer } from '../grpc/server';
import { environmentProviders, simulatedProviderEnabled, type Config } from '../config';
import { openDb, type Db } from '../db';
import { generateApiKey, upsertApiKey } from '../db/apiKeys';
import { migrate } from '../db/migrate';
import { defaultCatalog, type Catalog } from '../domain/catalog';
import { configSource, fileNamesProviders } from '../services/configFile';
import { ConfigStore } from '../services/configStore';
import { localProviders } from '../services/localProviders';
import { createRelay } from '../services/streamRelay';
import { startTracing } from '../services/tracing';
import { logSwallowedTo, Metrics, noteSwallowed } from '../services/metrics';
import { createCache } from '../services/responseCache';
import { createLimitStore } from '../services/limitStore';
import type { HealthSources } from '../services/dependencyHealth';
import { healthRoutes } from '../api/routes/health';
import { mountRoutes } from '../api/routeSpec';
import { UrlPolicy } from '../services/urlPolicy';
import { HealthClient } from '../clients/providerHealth';
import { BudgetSupervisor } from '../clients/budgetWindow';
import { ensureAlertMonitor } from '../clients/alertMonitor';
import { ensureUsageEvents } from '../clients/usageEvents';
import { AdapterRegistry } from '../providers/registry';
import { SecretStore } from '../services/secretStore';
import { startSimulatedProvider, type SimulatedProvider } from '../providers/simulated';
import { ensureBinary, TEMPORAL_CLI } from '../temporal/binaries';
import { ensureSearchAttributes } from '../temporal/connection';
import { startDevServer, type DevServer } from '../temporal/devServer';
import { stopWithin } from './stopWithin';
import { installRuntime, startWorkers, type RunningWorkers } from './worker';

export type Role = 'all' | 'worker' | 'api';

const STARTUP_FAILURE_STOP_MS = 10_000;

export interface StartOptions {
  role: Role;
  logger: Logger;
  workflowBundle?: WorkflowBundleWithSourceMap;
}

export interface Switchyard {
  apiUrl?: string;
  /** `host:port` of the gRPC API, when SWITCHYARD_GRPC_PORT is set. */
  grpcAddress?: string;
  temporalAddress: string;
  temporalUiUrl?: string;
  /** The `temporal` CLI to use against this server (the provisioned one with a dev server). */
  temporalCli: string;
  apiKey?: string;
  /** The banner prints the key only when it was generated at this start. */
  apiKeySource?: KeySource;
  apiKeyFile?: string;
  db: Db;
  configStore: ConfigStore;
  simulated: boolean;
  /** Resolves if the worker stops on its own (crash); `npm start` exits then. */
  workerDone?: Promise<void>;
  /** Stops every part, in reverse order of starting; the same promise however often it is called. */
  stop(): Promise<void>;
  /** What `stop()` is doing now (undefined before and after): named when a stop overruns. */
  stopStep(): string | undefined;
}

/** Where the bootstrap key came from: generated at this start, kept from an earlier one, or set. */
export type KeySource = 'generated' | 'file' | 'env';

/** The bootstrap key: SWITCHYARD_BOOTSTRAP_KEY, or one generated once and kept in the data folder. */
function bootstrapKey(config: Config): { key: string; source: KeySource; file?: string } {
  if (config.SWITCHYARD_BOOTSTRAP_KEY) return { key: config.SWITCHYARD_BOOTSTRAP_KEY, source: 'env' };
  const file = path.join(config.SWITCHYARD_DATA_DIR, 'bootstrap-api-key');
  if (fs.existsSync(file)) return { key: fs.readFileSync(file, 'utf8').trim(), source: 'file', file };
  const key = generateApiKey();
  fs.mkdirSync(config.SWITCHYARD_DATA_DIR, { recursive: true });
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { key, source: 'generated', file };
}

/** Listens on a port; a port in use is a clear start-up error naming its variable. */
function listen(app: express.Express, port: number, host: string, variable: string): Promise<http.Server> {
  return new Promise<http.Server>((resolve, reject) => {
    const s = app.listen(port, host, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE' ? new Error(`Port ${port} is already in use: set ${variable} to a free port.`) : err,
      ),
    );
  });
}

const closeServer = (server: http.Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

export async function startSwitchyard(config: Config, opts: StartOptions): Promise<Switchyard> {
  const { logger, role } = opts;
  logSwallowedTo(logger);
  // Each with what it does, so a stop that overruns its deadline can say where it is stuck.
  const cleanups: Array<[step: string, fn: () => Promise<void>]> = [];
  let step: string | undefined;
  // Aborted first on stop: requests in flight stop waiting on Temporal before its connection closes.
  const stopping = new AbortController();
  // One listener per request in flight (each removed when it ends): many at once is normal.
  setMaxListeners(0, stopping.signal);
  let stopped: Promise<void> | undefined;
  // Once, however many callers (a signal and a crashed worker may both ask).
  const stop = () =>
    (stopped ??= (async () => {
      stopping.abort();
      for (const [name, fn] of cleanups.splice(0).reverse()) {
        step = name;
        const started = Date.now();
        await fn().catch((err: unknown) => logger.warn({ err, step: name }, 'error while stopping'));
        logger.debug({ step: name, ms: Date.now() - started }, 'stopped');
      }
      step = undefined;
    })());

  try {
    fs.mkdirSync(config.SWITCHYARD_DATA_DIR, { recursive: true });
    if (!config.DATABASE_URL && role !== 'all') {
      throw new Error(
        'Running the worker and the API as separate processes needs a shared PostgreSQL: set DATABASE_URL (embedded PGlite serves one process only).',
      );
    }
    const db = await openDb({
      databaseUrl: config.DATABASE_URL,
      pgliteDir: path.join(config.SWITCHYARD_DATA_DIR, 'pglite'),
      onIdleError: (err) => noteSwallowed('pg_idle_client', err, {}, 'an idle database connection failed'),
    });
    cleanups.push(['closing the database', () => db.close()]);
    const applied = await migrate(db);
    if (applied.length) logger.info({ applied }, 'database migrated');

    let devServer: DevServer | undefined;
    let address = config.TEMPORAL_ADDRESS;
    // The CLI to print in the banner: the provisioned one next to a dev server, else the user's own.
    let temporalCli = 'temporal';
    if (!address) {
      if (role !== 'all')
        throw new Error('Set TEMPORAL_ADDRESS: only the all-in-one `npm start` starts a Temporal dev server.');
      temporalCli = ensureBinary(TEMPORAL_CLI);
      devServer = await startDevServer({
        cliPath: temporalCli,
        dataDir: config.SWITCHYARD_DATA_DIR,
        port: config.TEMPORAL_DEV_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        ui: config.TEMPORAL_UI,
        namespace: config.TEMPORAL_NAMESPACE,
      });
      cleanups.push(['stopping the Temporal dev server', () => devServer!.stop()]);
      address = devServer.address;
    }

    // `auto`: a configuration file with providers of its own is a real catalog; the simulator
    // would answer `auto` requests beside them.
    const simulated =
      simulatedProviderEnabled(config) &&
      !(config.SWITCHYARD_SIMULATED_PROVIDER === 'auto' && fileNamesProviders(config.SWITCHYARD_CONFIG));
    let sim: SimulatedProvider | undefined;
    if (simulated && role !== 'api') {
      sim = await startSimulatedProvider({
        failureRate: config.SWITCHYARD_SIMULATED_FAILURE_RATE,
        seed: config.SWITCHYARD_SIMULATED_SEED,
      });
      cleanups.push(['stopping the simulated provider', () => sim!.close()]);
    }
    const shippedCatalog = (): Catalog => defaultCatalog({ ...environmentProviders(config), simulated });
    // What this process's environment enables stays local to it (an overlay on its own view; the
    // API process routes nothing, so it shows the stored configuration as it is).
    const keyed = { openai: config.OPENAI_API_KEY, anthropic: config.ANTHROPIC_API_KEY };
    const urlPolicy = UrlPolicy.fromEnv(config.SWITCHYARD_URL_ALLOWLIST);
    const local = localProviders(shippedCatalog(), keyed, sim !== undefined);
    const configStore = new ConfigStore(
      db,
      configSource(config.SWITCHYARD_CONFIG, shippedCatalog),
      role === 'api' ? undefined : local.overlay,
      urlPolicy,
    );
    await configStore.init();
    configStore.startPolling();
    cleanups.push(['stopping the configuration poll', async () => configStore.stop()]);

    // Streamed answers' pieces, worker → API: Redis across processes, in memory within one.
    if (!config.REDIS_URL && role !== 'all')
      logger.warn(
        'REDIS_URL is not set: with the worker and the API in separate processes, streamed answers arrive whole, when done',
      );
    const relay = createRelay(config.REDIS_URL);
    const metrics = new Metrics(db);
    const cacheOn = Object.values(config.SWITCHYARD_CACHE_TTL).some((t) => t > 0);
    const cache = cacheOn
      ? { store: createCache(config.REDIS_URL), ttlSeconds: config.SWITCHYARD_CACHE_TTL }
      : undefined;
    if (cache) cleanups.push(['closing the response cache', () => cache.store.close()]);
    cleanups.push(['closing the stream relay', () => relay.close()]);

    // Traces over OTLP when an endpoint is set (none: nothing of it installed). Stopped after the
    // workers and the API (cleanups run in reverse), so their last spans are flushed.
    const tracing = await startTracing(config);
    if (tracing) {
      cleanups.push(['flushing traces', () => tracing.shutdown()]);
      logger.info({ url: tracing.url, captureContent: tracing.captureContent }, 'traces are exported over OTLP');
    }
    const interceptors = tracing?.clientInterceptors;

    // Closes after the retries it has scheduled begin (a retry after close would throw from its timer).
    const { connection, close: closeConnection } = await connectClosable({ address });
    cleanups.push(['closing the Temporal client connection', closeConnection]);
    await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors });
    const health = new HealthClient(
      client,
      db,
      config.SWITCHYARD_TASK_QUEUE,
      () => configStore.current().config.breakers,
    );
    cleanups.push(['stopping the breakers’ client', () => health.stop()]);

    // Provider keys stored through the operator API: sealed by the API, opened by the workers.
    const secretStore = new SecretStore(db, config.SWITCHYARD_MASTER_KEY, { logger });
    let workers: RunningWorkers | undefined;
    let workerStates: HealthSources['workers'];
    // All in one: the API's client shares the worker's native connection, so a request's workflow
    // starts eagerly on this process's worker (its first task skips the server's dispatch).
    let apiClient = client;
    if (role !== 'api') {
      installRuntime('WARN', config.SWITCHYARD_TEMPORAL_METRICS_PORT);
      const native = await NativeConnection.connect({ address });
      cleanups.push(['closing the workers’ Temporal connection', () => native.close()]);
      if (role === 'all')
        apiClient = new Client({ connection: native, namespace: config.TEMPORAL_NAMESPACE, interceptors });
      const adapters = new AdapterRegistry(
        keyed,
        config.SWITCHYARD_PROVIDER_TIMEOUT_MS,
        sim?.url,
        undefined,
        secretStore,
      );
      const running = await startWorkers({
        connection: native,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.SWITCHYARD_TASK_QUEUE,
        workflowBundle: opts.workflowBundle,
        workflowBundlePath: config.SWITCHYARD_WORKFLOW_BUNDLE,
        maxConcurrentCalls: config.SWITCHYARD_MAX_CONCURRENT_CALLS,
        batchSlots: config.SWITCHYARD_BATCH_SLOTS,
        tracing,
        tuning: {
          workflowTaskSlots: config.SWITCHYARD_WORKFLOW_TASK_SLOTS,
          workflowPollers: config.SWITCHYARD_WORKFLOW_POLLERS,
          activityPollers: config.SWITCHYARD_ACTIVITY_POLLERS,
          maxCachedWorkflows: config.SWITCHYARD_MAX_CACHED_WORKFLOWS,
        },
        deps: {
          db,
          config: () => configStore.current(),
          adapters,
          health,
          callQueues: config.SWITCHYARD_CALL_QUEUES,
          canReach: local.canReach,
          urlPolicy,
          maxConcurrentCalls: config.SWITCHYARD_MAX_CONCURRENT_CALLS,
          relay,
          metrics,
          streamLimits: {
            firstTokenMs: config.SWITCHYARD_STREAM_FIRST_TOKEN_MS,
            idleMs: config.SWITCHYARD_STREAM_IDLE_MS,
            maxMalformed: config.SWITCHYARD_STREAM_MAX_MALFORMED,
          },
        },
      });
      workers = running;
      workerStates = () => running.workers.map((w) => ({ taskQueue: w.options.taskQueue, state: w.getState() }));
      if (role === 'worker' && config.SWITCHYARD_WORKER_HEALTH_PORT !== undefined) {
        const healthApp = express();
        healthApp.disable('x-powered-by');
        mountRoutes(healthApp, healthRoutes, { db, client, workers: workerStates });
        // The worker's port is internal (health probes, Prometheus): its metrics need no key.
        healthApp.get('/metrics', async (_req, res) => {
          res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
        });
        const server = await listen(
          healthApp,
          config.SWITCHYARD_WORKER_HEALTH_PORT,
          config.HOST,
          'SWITCHYARD_WORKER_HEALTH_PORT',
        );
        cleanups.push(['closing the worker’s health port', () => closeServer(server)]);
      }
      // A provider added through the admin API gets its task queue served without a restart.
      configStore.onChange((v) => v.config.catalog.providers.forEach((p) => void running.ensureProviderWorker(p.id)));
      // Every tenant with a budget has its window entity; a budget set through the API gets one too.
      const budgetSupervisor = new BudgetSupervisor(
        client,
        config.SWITCHYARD_TASK_QUEUE,
        config.SWITCHYARD_BUDGET_SWEEP_SECONDS * 1000,
        logger,
      );
      await budgetSupervisor.sync(configStore.current().config);
      configStore.onChange((v) => void budgetSupervisor.sync(v.config));
      // The cluster's one alert monitor (alerts: breakers, budgets, latency, rate limits).
      await ensureAlertMonitor(client, config.SWITCHYARD_TASK_QUEUE, logger);
      configStore.onChange(() => void ensureAlertMonitor(client, config.SWITCHYARD_TASK_QUEUE, logger));
      // The cluster's one usage-event deliverer (the outbox to the configured sinks).
      await ensureUsageEvents(client, config.SWITCHYARD_TASK_QUEUE, logger);
      cleanups.push(['stopping the workers', () => running.shutdown()]);
    }

    let apiUrl: string | undefined;
    let grpcAddress: string | undefined;
    let key: ReturnType<typeof bootstrapKey> | undefined;
    if (role !== 'worker') {
      key = bootstrapKey(config);
      // The bootstrap key is an operator key. Once revoked it stays revoked, whatever restarts.
      const stored = await upsertApiKey(db, config.SWITCHYARD_BOOTSTRAP_TENANT, key.key, 'bootstrap', 'operator');
      if (stored.revoked)
        logger.warn(
          { keyId: stored.id },
          'the bootstrap API key was revoked and stays revoked: use another operator key, or set SWITCHYARD_BOOTSTRAP_KEY to a new one',
        );
      // Request limits: in Redis across API processes when REDIS_URL is set, else per process.
      const limitStore = await createLimitStore(config.REDIS_URL, { logger });
      cleanups.push(['closing the request limits’ store', () => limitStore.close()]);
      if (limitStore.kind === 'redis') logger.info('request limits are counted in Redis, across API processes');
      else
        logger[role === 'api' ? 'warn' : 'info'](
          'REDIS_URL is not set: request limits are counted per API process (N API processes allow N times a limit)',
        );
      const apiDeps: ApiDeps = {
        db,
        client: apiClient,
        eagerStart: apiClient !== client,
        taskQueue: config.SWITCHYARD_TASK_QUEUE,
        requestTimeoutMs: config.SWITCHYARD_REQUEST_TIMEOUT_MS,
        backgroundTimeoutMs: config.SWITCHYARD_BACKGROUND_TIMEOUT_MS,
        maxBackgroundPerTenant: config.SWITCHYARD_MAX_BACKGROUND_PER_TENANT,
        bodyIdleMs: config.SWITCHYARD_BODY_IDLE_MS,
        uploads: { maxPerTenant: config.SWITCHYARD_TENANT_MAX_UPLOADS },
        relay,
        metrics,
        cache,
        stopping: stopping.signal,
        workers: workerStates,
        configStore,
        secrets: secretStore,
        health,
        logger,
        tracing,
        // The dev server's UI when it runs here, else the one configured (none: no links).
        ...((devServer?.uiUrl ?? config.TEMPORAL_UI_URL) && {
          temporalUi: { url: (devServer?.uiUrl ?? config.TEMPORAL_UI_URL)!, namespace: config.TEMPORAL_NAMESPACE },
        }),
        batches: {
          maxConcurrency: config.SWITCHYARD_BATCH_MAX_CONCURRENCY,
          recheckMs: config.SWITCHYARD_BATCH_RECHECK_MS,
          urlPolicy,
        },
        defaultLimits: {
          requestsPerMinute: config.SWITCHYARD_KEY_REQUESTS_PER_MINUTE,
          maxConcurrent: config.SWITCHYARD_TENANT_MAX_CONCURRENT,
        },
        limitStore,
        admission: new Admission({
          maxInFlight: config.SWITCHYARD_MAX_IN_FLIGHT,
          maxQueued: config.SWITCHYARD_MAX_QUEUED,
          maxWaitMs: config.SWITCHYARD_MAX_QUEUE_WAIT_MS,
        }),
      };
      const app = createApp(apiDeps);
      const server = await listen(app, config.PORT, config.HOST, 'PORT');
      cleanups.push(['closing the API’s connections', () => closeServer(server)]);
      const { port } = server.address() as AddressInfo;
      const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
      apiUrl = `http://${host}:${port}`;
      // gRPC shares HTTP's dependencies: the same limit store and admission count both.
      if (config.SWITCHYARD_GRPC_PORT !== undefined) {
        const grpcServer = await startGrpcServer(apiDeps, { port: config.SWITCHYARD_GRPC_PORT, host: config.HOST });
        cleanups.push(['closing the gRPC server', () => grpcServer.stop()]);
        grpcAddress = `${host}:${grpcServer.port}`;
      }
    }

    return {
      apiUrl,
      grpcAddress,
      temporalAddress: address,
      temporalUiUrl: devServer?.uiUrl,
      temporalCli: path.relative(process.cwd(), temporalCli) || temporalCli,
      apiKey: key?.key,
      apiKeySource: key?.source,
      apiKeyFile: key?.file,
      db,
      configStore,
      simulated,
      workerDone: workers?.done,
      stop,
      stopStep: () => step,
    };
  } catch (err) {
    // Bounded as a signal's stop is (main.ts): a failed start must end, not hang.
    await stopWithin(stop, STARTUP_FAILURE_STOP_MS, () => step);
    throw err;
  }
}
