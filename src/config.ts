/**
 * Environment → typed configuration, validated once at start. A bad value stops the process
 * with the variable's name and the reason, instead of failing later in a request.
 */
import path from 'node:path';
import { z } from 'zod';
import { TenantIdSchema } from './domain/tenant';
import { parseCacheTtl } from './services/responseCache';
import { parseMasterKey } from './services/secretBox';
import { PROJECT_ROOT } from './temporal/binaries';

/** A background response's deadline when `SWITCHYARD_BACKGROUND_TIMEOUT_MS` is unset (15 minutes). */
export const DEFAULT_BACKGROUND_TIMEOUT_MS = 900_000;
/** A tenant's background responses in flight when `SWITCHYARD_MAX_BACKGROUND_PER_TENANT` is unset. */
export const DEFAULT_MAX_BACKGROUND_PER_TENANT = 64;

const port = z.coerce.number().int().min(1).max(65535);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== '' ? v.trim() : undefined));

const otlpProtocol = z
  .enum(['http/protobuf', 'http/json'], {
    message: "OTLP is sent over HTTP: 'http/protobuf' or 'http/json' (gRPC is not offered)",
  })
  .optional();

export const EnvSchema = z.object({
  PORT: port.default(8080),
  /** The Temporal SDK's worker metrics in Prometheus format on this port (`/metrics`); unset: off. */
  SWITCHYARD_TEMPORAL_METRICS_PORT: port.optional(),
  /** The worker process's own health endpoints (`/health`, `/health/ready`, `/health/detailed`); unset: none. */
  SWITCHYARD_WORKER_HEALTH_PORT: port.optional(),
  /** The API process's gRPC API (proto/switchyard/v1) on this port, next to HTTP on PORT (0: any free port); unset: no gRPC server. */
  SWITCHYARD_GRPC_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HOST: z.string().default('127.0.0.1'),
  SWITCHYARD_DATA_DIR: z.string().default(path.join(PROJECT_ROOT, '.data')),
  SWITCHYARD_BOOTSTRAP_KEY: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  SWITCHYARD_BOOTSTRAP_TENANT: TenantIdSchema.default('default'),
  /**
   * The key provider keys stored through the operator API are encrypted under (AES-256-GCM): 32
   * bytes as base64 or hex, the same on the API and worker processes. Unset: no key can be stored.
   */
  SWITCHYARD_MASTER_KEY: optionalString.transform((v, ctx) => {
    if (v === undefined) return undefined;
    try {
      return parseMasterKey(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  }),
  SWITCHYARD_TASK_QUEUE: z.string().default('switchyard-route'),
  SWITCHYARD_REQUEST_TIMEOUT_MS: z.coerce.number().int().positive().default(120_000),
  SWITCHYARD_PROVIDER_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
  /**
   * A background response's deadline (`POST /v1/responses` with `background: true`), in place of
   * SWITCHYARD_REQUEST_TIMEOUT_MS; `X-Switchyard-Timeout-Ms` may shorten it. At most a day: the
   * workflow, its row and a later `GET ?stream=true` all wait on it.
   */
  SWITCHYARD_BACKGROUND_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .positive()
    .max(86_400_000)
    .default(DEFAULT_BACKGROUND_TIMEOUT_MS),
  /**
   * A tenant's background responses in flight at once (received or running); one more create
   * with `background: true` is a 429 `too_many_background_responses`. A background create
   * returns at once, so the concurrency limit does not bound them.
   */
  SWITCHYARD_MAX_BACKGROUND_PER_TENANT: z.coerce
    .number()
    .int()
    .positive()
    .max(100_000)
    .default(DEFAULT_MAX_BACKGROUND_PER_TENANT),
  /**
   * Redis (redis://host:port): the relay that carries streamed answers from the worker to the API
   * process. Needed when they are separate processes; without it the all-in-one process relays in memory.
   */
  REDIS_URL: optionalString,
  /** Response cache: seconds an answer is kept per operation, e.g. `summarize=3600,embed=86400` (unset: off). */
  SWITCHYARD_CACHE_TTL: optionalString.transform((v, ctx) => {
    try {
      return parseCacheTtl(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  }),
  /**
   * A streamed call with no first token in this long fails over to the next candidate. 20 s: several
   * times a slow working provider's first token (Switchyard adds ~40 ms, bench:ttft), one wait well
   * inside the request's 120 s deadline (docs/configuration.md, "Why 20 s").
   */
  SWITCHYARD_STREAM_FIRST_TOKEN_MS: z.coerce.number().int().positive().default(20_000),
  /** A streamed call that sends nothing for this long has failed (before its first token: fallback). */
  SWITCHYARD_STREAM_IDLE_MS: z.coerce.number().int().positive().default(30_000),
  /**
   * Malformed events (not JSON, or not the wire format) a streamed call skips, counted and logged;
   * one more ends the stream as a cut does. 0: the first one ends it.
   */
  SWITCHYARD_STREAM_MAX_MALFORMED: z.coerce.number().int().nonnegative().default(3),
  /** A request body that sends nothing for this long gets 408 and its connection closed (uploads included). */
  SWITCHYARD_BODY_IDLE_MS: z.coerce.number().int().positive().default(15_000),
  /** Admission control: requests routed at once by this API process; more wait in line, up to a bound. */
  SWITCHYARD_MAX_IN_FLIGHT: z.coerce.number().int().positive().default(64),
  SWITCHYARD_MAX_QUEUED: z.coerce.number().int().nonnegative().default(2_000),
  SWITCHYARD_MAX_QUEUE_WAIT_MS: z.coerce.number().int().positive().default(60_000),
  /**
   * Worker tuning (unset: the SDK's defaults). Workflow task slots and pollers on the main queue,
   * cached workflows (sticky execution: a cached workflow's next task needs no history replay).
   */
  SWITCHYARD_WORKFLOW_TASK_SLOTS: z.coerce.number().int().positive().optional(),
  SWITCHYARD_WORKFLOW_POLLERS: z.coerce.number().int().min(2).optional(),
  SWITCHYARD_ACTIVITY_POLLERS: z.coerce.number().int().positive().optional(),
  SWITCHYARD_MAX_CACHED_WORKFLOWS: z.coerce.number().int().nonnegative().optional(),
  /** Batch jobs: the most items one batch runs at once (a batch's `concurrency` is capped by it). */
  SWITCHYARD_BATCH_MAX_CONCURRENCY: z.coerce.number().int().positive().default(32),
  /** Batch requests' activity slots per worker, on the batch queue (interactive slots are separate). */
  SWITCHYARD_BATCH_SLOTS: z.coerce.number().int().positive().default(32),
  /** A waiting batch checks again whether its route has reopened at least this often. */
  SWITCHYARD_BATCH_RECHECK_MS: z.coerce.number().int().positive().default(30_000),
  /** Concurrent provider calls per provider on one worker (its bulkhead). */
  SWITCHYARD_MAX_CONCURRENT_CALLS: z.coerce.number().int().positive().default(100),
  /**
   * Where provider calls run: `shared`, the request workflow's own task queue (the server hands
   * the call over with the workflow task: ~40 ms less per request here), or `per-provider`, one
   * queue per provider (for fleets whose workers reach different providers).
   */
  SWITCHYARD_CALL_QUEUES: z.enum(['shared', 'per-provider']).default('shared'),
  /**
   * A workflow bundle built ahead (`npm run build:workflows`): the worker loads it instead of
   * bundling the workflow code at start. Production images set it; it must come from the same code.
   */
  SWITCHYARD_WORKFLOW_BUNDLE: optionalString,
  /**
   * Hosts (names, IPs or CIDR networks, comma-separated) that provider base URLs and webhooks set
   * through the API may point to although not public (loopback, private, link-local…), e.g.
   * `127.0.0.1,localhost` for a local model or `10.0.0.0/8` for a private network's.
   */
  SWITCHYARD_URL_ALLOWLIST: optionalString,
  /**
   * Request limits for tenants whose policy sets none (unset: none). Counted in Redis across API
   * processes when REDIS_URL is set, else per API process.
   */
  SWITCHYARD_KEY_REQUESTS_PER_MINUTE: z.coerce.number().int().positive().optional(),
  SWITCHYARD_TENANT_MAX_CONCURRENT: z.coerce.number().int().positive().optional(),
  /** Uploads (`/v1/files`, batch intake) a tenant may have in progress at once, per API process; more get 429. */
  SWITCHYARD_TENANT_MAX_UPLOADS: z.coerce.number().int().positive().default(4),
  /**
   * A stop (Ctrl-C, SIGTERM) finishes within this long: what is still stuck then (a client holding
   * an upload, say) is abandoned and the process exits with code 1, its dev server killed.
   */
  SWITCHYARD_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** How often each tenant's budget entity sweeps between window boundaries (expiry, alerts). */
  SWITCHYARD_BUDGET_SWEEP_SECONDS: z.coerce.number().int().positive().default(60),
  SWITCHYARD_SIMULATED_PROVIDER: z.enum(['auto', 'on', 'off']).default('auto'),
  /** JSON or YAML file with routing settings (retry policies, fallback options). */
  SWITCHYARD_CONFIG: optionalString,
  SWITCHYARD_SIMULATED_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  SWITCHYARD_SIMULATED_SEED: z.coerce.number().int().default(42),
  DATABASE_URL: optionalString,
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_UI: bool.default(true),
  /** A separately run Temporal's UI (`http://temporal-ui:8080`): the console links requests' workflows there. */
  TEMPORAL_UI_URL: optionalString.pipe(z.url().optional()),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString.pipe(z.url().optional()),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalString.pipe(z.url().optional()),
  /** Google Gemini (either name, as Google's SDK reads them). */
  GEMINI_API_KEY: optionalString,
  GOOGLE_API_KEY: optionalString,
  /** Azure OpenAI: the key and the resource endpoint (both, or no instance), and the API version. */
  AZURE_OPENAI_API_KEY: optionalString,
  AZURE_OPENAI_ENDPOINT: optionalString.pipe(z.url().optional()),
  AZURE_OPENAI_API_VERSION: z.string().default('2024-10-21'),
  /** The Azure region of that resource (`westeurope`): its residency, for residency rules. */
  AZURE_OPENAI_REGION: optionalString,
  /**
   * Bedrock: an instance in this AWS region when the AWS default credential chain has something
   * to find (access keys, a profile, web identity, container credentials, a Bedrock API key).
   */
  AWS_REGION: optionalString,
  AWS_ACCESS_KEY_ID: optionalString,
  AWS_PROFILE: optionalString,
  AWS_WEB_IDENTITY_TOKEN_FILE: optionalString,
  AWS_CONTAINER_CREDENTIALS_FULL_URI: optionalString,
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: optionalString,
  AWS_BEARER_TOKEN_BEDROCK: optionalString,
  /** Hugging Face Inference Providers. */
  HF_TOKEN: optionalString,
  /**
   * OpenTelemetry traces (src/services/tracing.ts), exported over OTLP/HTTP when an endpoint is set
   * (`http://collector:4318`: spans go to its `/v1/traces`; the TRACES one is used as it is). Unset:
   * off, and nothing of it is installed.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(z.url().optional()),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalString.pipe(z.url().optional()),
  /** OTLP over HTTP as protobuf (OTLP's default) or JSON; gRPC is not offered. */
  OTEL_EXPORTER_OTLP_PROTOCOL: optionalString.pipe(otlpProtocol),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: optionalString.pipe(otlpProtocol),
  OTEL_SERVICE_NAME: optionalString.pipe(z.string().default('switchyard')),
  /** OpenTelemetry's own switch: `true` turns tracing off whatever the endpoint. */
  OTEL_SDK_DISABLED: bool.default(false),
  /**
   * Prompts and answers in the provider call's span (`gen_ai.input.messages`, `gen_ai.output.messages`):
   * off unless asked for, by either name (ours, or the GenAI conventions'). They are tenants' data.
   */
  OTEL_SWITCHYARD_CAPTURE_CONTENT: bool.default(false),
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: bool.default(false),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return { ...parsed.data, SWITCHYARD_DATA_DIR: path.resolve(parsed.data.SWITCHYARD_DATA_DIR) };
}

/** Whether the built-in simulated provider serves: on when forced, or when no real provider key is set. */
export function simulatedProviderEnabled(config: Config): boolean {
  if (config.SWITCHYARD_SIMULATED_PROVIDER === 'on') return true;
  if (config.SWITCHYARD_SIMULATED_PROVIDER === 'off') return false;
  return Object.values(environmentProviders(config)).every((p) => p === undefined);
}

/** The providers this environment enables (the shipped catalog adds an instance of each). */
export function environmentProviders(config: Config) {
  const geminiKey = config.GEMINI_API_KEY ? 'GEMINI_API_KEY' : config.GOOGLE_API_KEY ? 'GOOGLE_API_KEY' : undefined;
  const awsChain =
    config.AWS_ACCESS_KEY_ID ||
    config.AWS_PROFILE ||
    config.AWS_WEB_IDENTITY_TOKEN_FILE ||
    config.AWS_CONTAINER_CREDENTIALS_FULL_URI ||
    config.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ||
    config.AWS_BEARER_TOKEN_BEDROCK;
  return {
    openai: config.OPENAI_API_KEY ? { baseUrl: config.OPENAI_BASE_URL } : undefined,
    anthropic: config.ANTHROPIC_API_KEY ? { baseUrl: config.ANTHROPIC_BASE_URL } : undefined,
    google: geminiKey ? { apiKeyEnv: geminiKey } : undefined,
    azure:
      config.AZURE_OPENAI_API_KEY && config.AZURE_OPENAI_ENDPOINT
        ? {
            endpoint: config.AZURE_OPENAI_ENDPOINT,
            apiVersion: config.AZURE_OPENAI_API_VERSION,
            region: config.AZURE_OPENAI_REGION,
          }
        : undefined,
    bedrock: config.AWS_REGION && awsChain ? { region: config.AWS_REGION } : undefined,
    huggingface: config.HF_TOKEN ? {} : undefined,
  };
}
