/**
 * OpenTelemetry traces: one trace per request, across the API, its workflow, the workflow's
 * activities and the provider call. On only when an OTLP endpoint is configured
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): otherwise `startTracing`
 * returns undefined, no SDK is loaded, no interceptor is installed, and the helpers below return
 * at their first line.
 *
 * The spans: the API's server span (`POST /v1/chat/completions`) → the request path's
 * (`route chat`, Switchyard's decision on it) → Temporal's interceptors' (`StartWorkflow`,
 * `RunWorkflow`, `StartActivity`, `RunActivity`, context carried in Temporal headers) → the
 * provider call's (`chat <model>`, a CLIENT span with the GenAI semantic conventions). Prompts and
 * answers stay out unless OTEL_SWITCHYARD_CAPTURE_CONTENT (or the conventions' own
 * OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT) is true.
 */
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { ClientInterceptors } from '@temporalio/client';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import type { Config } from '../config';

export { SpanKind };

/** What the request path, the worker and the client need of a running tracer. */
export interface Tracing {
  tracer: Tracer;
  /** Prompts and answers in the provider call's span. */
  captureContent: boolean;
  /** For every `Client`: starts, signals and queries carry the caller's trace context. */
  clientInterceptors: ClientInterceptors;
  /** For every `Worker`: each activity runs in a span under the workflow's. */
  workerInterceptors: Pick<WorkerInterceptors, 'activity'>;
  /** For every `Worker`: where the workflow sandbox sends its spans (they are made in the isolate). */
  sinks: InjectedSinks<OpenTelemetrySinks>;
  /** Where spans go (tests read it): `…/v1/traces`. */
  url: string;
  /** Sends what is buffered (stop, tests). */
  flush(): Promise<void>;
  /** Flushes, then uninstalls: the process can start tracing again (tests do). */
  shutdown(): Promise<void>;
}

export type TracingEnv = Pick<
  Config,
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_PROTOCOL'
  | 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
  | 'OTEL_SERVICE_NAME'
  | 'OTEL_SDK_DISABLED'
  | 'OTEL_SWITCHYARD_CAPTURE_CONTENT'
  | 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'
>;

/** The OTLP/HTTP URL spans are sent to, or undefined: tracing is off. */
export function tracesUrl(env: TracingEnv): string | undefined {
  if (env.OTEL_SDK_DISABLED) return undefined;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  // The signal's path is appended to the general endpoint (OTLP's exporter specification).
  return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
}

let current: Tracing | undefined;

/** The running tracer of this process, if any. */
export const activeTracing = (): Tracing | undefined => current;

/**
 * Starts tracing when an endpoint is configured: a NodeTracerProvider (registered globally, with
 * the W3C propagator Temporal's interceptors carry context with) exporting in batches over OTLP/HTTP.
 * Undefined when none is: nothing is loaded or installed. One per process at a time.
 */
export async function startTracing(env: TracingEnv): Promise<Tracing | undefined> {
  const url = tracesUrl(env);
  if (url === undefined) return undefined;
  if (current) throw new Error('tracing is already started in this process');
  // Loaded only now: a process without tracing never loads the SDK.
  const { createTracing } = await import('./tracingSdk');
  const started = createTracing(env, url, () => {
    if (current === started) current = undefined;
  });
  current = started;
  return started;
}

/** Sets attributes on the current span (tracing off, or no span: nothing). */
export function annotate(attributes: Attributes): void {
  if (!current) return;
  trace.getActiveSpan()?.setAttributes(attributes);
}

/**
 * Runs `fn` in a new span (the current one's child), ended when `fn` settles; a throw marks it
 * failed with its `error.type`. Tracing off: `fn` runs as it is, given no span.
 */
export async function inSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
  errorType: (err: unknown) => string = defaultErrorType,
): Promise<T> {
  const t = current;
  if (!t) return fn(undefined);
  const span = t.tracer.startSpan(name, { kind, attributes });
  try {
    return await context.with(trace.setSpan(context.active(), span), () => fn(span));
  } catch (err) {
    failSpan(span, errorType(err), err);
    throw err;
  } finally {
    span.end();
  }
}

/** Marks a span failed: `error.type` (the conventions' name for what failed) and the message. */
export function failSpan(span: Span, type: string, err?: unknown): void {
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : type });
}

/** An error's type: its `type` or `code` (a Temporal failure, an HttpError), else its class. */
function defaultErrorType(err: unknown): string {
  const e = err as { type?: unknown; code?: unknown; name?: unknown } | undefined;
  if (typeof e?.type === 'string' && e.type) return e.type;
  if (typeof e?.code === 'string' && e.code) return e.code;
  return typeof e?.name === 'string' ? e.name : '_OTHER';
}

/**
 * `gen_ai.system` of a provider kind: the conventions' names where they have one
 * (`gcp.gemini`, `az.ai.openai`, `aws.bedrock`), the kind itself otherwise.
 */
export function genAiSystem(kind: string): string {
  return GEN_AI_SYSTEMS[kind] ?? kind;
}
const GEN_AI_SYSTEMS: Record<string, string> = {
  google: 'gcp.gemini',
  'azure-openai': 'az.ai.openai',
  bedrock: 'aws.bedrock',
  'openai-compatible': 'openai',
};
