/**
 * Usage events out (docs/events.md): where they go (the runtime configuration's `events.sinks`)
 * and how a sink that failed is retried. Secrets are never inline: a webhook's HMAC key and a
 * Redis URL (which may hold a password) are named by the environment variable that holds them.
 */
import { z } from 'zod';

const EnvName = z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'an environment variable name (A-Z, 0-9, _)');
/** A sink's name keys its delivery cursor: renaming a sink starts it again from the first event. */
const SinkName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a sink name (a-z, 0-9, _ and -, ≤ 63)');

export const WebhookSinkSchema = z
  .object({
    name: SinkName,
    type: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/ }),
    /** The worker's environment variable holding the HMAC-SHA256 key (absent: unsigned). */
    secretName: EnvName.optional(),
  })
  .strict();

export const RedisSinkSchema = z
  .object({
    name: SinkName,
    type: z.literal('redis'),
    /** The worker's environment variable holding the redis:// URL. */
    urlName: EnvName.default('REDIS_URL'),
    /** The stream key events are added to (XADD). */
    stream: z.string().min(1).max(256),
    /** Trim the stream to about this many entries (XADD MAXLEN ~); absent: never trimmed. */
    maxLen: z.number().int().min(1).max(1_000_000_000).optional(),
  })
  .strict();

export const KafkaSinkSchema = z
  .object({
    name: SinkName,
    type: z.literal('kafka'),
    brokers: z
      .array(z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port'))
      .min(1)
      .max(20),
    topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name'),
    clientId: z.string().min(1).max(100).optional(),
    /** TLS to the brokers with the system's CAs. */
    ssl: z.boolean().optional(),
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1).max(256),
        /** The worker's environment variable holding the password. */
        passwordName: EnvName,
      })
      .strict()
      .optional(),
  })
  .strict();

export const EventSinkSchema = z.discriminatedUnion('type', [WebhookSinkSchema, RedisSinkSchema, KafkaSinkSchema]);
export type EventSinkSettings = z.infer<typeof EventSinkSchema>;

export const EventSettingsSchema = z
  .object({
    sinks: z.array(EventSinkSchema).max(10).default([]),
    /** How often an idle deliverer looks for new events (ms). */
    pollMs: z.number().int().min(50).max(60_000).default(500),
    /** Events per send (a webhook POST, a Redis pipeline). */
    batchSize: z.number().int().min(1).max(1_000).default(100),
  })
  .strict()
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.sinks.forEach((sink, i) => {
      if (seen.has(sink.name))
        ctx.addIssue({ code: 'custom', path: ['sinks', i, 'name'], message: `duplicate sink name '${sink.name}'` });
      seen.add(sink.name);
    });
  });
export type EventSettings = z.infer<typeof EventSettingsSchema>;
export const DEFAULT_EVENT_SETTINGS: EventSettings = EventSettingsSchema.parse({});

export const eventsOf = (config: { events?: EventSettings | undefined }): EventSettings =>
  config.events ?? DEFAULT_EVENT_SETTINGS;

/** The wait before retrying a sink after its `failures`-th failure in a row: 0.5 s doubling, ≤ 30 s. */
export function sinkRetryDelayMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(30_000, 500 * 2 ** Math.min(failures - 1, 16));
}
