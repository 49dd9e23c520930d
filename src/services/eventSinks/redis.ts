/**
 * The Redis Streams sink: one XADD per event (in one pipeline per batch, in delivery order) with
 * the fields id, seq, tenant, type, occurred_at and data (JSON). Entry ids are Redis's own (`*`):
 * consumers de-duplicate on the `id` field, as a redelivered batch adds its entries again.
 */
import { Redis } from 'ioredis';
import type { EventSink, UsageEvent } from './types';

export interface RedisSinkSettings {
  name: string;
  url: string;
  stream: string;
  /** XADD MAXLEN ~ this (approximate trimming: cheap). */
  maxLen?: number;
}

export function createRedisSink(s: RedisSinkSettings): EventSink {
  const redis = new Redis(s.url, {
    lazyConnect: true,
    // A Redis that is down fails the send soon (the deliverer retries it with backoff) rather
    // than queueing commands without end.
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Connection errors surface as failed sends; the client's own event must not crash the process.
  redis.on('error', () => undefined);
  return {
    name: s.name,
    async send(events: readonly UsageEvent[]) {
      if (!events.length) return;
      const pipeline = redis.pipeline();
      for (const e of events) {
        const fields = [
          'id',
          e.id,
          'seq',
          e.seq,
          'tenant',
          e.tenantId,
          'type',
          e.type,
          'occurred_at',
          e.occurredAt,
          'data',
          JSON.stringify(e.data),
        ];
        if (s.maxLen) pipeline.xadd(s.stream, 'MAXLEN', '~', s.maxLen, '*', ...fields);
        else pipeline.xadd(s.stream, '*', ...fields);
      }
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error('redis pipeline returned nothing');
    },
    async close() {
      redis.disconnect();
    },
  };
}
