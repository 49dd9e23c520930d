/**
 * The provider call's span, named and attributed per the OpenTelemetry GenAI semantic conventions:
 * `chat <model>` (or `embeddings <model>`), kind CLIENT, under the `RunActivity:callModel` span
 * Temporal's activity interceptor opens (a local activity's too: the fast path is traced alike).
 * Ids, models, token counts and error types; the prompt and the answer only when the operator
 * asked for them (OTEL_SWITCHYARD_CAPTURE_CONTENT). Tracing off: the call runs as it is.
 */
import type { Span } from '@opentelemetry/api';
import { kindOf } from '../../src/domain/catalog';
import { activeTracing, genAiSystem, inSpan, SpanKind } from '../../src/services/tracing';
import type { CallOutput } from '../providerCall';
import { messagesOf, type StoredRequest } from '../storedRequest';
import type { Call, Target } from './call';

export function inProviderSpan<T>(
  target: Target,
  call: Pick<Call, 'input' | 'request' | 'started'>,
  local: boolean,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  const tracing = activeTracing();
  if (!tracing) return fn(undefined);
  const { input, request } = call;
  const operation = input.operation === 'embed' ? 'embeddings' : 'chat';
  const system = genAiSystem(kindOf(target.provider));
  const host = target.provider.baseUrl ? hostOf(target.provider.baseUrl) : undefined;
  return inSpan(
    `${operation} ${target.model.model}`,
    SpanKind.CLIENT,
    {
      'gen_ai.operation.name': operation,
      'gen_ai.system': system,
      // The conventions' newer name of the same thing.
      'gen_ai.provider.name': system,
      'gen_ai.request.model': target.model.model,
      ...(host && { 'server.address': host }),
      'switchyard.request_id': input.requestId,
      ...(request.tenantId && { 'switchyard.tenant_id': request.tenantId }),
      'switchyard.operation': input.operation,
      'switchyard.provider': input.provider,
      'switchyard.model_id': input.modelId,
      'switchyard.candidate_index': input.candidateIndex,
      'switchyard.attempt': call.started.attempt,
      'switchyard.call_path': local ? 'local' : 'activity',
      ...(input.stream && { 'switchyard.stream': true }),
      ...(tracing.captureContent && { 'gen_ai.input.messages': inputMessages(request) }),
    },
    fn,
  );
}

/** The answer's model, usage and finish (and its text, when asked for) on the call's span. */
export function noteAnswer(span: Span | undefined, out: CallOutput): void {
  if (!span) return;
  span.setAttributes({
    'gen_ai.response.model': out.usage.providerModel,
    'gen_ai.usage.input_tokens': out.usage.inputTokens,
    'gen_ai.usage.output_tokens': out.usage.outputTokens,
    'gen_ai.response.finish_reasons': [out.usage.finishReason],
  });
  if (out.invalid !== undefined) span.setAttribute('switchyard.invalid_output', true);
  if (activeTracing()?.captureContent && out.stored !== undefined) {
    const content = (out.stored as { content?: unknown }).content;
    if (typeof content === 'string')
      span.setAttribute(
        'gen_ai.output.messages',
        JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content }] }]),
      );
  }
}

function inputMessages(request: StoredRequest): string {
  try {
    return JSON.stringify(messagesOf(request));
  } catch {
    return '[]';
  }
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}
