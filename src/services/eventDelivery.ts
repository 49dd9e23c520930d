/**
 * Delivers the usage-event outbox (src/db/eventOutbox.ts) to the configured sinks, one step at a
 * time (`tick`), for the usageEvents activity to run in a loop. Each sink has its own cursor and
 * its own state: a sink that fails stops at the failed batch (its cursor does not move, so the
 * backlog is held in order) and is retried with backoff, while the others carry on. A batch is
 * sent before its cursor moves: a crash in between sends it again (at least once; consumers
 * de-duplicate on the event id).
 */
import type { Db } from '../db';
import * as outbox from '../db/eventOutbox';
import { sinkRetryDelayMs, type EventSettings, type EventSinkSettings } from '../domain/events';
import { createKafkaSink } from './eventSinks/kafka';
import { createRedisSink } from './eventSinks/redis';
import type { EventSink } from './eventSinks/types';
import { createWebhookSink } from './eventSinks/webhook';
import type { Metrics } from './metrics';
import { UrlPolicy } from './urlPolicy';

export interface SinkContext {
  /** Where webhooks may point (absent: public addresses only). */
  urlPolicy?: UrlPolicy;
  /** Where secret names are looked up (the worker's environment). */
  env: Record<string, string | undefined>;
}

/** The sink a configuration entry describes; throws when it cannot be built (a secret not set). */
export function createEventSink(s: EventSinkSettings, ctx: SinkContext): EventSink {
  switch (s.type) {
    case 'webhook': {
      const secret = s.secretName ? ctx.env[s.secretName] : undefined;
      if (s.secretName && !secret) throw new Error(`environment variable ${s.secretName} (the HMAC key) is not set`);
      return createWebhookSink({
        name: s.name,
        url: s.url,
        policy: ctx.urlPolicy ?? new UrlPolicy(),
        ...(secret && { secret }),
      });
    }
    case 'redis': {
      const url = ctx.env[s.urlName];
      if (!url) throw new Error(`environment variable ${s.urlName} (the Redis URL) is not set`);
      return createRedisSink({ name: s.name, url, stream: s.stream, ...(s.maxLen && { maxLen: s.maxLen }) });
    }
    case 'kafka': {
      const password = s.sasl ? ctx.env[s.sasl.passwordName] : undefined;
      if (s.sasl && !password)
        throw new Error(`environment variable ${s.sasl.passwordName} (the Kafka password) is not set`);
      return createKafkaSink({
        name: s.name,
        brokers: s.brokers,
        topic: s.topic,
        ...(s.clientId && { clientId: s.clientId }),
        ...(s.ssl !== undefined && { ssl: s.ssl }),
        ...(s.sasl && password && { sasl: { mechanism: s.sasl.mechanism, username: s.sasl.username, password } }),
        // Well inside the activity's heartbeat timeout: a broker that is down fails the send soon.
        requestTimeoutMs: 10_000,
      });
    }
  }
}

interface SinkState {
  settings: EventSinkSettings;
  key: string;
  sink?: EventSink;
  /** The cursor as this process last read or moved it (reloaded after a failure). */
  cursor?: number;
  failures: number;
  retryAt: number;
  lastError?: string;
}

export interface TickResult {
  delivered: number;
  failed: number;
  /** Some sink has a full batch more ready now (loop again at once). */
  more: boolean;
}

export interface EventDelivererOptions {
  db: Db;
  sinkContext: SinkContext;
  metrics?: Metrics;
  /** Told of a sink's failures (the first of a run and then every tenth) and of its recovery. */
  onSinkError?: (sink: string, failures: number, message: string) => void;
  onSinkRecovered?: (sink: string, failures: number) => void;
  make?: (s: EventSinkSettings, ctx: SinkContext) => EventSink;
  now?: () => number;
}

export class EventDeliverer {
  private readonly sinks = new Map<string, SinkState>();
  private readonly now: () => number;
  private readonly make: (s: EventSinkSettings, ctx: SinkContext) => EventSink;

  constructor(private readonly opts: EventDelivererOptions) {
    this.now = opts.now ?? Date.now;
    this.make = opts.make ?? createEventSink;
  }

  /** The sinks' failure state, for tests and logs. */
  state(): Array<{ name: string; failures: number; lastError?: string }> {
    return [...this.sinks.values()].map((s) => ({
      name: s.settings.name,
      failures: s.failures,
      ...(s.lastError && { lastError: s.lastError }),
    }));
  }

  /** One step: sequence what committed, then each sink (concurrently) its next batch. */
  async tick(settings: EventSettings): Promise<TickResult> {
    await this.sync(settings);
    if (!this.sinks.size) return { delivered: 0, failed: 0, more: false };
    await this.opts.db.transaction((tx) => outbox.sequenceEvents(tx));
    const results = await Promise.all([...this.sinks.values()].map((s) => this.deliver(s, settings.batchSize)));
    return {
      delivered: results.reduce((n, r) => n + r.delivered, 0),
      failed: results.filter((r) => r.failed).length,
      more: results.some((r) => r.more),
    };
  }

  /** Sets the backlog gauge of each sink. */
  async measureBacklog(): Promise<Record<string, number>> {
    const backlog = await outbox.backlogs(this.opts.db, [...this.sinks.keys()]);
    for (const [sink, n] of Object.entries(backlog)) this.opts.metrics?.eventsBacklog.set({ sink }, n);
    return backlog;
  }

  async close(): Promise<void> {
    const open = [...this.sinks.values()].flatMap((s) => (s.sink ? [s.sink] : []));
    await Promise.all(open.map((sink) => sink.close().catch(() => undefined)));
    this.sinks.clear();
  }

  /** Follows the configuration: a changed sink is built again, a removed one closed. */
  private async sync(settings: EventSettings): Promise<void> {
    const wanted = new Map(settings.sinks.map((s) => [s.name, s]));
    for (const [name, state] of this.sinks) {
      const next = wanted.get(name);
      if (next && JSON.stringify(next) === state.key) continue;
      await state.sink?.close().catch(() => undefined);
      this.sinks.delete(name);
      this.opts.metrics?.eventsBacklog.remove({ sink: name });
    }
    for (const [name, s] of wanted)
      if (!this.sinks.has(name)) this.sinks.set(name, { settings: s, key: JSON.stringify(s), failures: 0, retryAt: 0 });
  }

  private async deliver(
    s: SinkState,
    batchSize: number,
  ): Promise<{ delivered: number; failed: boolean; more: boolean }> {
    const name = s.settings.name;
    if (this.now() < s.retryAt) return { delivered: 0, failed: false, more: false };
    try {
      s.sink ??= this.make(s.settings, this.opts.sinkContext);
      s.cursor ??= await outbox.sinkCursor(this.opts.db, name);
      const events = await outbox.eventsAfter(this.opts.db, s.cursor, batchSize);
      if (!events.length) return { delivered: 0, failed: false, more: false };
      await s.sink.send(events);
      const last = Number(events[events.length - 1]!.seq);
      await outbox.advanceCursor(this.opts.db, name, last);
      s.cursor = last;
      this.opts.metrics?.eventsDelivered.inc({ sink: name }, events.length);
      if (s.failures) this.opts.onSinkRecovered?.(name, s.failures);
      s.failures = 0;
      delete s.lastError;
      return { delivered: events.length, failed: false, more: events.length === batchSize };
    } catch (err) {
      s.failures++;
      s.retryAt = this.now() + sinkRetryDelayMs(s.failures);
      s.lastError = err instanceof Error ? err.message : String(err);
      // Read again next time: another deliverer (a retried activity) may have moved it.
      delete s.cursor;
      this.opts.metrics?.eventsFailed.inc({ sink: name });
      if (s.failures === 1 || s.failures % 10 === 0) this.opts.onSinkError?.(name, s.failures, s.lastError);
      return { delivered: 0, failed: true, more: false };
    }
  }
}
