/**
 * A worker's (or the API's) view of the breakers, and how outcomes reach them.
 *
 * Reading: routing reads the `breaker_states` projection the providerHealth entities publish on
 * every transition: one read of the table per `cacheMs` (1 s) per process, single-flight, never a
 * workflow query per request. Queries (`query`, `snapshots`) are for operators and tests.
 *
 * Writing: a workflow takes only a few signals per second, so outcomes are batched per endpoint:
 * failures are flushed within `failureFlushMs` (200 ms) — a breaker hears of trouble promptly —
 * and successes are counted and flushed every `successFlushMs` (2 s). Probe outcomes go at once.
 * Per endpoint and per worker process that is at most 5 failure signals and 0.5 success signals
 * per second, whatever the request rate (see the signal-rate table in docs/configuration.md, "Circuit breakers").
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Queryable } from '../db';
import { listBreakerStates } from '../db/breakerStates';
import type { Catalog } from '../domain/catalog';
import type { BreakerSettings, BreakerSnapshot, Outcomes } from '../domain/breaker';
import { BLOCKED_FOREVER, type HealthView } from '../domain/policy';
import { FreshCache } from '../services/freshCache';
import type { HealthPort, Outcome } from '../services/healthPort';
import { noteSwallowed } from '../services/metrics';
import { forceUpdate, outcomesSignal, probeUpdate, providerHealth, stateQuery } from '../../workflows/providerHealth';

export interface HealthOptions {
  cacheMs?: number;
  failureFlushMs?: number;
  successFlushMs?: number;
}

export const healthWorkflowId = (endpoint: string): string => `health-${endpoint.replace(/[^A-Za-z0-9._-]/g, '-')}`;

export type { Outcome } from '../services/healthPort';

/** Outcomes that did not reach their breaker (Temporal away): the breaker decides without them. */
const lost = (err: unknown, endpoint?: string): void =>
  noteSwallowed('breaker_signal', err, { endpoint }, 'outcomes were not signalled to the breaker');

export class HealthClient implements HealthPort {
  /** What this process learned first-hand (a probe grant, a force), ahead of the projection. */
  private readonly local = new Map<string, { at: number; snapshot: BreakerSnapshot }>();
  /** The projection: one read of the whole table per `cacheMs`, shared by concurrent callers. */
  private readonly projection: FreshCache<Map<string, BreakerSnapshot>>;
  private readonly pending = new Map<
    string,
    { failures: Outcomes['failures']; successes: { count: number; latencySumMs: number } }
  >();
  private failureTimer: NodeJS.Timeout | undefined;
  private readonly successTimer: NodeJS.Timeout;
  private readonly opts: Required<HealthOptions>;

  constructor(
    private readonly client: Client,
    private readonly db: Queryable,
    private readonly taskQueue: string,
    private readonly settings: () => BreakerSettings,
    opts: HealthOptions = {},
  ) {
    this.opts = { cacheMs: 1_000, failureFlushMs: 200, successFlushMs: 2_000, ...opts };
    this.projection = new FreshCache(this.opts.cacheMs);
    this.successTimer = setInterval(() => void this.flush().catch(lost), this.opts.successFlushMs);
    this.successTimer.unref();
  }

  private startOptions(endpoint: string) {
    return {
      taskQueue: this.taskQueue,
      workflowId: healthWorkflowId(endpoint),
      args: [{ endpoint, settings: this.settings() }] as [Parameters<typeof providerHealth>[0]],
    };
  }

  /**
   * The routing view of one breaker, from the projection the entities publish (one read of the
   * whole table per `cacheMs` per process, shared by concurrent callers); undefined: never failed.
   */
  async snapshot(endpoint: string, maxAgeMs = this.opts.cacheMs): Promise<BreakerSnapshot | undefined> {
    const local = this.local.get(endpoint);
    if (local && Date.now() - local.at < maxAgeMs) return local.snapshot;
    return (await this.projected(maxAgeMs)).get(endpoint);
  }

  private projected(maxAgeMs: number): Promise<Map<string, BreakerSnapshot>> {
    return this.projection.get(
      'all',
      async () => new Map((await listBreakerStates(this.db)).map((r) => [r.endpoint, r])),
      maxAgeMs,
    );
  }

  /** The live state, queried from the entity (operators' view: `GET /v1/providers`); undefined: none yet. */
  async query(endpoint: string): Promise<BreakerSnapshot | undefined> {
    try {
      return await this.client.workflow.getHandle(healthWorkflowId(endpoint)).query(stateQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** Live states of several endpoints, queried (operators' view). */
  async snapshots(endpoints: string[]): Promise<Record<string, BreakerSnapshot | undefined>> {
    const all = await Promise.all(endpoints.map(async (e) => [e, await this.query(e)] as const));
    return Object.fromEntries(all);
  }

  /** The policy's input for a catalog: its active endpoints whose breaker is open. */
  async viewOf(catalog: Catalog): Promise<HealthView> {
    return this.view(catalog.models.filter((m) => m.status === 'active').map((m) => m.id));
  }

  /** The policy's input: endpoints whose breaker is open. */
  async view(endpoints: string[]): Promise<HealthView> {
    // Per endpoint (what this process learned first-hand wins), all from one projection read.
    const snaps = Object.fromEntries(
      await Promise.all(endpoints.map(async (e) => [e, await this.snapshot(e)] as const)),
    );
    const blocked: NonNullable<HealthView['blocked']> = {};
    for (const [e, s] of Object.entries(snaps)) {
      if (s?.status !== 'open') continue;
      // Forced open stays open until an operator closes it, whatever its cooldown said.
      if (s.forced?.status === 'open')
        blocked[e] = { until: BLOCKED_FOREVER, why: `breaker forced open: ${s.forced.reason}` };
      else if (s.openUntil) blocked[e] = { until: s.openUntil, why: `breaker open until ${s.openUntil}` };
    }
    return { blocked };
  }

  /** Asks a half-open breaker for a probe slot. */
  async requestProbe(endpoint: string): Promise<boolean> {
    const handle = await this.ensureStarted(endpoint);
    const r = await handle.executeUpdate(probeUpdate);
    this.local.set(endpoint, { at: Date.now(), snapshot: r.snapshot });
    return r.granted;
  }

  async force(endpoint: string, status: 'open' | 'closed', reason: string): Promise<BreakerSnapshot> {
    const handle = await this.ensureStarted(endpoint);
    const snap = await handle.executeUpdate(forceUpdate, { args: [{ status, reason }] });
    this.local.set(endpoint, { at: Date.now(), snapshot: snap });
    return snap;
  }

  private async ensureStarted(endpoint: string) {
    return this.client.workflow.start(providerHealth, {
      ...this.startOptions(endpoint),
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  }

  report(endpoint: string, o: Outcome): void {
    if (o.probe) {
      const outcomes: Outcomes = o.ok
        ? { failures: [], successes: { count: 1, latencySumMs: o.latencyMs, at: Date.now() }, probe: true }
        : {
            failures: [{ at: Date.now(), type: o.type ?? 'Unknown', message: o.message ?? '', latencyMs: o.latencyMs }],
            probe: true,
          };
      this.forget(endpoint);
      void this.send(endpoint, outcomes).catch((err: unknown) => lost(err, endpoint));
      return;
    }
    const p = this.pending.get(endpoint) ?? { failures: [], successes: { count: 0, latencySumMs: 0 } };
    if (o.ok) {
      p.successes.count++;
      p.successes.latencySumMs += o.latencyMs;
    } else {
      p.failures.push({ at: Date.now(), type: o.type ?? 'Unknown', message: o.message ?? '', latencyMs: o.latencyMs });
      this.failureTimer ??= setTimeout(() => {
        this.failureTimer = undefined;
        void this.flush().catch(lost);
      }, this.opts.failureFlushMs);
    }
    this.pending.set(endpoint, p);
  }

  /** Sends every pending batch: one signal per endpoint. */
  async flush(): Promise<void> {
    const batches = [...this.pending];
    this.pending.clear();
    await Promise.all(
      batches.map(([endpoint, p]) => {
        if (p.failures.length === 0 && p.successes.count === 0) return Promise.resolve();
        return this.send(endpoint, {
          failures: p.failures,
          ...(p.successes.count > 0 && { successes: { ...p.successes, at: Date.now() } }),
        });
      }),
    );
  }

  private async send(endpoint: string, outcomes: Outcomes): Promise<void> {
    // Signal-with-start: the first outcome for an endpoint starts its providerHealth entity.
    await this.client.workflow.signalWithStart(providerHealth, {
      ...this.startOptions(endpoint),
      signal: outcomesSignal,
      signalArgs: [outcomes],
    });
    if (outcomes.failures.length) this.forget(endpoint);
  }

  /** After a failure: read the projection again rather than trust what this process cached. */
  private forget(endpoint: string): void {
    this.local.delete(endpoint);
    this.projection.forget();
  }

  async stop(): Promise<void> {
    clearInterval(this.successTimer);
    clearTimeout(this.failureTimer);
    await this.flush().catch(lost);
  }
}
