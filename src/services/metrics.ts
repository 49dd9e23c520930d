/**
 * Prometheus metrics (`prom-client`), one registry per process, served at `/metrics`.
 * Counted where they happen: requests, their latency, fallbacks and streams in the API process;
 * provider calls in the worker. Read from the database at scrape time: breaker states, budget
 * windows and batch progress (shared state, so every process reports the same values).
 * The Temporal SDK's own worker metrics come from its runtime (SWITCHYARD_TEMPORAL_METRICS_PORT).
 */
import { ALERT_KINDS } from '../domain/alerts';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db';
import { createLogger } from '../logger';

const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const BREAKER_VALUE: Record<string, number> = { closed: 0, 'half-open': 1, open: 2 };

/** Where an error is logged and gone on past (best-effort work): a fixed set, the metric's label. */
export type SwallowedSite =
  | 'config_refresh'
  | 'config_prune'
  | 'breaker_signal'
  | 'tpm_adjust'
  | 'cache_read'
  | 'cache_entry_unreadable'
  | 'cache_write'
  | 'api_key_touch'
  | 'pg_idle_client'
  | 'session_pin_write'
  | 'llm_classifier'
  | 'alert_evaluation'
  | 'alert_open';

/**
 * Module-level (one per process, like the code that counts it: stores, clients, activities that
 * hold no Metrics), and put in each Metrics registry, so `/metrics` shows it.
 */
export const swallowedErrors = new Counter({
  name: 'switchyard_swallowed_errors_total',
  help: 'Errors logged and gone on past (best-effort work that failed), by site',
  labelNames: ['site'] as const,
  registers: [],
});

// Until the process sets its own (startSwitchyard), warnings still go somewhere.
let swallowedLogger: Pick<Logger, 'warn'> = createLogger('warn');

/** The process's logger for the warnings of `noteSwallowed` and `noteMalformedEvent`. */
export function logSwallowedTo(logger: Pick<Logger, 'warn'>): void {
  swallowedLogger = logger;
}

/** Logs (warn, with the ids given) and counts an error the caller goes on past. */
export function noteSwallowed(
  site: SwallowedSite,
  err: unknown,
  context: Record<string, unknown>,
  message: string,
): void {
  swallowedErrors.inc({ site });
  swallowedLogger.warn({ err, site, ...context }, message);
}

/**
 * A malformed event a provider's stream had, skipped or (`ends`: one past the bound) ending the
 * stream: counted and logged (warn) with the ids and why, never the event itself (it may hold part
 * of the answer).
 */
export function noteMalformedEvent(
  metrics: Pick<Metrics, 'malformedEvents'> | undefined,
  context: {
    provider: string;
    model: string;
    requestId: string;
    attempt: number;
    reason: string;
    bytes: number;
    count: number;
    ends?: true;
  },
): void {
  metrics?.malformedEvents.inc({ provider: context.provider, model: context.model });
  swallowedLogger.warn(
    context,
    context.ends
      ? 'a malformed event past the bound ended a provider stream'
      : 'skipped a malformed event in a provider stream',
  );
}

export class Metrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'switchyard_requests_total',
    help: 'Routed requests by tenant, operation, the provider and model that served them, and status',
    labelNames: ['tenant', 'operation', 'provider', 'model', 'status'] as const,
    registers: [this.registry],
  });

  readonly requestSeconds = new Histogram({
    name: 'switchyard_request_duration_seconds',
    help: 'End-to-end latency of routed requests, as the API saw them',
    labelNames: ['operation', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly providerSeconds = new Histogram({
    name: 'switchyard_provider_call_duration_seconds',
    help: 'Latency of each provider call attempt, by outcome (success or the failure type)',
    labelNames: ['provider', 'model', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly fallbacks = new Counter({
    name: 'switchyard_fallbacks_total',
    help: 'Candidates given up on within a request, by the failure that moved the route on',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly cacheRequests = new Counter({
    name: 'switchyard_cache_requests_total',
    help: 'Response cache lookups by operation and result (hit, miss, bypass)',
    labelNames: ['operation', 'result'] as const,
    registers: [this.registry],
  });

  readonly rateLimitWaitSeconds = new Histogram({
    name: 'switchyard_rate_limit_wait_seconds',
    help: "Time provider calls waited for their turn under their provider's rpm/tpm limits",
    labelNames: ['provider'] as const,
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 30, 60],
    registers: [this.registry],
  });

  readonly admissionWaitSeconds = new Histogram({
    name: 'switchyard_admission_wait_seconds',
    help: 'Time requests waited for an admission slot in this API process',
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60],
    registers: [this.registry],
  });

  readonly streams = new Counter({
    name: 'switchyard_streams_total',
    help: 'Streamed answers by how they ended (completed, interrupted, failed before the first piece)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly firstTokenSeconds = new Histogram({
    name: 'switchyard_stream_first_token_seconds',
    help: 'Time from the request to the first streamed piece sent to the client',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly malformedEvents = new Counter({
    name: 'switchyard_stream_malformed_events_total',
    help: 'Malformed events in provider streams (not JSON, or not the wire format), skipped; past the bound a stream ends as cut',
    labelNames: ['provider', 'model'] as const,
    registers: [this.registry],
  });

  /** Usage events out (src/services/eventDelivery.ts), per configured sink. */
  readonly eventsDelivered = new Counter({
    name: 'switchyard_events_delivered_total',
    help: 'Usage events a sink accepted (a redelivered batch counts again)',
    labelNames: ['sink'] as const,
    registers: [this.registry],
  });

  readonly eventsFailed = new Counter({
    name: 'switchyard_events_failed_sends_total',
    help: 'Failed sends of usage events to a sink (the batch is held and sent again with backoff)',
    labelNames: ['sink'] as const,
    registers: [this.registry],
  });

  readonly eventsBacklog = new Gauge({
    name: 'switchyard_events_backlog',
    help: 'Usage events on record that a sink has not accepted yet',
    labelNames: ['sink'] as const,
    registers: [this.registry],
  });

  readonly swallowedErrors = swallowedErrors;

  constructor(db?: Db) {
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
    this.registry.registerMetric(swallowedErrors);
    if (!db) return;
    new Gauge({
      name: 'switchyard_breaker_state',
      help: 'Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open',
      labelNames: ['endpoint'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db.query<{ endpoint: string; status: string }>(
          'select endpoint, status from breaker_states',
        );
        for (const r of rows.rows) this.set({ endpoint: r.endpoint }, BREAKER_VALUE[r.status] ?? 0);
      },
    });
    const windows = () =>
      db.query<{ scope: string; period: string; limit_usd: string; spent_usd: string; reserved_usd: string }>(
        `select scope, period, limit_usd::text, spent_usd::text, reserved_usd::text from budget_windows
          where window_start <= now() and window_end > now()`,
      );
    new Gauge({
      name: 'switchyard_budget_spent_usd',
      help: 'Spent in the current budget window, per scope (tenant or user) and period',
      labelNames: ['scope', 'window'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const r of (await windows()).rows) this.set({ scope: r.scope, window: r.period }, Number(r.spent_usd));
      },
    });
    new Gauge({
      name: 'switchyard_budget_remaining_usd',
      help: 'Left in the current budget window (limit − spent − reserved), per scope and period',
      labelNames: ['scope', 'window'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const r of (await windows()).rows)
          this.set(
            { scope: r.scope, window: r.period },
            Number(r.limit_usd) - Number(r.spent_usd) - Number(r.reserved_usd),
          );
      },
    });
    new Gauge({
      name: 'switchyard_alerts_open',
      help: 'Open alert episodes by kind (provider_down, budget_threshold, budget_exhausted, latency_slo, rate_limit_near)',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const res = await db.query<{ kind: string; n: string }>(
          'select kind, count(*)::text as n from alerts where resolved_at is null group by kind',
        );
        for (const k of ALERT_KINDS) this.set({ kind: k }, 0);
        for (const r of res.rows) this.set({ kind: r.kind }, Number(r.n));
      },
    });
    new Gauge({
      name: 'switchyard_batch_items',
      help: 'Items of unfinished batches (queued, running, waiting) by state: done, failed, pending',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const res = await db.query<{ total: string; done: string; failed: string }>(
          `with open as (select id, total from batches where status in ('queued', 'running', 'waiting'))
           select (select coalesce(sum(total), 0) from open)::text as total,
                  count(*) filter (where r.ok)::text as done,
                  count(*) filter (where not r.ok)::text as failed
             from batch_results r join open o on o.id = r.batch_id`,
        );
        const row = res.rows[0] ?? { total: '0', done: '0', failed: '0' };
        const done = Number(row.done);
        const failed = Number(row.failed);
        this.set({ state: 'done' }, done);
        this.set({ state: 'failed' }, failed);
        this.set({ state: 'pending' }, Math.max(0, Number(row.total) - done - failed));
      },
    });
  }
}
