/**
 * The OpenTelemetry SDK behind `startTracing` (./tracing.ts), loaded only when tracing is on.
 * The 1.x SDK: @temporalio/interceptors-opentelemetry 1.24 is built on it (its workflow sink hands
 * over 1.x `ReadableSpan`s).
 */
import fs from 'node:fs';
import path from 'node:path';
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/worker';
import { PROJECT_ROOT } from '../temporal/binaries';
import type { Tracing, TracingEnv } from './tracing';

// The repository's (or the image's) package.json: compiled code runs from dist/.
const VERSION = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

export function createTracing(env: TracingEnv, url: string, onShutdown: () => void): Tracing {
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  // Headers (OTEL_EXPORTER_OTLP_HEADERS…) and timeouts are read from the environment by the exporter.
  const exporter = protocol === 'http/json' ? new JsonTraceExporter({ url }) : new ProtobufTraceExporter({ url });
  const resource = new Resource({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME, [ATTR_SERVICE_VERSION]: VERSION });
  const processor = new BatchSpanProcessor(exporter);
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // Global: Temporal's interceptors inject and extract context through the global propagator, and
  // the async-hooks context manager carries the current span across awaits.
  provider.register();
  const tracer = provider.getTracer('switchyard', VERSION);
  const options = { tracer };
  let stopped: Promise<void> | undefined;
  return {
    tracer,
    url,
    captureContent: env.OTEL_SWITCHYARD_CAPTURE_CONTENT || env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
    clientInterceptors: { workflow: [tracedClient(new OpenTelemetryWorkflowClientInterceptor(options))] },
    workerInterceptors: {
      activity: [
        (ctx) => {
          const otel = new OpenTelemetryActivityInboundInterceptor(ctx, options);
          return {
            // An activity of a traced workflow only: the entities' (alerts, budgets, breakers) make no root spans.
            inbound: {
              execute: (input, next) => (TRACE_HEADER in input.headers ? otel.execute(input, next) : next(input)),
            },
            outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
          };
        },
      ],
    },
    // Workflow spans are made in the sandbox and handed over here; the same processor exports them.
    sinks: { exporter: makeWorkflowExporter(processor, resource) },
    flush: () => provider.forceFlush(),
    shutdown: () =>
      (stopped ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          trace.disable();
          context.disable();
          propagation.disable();
          onShutdown();
        }
      })()),
  };
}

/** The header Temporal's OpenTelemetry interceptors carry the trace context in. */
const TRACE_HEADER = '_tracer-data';

/**
 * The client's interceptor, only within a span (a request's): a call made outside one (the
 * entities started at start-up, a timer's sweep) starts no root trace and carries no context. A
 * signal-with-start is never traced: it starts (or reaches) a long-running entity, whose whole life
 * would otherwise hang under the one request that happened to start it.
 */
function tracedClient(otel: OpenTelemetryWorkflowClientInterceptor): WorkflowClientInterceptor {
  const inSpan = () => trace.getSpan(context.active()) !== undefined;
  return {
    start: (input, next) => (inSpan() ? otel.start(input, next) : next(input)),
    startWithDetails: (input, next) => (inSpan() ? otel.startWithDetails(input, next) : next(input)),
    signal: (input, next) => (inSpan() ? otel.signal(input, next) : next(input)),
    startUpdate: (input, next) => (inSpan() ? otel.startUpdate(input, next) : next(input)),
    query: (input, next) => (inSpan() ? otel.query(input, next) : next(input)),
    cancel: (input, next) => (inSpan() ? otel.cancel(input, next) : next(input)),
    terminate: (input, next) => (inSpan() ? otel.terminate(input, next) : next(input)),
  };
}
