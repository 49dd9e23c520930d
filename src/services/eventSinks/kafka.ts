/**
 * The Kafka event sink (kafkajs): each usage event becomes one record on the configured topic,
 * keyed by tenant (so one tenant's events share a partition and keep their order), valued with the
 * event as JSON, with the event id in an `event-id` header for consumers that de-duplicate.
 *
 * At-least-once: `send` resolves only once the broker acknowledged every record from all in-sync
 * replicas (acks -1). The producer is idempotent with one request in flight, so the broker's own
 * retries neither reorder nor duplicate within a session. When a send fails (broker gone, retries
 * spent) it rejects and the producer is dropped; the next send starts a fresh one, and the caller
 * redelivers the same events (duplicates are possible then; consumers de-duplicate on the id).
 */
import { Kafka, Partitioners, logLevel, type LogEntry, type Producer, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { EventSink, UsageEvent } from './types';

/** host:port, as kafkajs takes a broker (IPv6 literals in brackets). */
const BrokerAddress = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9092');

export const KafkaSinkSettingsSchema = z.object({
  name: z.string().min(1).default('kafka'),
  brokers: z.array(BrokerAddress).min(1),
  topic: z
    .string()
    .min(1)
    .max(249)
    .regex(/^[A-Za-z0-9._-]+$/, 'Kafka topic names use letters, digits, ".", "_" and "-"'),
  clientId: z.string().min(1).default('switchyard'),
  /** TLS to the brokers with the system's CAs. */
  ssl: z.boolean().default(false),
  sasl: z
    .object({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: z.string().min(1),
    })
    .optional(),
  /** How many times kafkajs retries a failed request before `send` rejects (the caller redelivers). */
  retries: z.number().int().min(0).max(100).default(5),
  connectionTimeoutMs: z.number().int().positive().default(3000),
  requestTimeoutMs: z.number().int().positive().default(30_000),
});

export type KafkaSinkSettings = z.input<typeof KafkaSinkSettingsSchema>;

export interface KafkaSinkOptions {
  /** Where kafkajs' warnings and errors go; silent without one. */
  logger?: Logger;
  /** The client to use instead of `new Kafka(config)` (the unit tests' fake). */
  kafka?: Pick<Kafka, 'producer'>;
}

/** The record an event becomes: exported so consumers and tests read it the way it is written. */
export function toKafkaMessage(event: UsageEvent) {
  return {
    key: event.tenantId,
    value: JSON.stringify(event),
    headers: { 'event-id': event.id, 'event-type': event.type },
  };
}

function pinoLogCreator(logger: Logger | undefined) {
  return () =>
    ({ level, log, namespace }: LogEntry) => {
      if (!logger) return;
      const { message, ...extra } = log;
      const fields = { sink: 'kafka', namespace, ...extra };
      if (level === logLevel.ERROR) logger.error(fields, message);
      else if (level === logLevel.WARN) logger.warn(fields, message);
      else logger.debug(fields, message);
    };
}

export function createKafkaSink(settings: KafkaSinkSettings, options: KafkaSinkOptions = {}): EventSink {
  const s = KafkaSinkSettingsSchema.parse(settings);
  // Bounded, unlike kafkajs' idempotent default (retry forever): a dead broker must make `send`
  // fail within seconds so the delivery workflow backs off, rather than hang its activity.
  const retry = { retries: s.retries, initialRetryTime: 200, maxRetryTime: 2000 };
  const kafka =
    options.kafka ??
    new Kafka({
      clientId: s.clientId,
      brokers: s.brokers,
      ssl: s.ssl,
      sasl: s.sasl as SASLOptions | undefined,
      connectionTimeout: s.connectionTimeoutMs,
      requestTimeout: s.requestTimeoutMs,
      // The client's own retries (connecting, metadata) too, or they multiply the producer's.
      retry,
      logLevel: logLevel.WARN,
      logCreator: pinoLogCreator(options.logger),
    });

  let producer: Promise<Producer> | undefined;
  let closed = false;

  const connect = (): Promise<Producer> => {
    if (!producer) {
      const p = kafka.producer({
        idempotent: true,
        // Idempotence keeps order only with one request in flight per connection.
        maxInFlightRequests: 1,
        // The Java client's partitioner: a tenant's key lands where a Java producer would put it.
        createPartitioner: Partitioners.DefaultPartitioner,
        retry,
      });
      producer = p.connect().then(
        () => p,
        (err: unknown) => {
          producer = undefined;
          throw err;
        },
      );
    }
    return producer;
  };

  const discard = async () => {
    const p = producer;
    producer = undefined;
    if (p) await p.then((x) => x.disconnect()).catch(() => undefined);
  };

  return {
    name: s.name,
    async send(events) {
      if (closed) throw new Error(`Kafka sink '${s.name}' is closed.`);
      if (events.length === 0) return;
      try {
        const p = await connect();
        // One request for the whole batch: kafkajs splits it per partition, keeping the given order in each.
        await p.send({ topic: s.topic, acks: -1, messages: events.map(toKafkaMessage) });
      } catch (err) {
        // A fresh producer (and producer id) next time: after a failed send the old session's
        // sequence numbers may no longer match what the broker holds.
        await discard();
        throw err;
      }
    },
    async close() {
      closed = true;
      await discard();
    },
  };
}
