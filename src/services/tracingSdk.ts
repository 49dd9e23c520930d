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
    clientInterceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor(options)] },
    workerInterceptors: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx, options),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
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
