/**
 * The usageEvents workflow's one activity: delivers the outbox to the configured sinks for a few
 * minutes (polling every `events.pollMs` while idle, at once while a sink has a full batch more),
 * heartbeating as it goes, then returns for the workflow to start it again. Cheap in Temporal
 * actions (one activity per run, not a timer per poll), and a worker killed mid-run costs one
 * heartbeat timeout: the retry on another worker reads each sink's cursor from the database.
 */
import { Context, log } from '@temporalio/activity';
import { eventsOf } from '../src/domain/events';
import { EventDeliverer } from '../src/services/eventDelivery';
import type { ActivityDeps } from './deps';

/** How often the backlog gauges are measured while delivering. */
const MEASURE_EVERY_MS = 5_000;

export interface DeliverUsageEventsInput {
  /** How long this run delivers before it returns (default 5 minutes). */
  runForMs?: number;
}

export function createUsageEventActivities(deps: ActivityDeps) {
  return {
    async deliverUsageEvents(input: DeliverUsageEventsInput = {}): Promise<{ delivered: number; failedSends: number }> {
      const ctx = Context.current();
      const deliverer = new EventDeliverer({
        db: deps.db,
        sinkContext: { env: process.env, ...(deps.urlPolicy && { urlPolicy: deps.urlPolicy }) },
        ...(deps.metrics && { metrics: deps.metrics }),
        onSinkError: (sink, failures, message) =>
          log.warn('usage events: a sink refused a batch; its backlog is held and retried', {
            sink,
            failures,
            error: message,
          }),
        onSinkRecovered: (sink, failures) => log.info('usage events: a sink is accepting again', { sink, failures }),
      });
      const until = Date.now() + (input.runForMs ?? 5 * 60_000);
      let delivered = 0;
      let failedSends = 0;
      let measuredAt = 0;
      // Heartbeats say the worker lives, not that a send is quick: one every few seconds, also
      // while a slow sink's send is in flight (the heartbeat timeout is 15 s).
      const beat = setInterval(() => ctx.heartbeat({ delivered }), 3_000);
      try {
        while (Date.now() < until) {
          ctx.heartbeat({ delivered });
          const settings = eventsOf(deps.config().config);
          const r = await deliverer.tick(settings);
          delivered += r.delivered;
          failedSends += r.failed;
          if (Date.now() - measuredAt >= MEASURE_EVERY_MS) {
            measuredAt = Date.now();
            await deliverer.measureBacklog();
          }
          // Rejects when the activity is cancelled (the worker is shutting down): the run ends.
          if (!r.more) await ctx.sleep(settings.pollMs);
        }
      } finally {
        clearInterval(beat);
        await deliverer.close();
      }
      return { delivered, failedSends };
    },
  };
}
