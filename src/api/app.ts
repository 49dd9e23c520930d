/** The Express app: a Temporal client with thin handlers that parse, validate and delegate. */
import type { Client } from '@temporalio/client';
import express from 'express';
import type { Logger } from 'pino';
import type { Db } from '../db';
import type { StreamRelay } from '../services/streamRelay';
import type { HealthSources } from '../services/dependencyHealth';
import type { Metrics } from '../services/metrics';
import type { ConfigStore } from '../services/configStore';
import type { HealthClient } from '../clients/providerHealth';
import type { UrlPolicy } from '../services/urlPolicy';
import type { LimitStore } from '../services/limitStore';
import type { SecretStore } from '../services/secretStore';
import type { Tracing } from '../services/tracing';
import { admit, type Admission } from './admission';
import { serverSpans } from './serverSpan';
import type { BatchSettings } from './batchIntake';
import { bodyIdleTimeout, DEFAULT_BODY_IDLE_MS, jsonBody } from './bodyStream';
import { batchRoutes } from './routes/batches';
import { openaiBatchRoutes } from './routes/openaiBatches';
import { requireApiKey } from './auth';
import { guardInput, guardPath } from './inputGuard';
import { Limits, type LimitSettings } from './limits';
import { UploadSlots } from './uploadSlots';
import { errorHandler, notFound } from './errors';
import { openApiDocument, swaggerUiAssets } from './openapi';
import { mountRoutes, type RouteDoc, type RouteSpec } from './routeSpec';
import type { CacheSettings } from './cached';
import { chatRoutes } from './routes/chat';
import { healthRoutes } from './routes/health';
import { adminRoutes, itemBodyGate } from './routes/admin';
import { catalogPriceRoutes } from './routes/catalogPrices';
import { modelRoutes } from './routes/models';
import { policyRoutes } from './routes/policy';
import { budgetRoutes } from './routes/budgets';
import { alertRoutes } from './routes/alerts';
import { alertsOf } from '../domain/alerts';
import { RateLimitAlerts } from '../services/rateLimitAlerts';
import { providerRoutes } from './routes/providers';
import { anthropicMessageRoutes } from './routes/anthropicMessages';
import { embeddingRoutes } from './routes/embeddings';
import { operationRoutes } from './routes/operations';
import { respondRoutes, templateRoutes } from './routes/templates';
import { requestRoutes, type TemporalUi } from './routes/requests';
import { consoleRoutes } from './routes/console';
import { responseRoutes } from './routes/responses';
import { tenancyRoutes } from './routes/tenancy';
import { cacheRoutes } from './routes/cache';
import { analyticsRoutes } from './routes/analytics';
import { scrubBody, secretRoutes } from './routes/secrets';
import { docsRoutes } from './routes/docs';
import { metricsRoutes } from './routes/metrics';
import { consoleAssets, consoleHeaders, consoleRoutes as consolePages } from './console';

export interface ApiDeps {
  db: Db;
  client: Client;
  /** `client` shares the worker's NativeConnection: start workflows eagerly. */
  eagerStart?: boolean;
  taskQueue: string;
  requestTimeoutMs: number;
  /** A background response's deadline (`POST /v1/responses`, `background: true`); default 15 minutes. */
  backgroundTimeoutMs?: number;
  /** A tenant's background responses in flight at once (default 64). */
  maxBackgroundPerTenant?: number;
  /** Where streamed answers' pieces arrive from the workers. */
  relay?: StreamRelay;
  /** The response cache (absent: off). */
  cache?: CacheSettings;
  /** Aborted when the process stops: in-flight requests stop waiting on Temporal. */
  stopping?: AbortSignal;
  /** This process's Prometheus metrics, served at /metrics (operator key). */
  metrics?: Metrics;
  /** This process's workers (all in one), for readiness. */
  workers?: HealthSources['workers'];
  configStore: ConfigStore;
  health?: HealthClient;
  logger: Logger;
  /** Admission control of the routed endpoints (chat, operations, a response's create); none: unbounded. */
  admission?: Admission;
  /** Batch jobs' server settings (absent: the defaults). */
  batches?: BatchSettings & { urlPolicy?: UrlPolicy };
  /** Request limits for tenants whose policy sets none. */
  defaultLimits?: LimitSettings;
  /** Where those limits are counted: Redis across API processes, or this process (the default). */
  limitStore?: LimitStore;
  /** A request body that sends nothing for this long gets 408 and its connection closed (default 15 s). */
  bodyIdleMs?: number;
  /**
   * Uploads (files, batch intake): in progress per tenant (default 4); the spool's memory before
   * disk (1 MiB) and where its temporary files go (the system's temporary directory).
   */
  uploads?: { maxPerTenant?: number; spoolMemoryBytes?: number; spoolDir?: string };
  /** Provider keys stored through the operator API (absent: none can be stored). */
  secrets?: SecretStore;
  /** The Temporal UI the console links a request's workflow to (absent: no link). */
  temporalUi?: TemporalUi;
  /** OpenTelemetry (absent: off): routed requests get server spans. */
  tracing?: Tracing;
}

/** The routed endpoints (a response's create too, mounted beside them): each request a workflow. */
const ROUTED = ['/v1/chat/completions', '/v1/operations', '/v1/embeddings', '/v1/messages'];

/** The routes each app mounted, in order: what its /openapi.json documents. */
const MOUNTED = new WeakMap<express.Express, RouteDoc[]>();
export const mountedRoutes = (app: express.Express): readonly RouteDoc[] => MOUNTED.get(app) ?? [];

/**
 * The request limits of a tenant's keys (its policy's, else the defaults), counted in
 * `deps.limitStore`: HTTP and gRPC given the same store count against the same limits.
 */
export function limitsOf(deps: Pick<ApiDeps, 'db' | 'configStore' | 'defaultLimits' | 'limitStore'>): Limits {
  const rateAlerts = new RateLimitAlerts(
    deps.db,
    () => alertsOf(deps.configStore.current().config).rateLimitNearFraction,
  );
  return new Limits(
    (tenantId) => ({
      ...deps.defaultLimits,
      ...deps.configStore.current().config.tenants[tenantId]?.limits,
    }),
    deps.limitStore,
    (use) => rateAlerts.note(use),
  );
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  const mounted: RouteDoc[] = [];
  MOUNTED.set(app, mounted);
  // Each module's routes where the middleware order wants them; the document lists exactly these.
  const mount = <D>(specs: ReadonlyArray<RouteSpec<D>>, moduleDeps: D) => {
    mountRoutes(app, specs, moduleDeps);
    mounted.push(...specs);
  };
  let document: ReturnType<typeof openApiDocument> | undefined;
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const requestId = res.getHeader('x-switchyard-request-id');
      const workflowId = res.getHeader('x-switchyard-workflow-id');
      // One JSON line per request, with what finds it again (tenant, request, workflow). The body
      // and the answer only at debug level: prompts and completions are the tenants' data.
      deps.logger.info(
        {
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Math.round(ms),
          tenant: req.auth?.tenantId,
          ...(requestId !== undefined && { requestId }),
          ...(workflowId !== undefined && { workflowId }),
          ...(res.getHeader('x-switchyard-model') !== undefined && { model: res.getHeader('x-switchyard-model') }),
        },
        'request',
      );
      if (deps.logger.isLevelEnabled('debug') && req.body !== undefined)
        deps.logger.debug({ requestId, tenant: req.auth?.tenantId, body: req.body as unknown }, 'request body');
    });
    next();
  });
  // A body that stops arriving is answered 408 and let go (uploads, JSONL and JSON bodies alike).
  app.use(bodyIdleTimeout(deps.bodyIdleMs ?? DEFAULT_BODY_IDLE_MS));
  mount(healthRoutes, deps);
  // The API's description (generated from the routes mounted here, once all are) and its docs page.
  mount(docsRoutes, { openApi: () => (document ??= openApiDocument(mounted)) });
  app.use('/docs/assets', express.static(swaggerUiAssets()));
  // The console: its pages, Chart.js and sign-in (no key needed; its own headers), then its assets.
  app.use('/console', consoleHeaders);
  mount(consolePages, deps);
  app.use('/console/assets', consoleAssets);
  app.use(guardPath);
  // Tracing: each routed request in a server span, from before its key is checked to its last byte.
  if (deps.tracing) {
    const spans = serverSpans(deps.tracing);
    app.use(ROUTED, spans);
    app.post('/v1/responses', spans);
  }
  if (deps.metrics) mount(metricsRoutes, { db: deps.db, metrics: deps.metrics });
  // Authentication first: an anonymous caller's body is never parsed.
  app.use('/v1', requireApiKey(deps.db));
  const limits = limitsOf(deps);
  app.use('/v1', limits.rate);
  app.use(['/v1/admin/rules', '/v1/admin/overrides'], itemBodyGate);
  // A tenant's uploads in progress are capped before their bodies are read (inline JSON batches too).
  app.post(['/v1/files', '/v1/operations/:operation/batches'], new UploadSlots(deps.uploads?.maxPerTenant).middleware);
  app.use(jsonBody(4 * 1024 * 1024));
  app.use(guardInput);
  // Batches take their own uploads (JSONL, multipart) and are not interactive requests: outside
  // the concurrency limit and admission control of the routed endpoints.
  const batchDeps = { ...deps, batches: deps.batches ?? { maxConcurrency: 32, recheckMs: 30_000 } };
  mount(batchRoutes, batchDeps);
  mount(openaiBatchRoutes, batchDeps);
  app.use(ROUTED, limits.concurrency);
  if (deps.admission) app.use(ROUTED, admit(deps.admission, deps.metrics));
  // Responses: a create is routed work, and a GET stream holds a slot as a streamed create does
  // (it keeps a Temporal long poll open). Plain polls, cancels and deletes hold none (a client
  // polling a background response would otherwise hold one for as long as it runs).
  app.post('/v1/responses', limits.concurrency);
  app.get('/v1/responses/:id', (req, res, next) =>
    req.query.stream === 'true' ? limits.concurrency(req, res, next) : next(),
  );
  if (deps.admission) app.post('/v1/responses', admit(deps.admission, deps.metrics));
  mount(chatRoutes, deps);
  // Ahead of `/v1/operations/:operation`, which would take `respond` for an unknown operation.
  mount(respondRoutes, deps);
  mount(operationRoutes, deps);
  mount(embeddingRoutes, deps);
  mount(anthropicMessageRoutes, deps);
  mount(responseRoutes, deps);
  mount(policyRoutes, deps);
  // Ahead of the admin routes, as ever; a stored value leaves the request on the whole prefix, ahead
  // of the operator check and of the 404, so even a refused or unrouted call is logged without it.
  app.use('/v1/admin/secrets', scrubBody);
  mount(secretRoutes, deps);
  mount(adminRoutes, deps);
  mount(catalogPriceRoutes, deps);
  mount(providerRoutes, deps);
  mount(budgetRoutes, deps);
  mount(alertRoutes, deps);
  mount(modelRoutes, deps);
  mount(consoleRoutes, deps);
  mount(requestRoutes, deps);
  mount(tenancyRoutes, deps);
  mount(cacheRoutes, deps);
  mount(analyticsRoutes, deps);
  mount(templateRoutes, deps);
  app.use(notFound);
  app.use(errorHandler((err) => deps.logger.error({ err }, 'unhandled error')));
  return app;
}
