/**
 * Tracing's configuration (src/services/tracing.ts): where spans go, off unless an endpoint is set
 * (then nothing is loaded), and the GenAI conventions' names of provider kinds.
 */
import { ConfigError, loadConfig } from '../../src/config';
import {
  activeTracing,
  annotate,
  genAiSystem,
  inSpan,
  SpanKind,
  startTracing,
  tracesUrl,
} from '../../src/services/tracing';

describe('tracing configuration', () => {
  it('is off without an endpoint, and off when OTEL_SDK_DISABLED says so', async () => {
    expect(tracesUrl(loadConfig({}))).toBeUndefined();
    expect(await startTracing(loadConfig({}))).toBeUndefined();
    expect(activeTracing()).toBeUndefined();
    const disabled = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' });
    expect(tracesUrl(disabled)).toBeUndefined();
  });

  it('sends to the endpoint’s /v1/traces, or to the traces endpoint as it is', () => {
    expect(tracesUrl(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }))).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(
      tracesUrl(
        loadConfig({
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://other:4318/custom/traces',
        }),
      ),
    ).toBe('http://other:4318/custom/traces');
  });

  it('refuses an endpoint that is not a URL and gRPC, naming the variable', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(ConfigError);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL.*gRPC/);
  });

  it('captures no content unless asked for, by either name', () => {
    expect(loadConfig({}).OTEL_SWITCHYARD_CAPTURE_CONTENT).toBe(false);
    expect(loadConfig({ OTEL_SWITCHYARD_CAPTURE_CONTENT: 'true' }).OTEL_SWITCHYARD_CAPTURE_CONTENT).toBe(true);
    expect(
      loadConfig({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' })
        .OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
    ).toBe(true);
    expect(loadConfig({}).OTEL_SERVICE_NAME).toBe('switchyard');
  });

  it('off, the helpers run what they wrap and do nothing else', async () => {
    annotate({ 'switchyard.request_id': 'r' });
    await expect(inSpan('x', SpanKind.INTERNAL, {}, async (span) => span)).resolves.toBeUndefined();
    await expect(inSpan('x', SpanKind.INTERNAL, {}, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('names provider kinds as the GenAI conventions do', () => {
    expect(genAiSystem('openai')).toBe('openai');
    expect(genAiSystem('anthropic')).toBe('anthropic');
    expect(genAiSystem('google')).toBe('gcp.gemini');
    expect(genAiSystem('azure-openai')).toBe('az.ai.openai');
    expect(genAiSystem('bedrock')).toBe('aws.bedrock');
    expect(genAiSystem('huggingface')).toBe('huggingface');
  });
});
