/**
 * The provider call itself, for the request's operation: builds the SDK call from the stored
 * request, makes it, and checks the answer (structured operations and JSON mode are validated).
 * Returns what to store and the usage; an answer that fails validation comes back as `invalid`.
 */
import { DEFAULT_OUTPUT_TOKENS } from '../src/domain/limits';
import type { Model } from '../src/domain/catalog';
import { ChatCompletionRequestSchema } from '../src/domain/chat';
import { isStructured, OperationBodySchemas, validateOutput } from '../src/domain/operations';
import { failure } from '../src/providers/errors';
import type { StreamLimits } from '../src/providers/deadline';
import type { MalformedEvent } from '../src/providers/sse';
import { chatCallInput, type CallOptions, type ChatCallInput, type ProviderAdapter } from '../src/providers/types';
import type { StreamAnswer, StreamDelta } from '../src/domain/stream';
import { prefillMessages } from '../src/domain/continuation';
import { countTokens } from '../src/domain/tokens';
import { checkSchema } from '../src/services/jsonSchema';
import { messagesOf, type StoredRequest } from './storedRequest';

export interface CallUsage {
  inputTokens: number;
  outputTokens: number;
  finishReason: string;
  providerModel: string;
  /**
   * The provider was not called: a continuation whose client already holds its whole output cap
   * (`max_tokens`) ends at once as a `length` finish (issue 29). Nothing to tell the breaker.
   */
  notCalled?: true;
}

export type CallOutput =
  | { usage: CallUsage; stored: unknown; invalid?: undefined }
  | { usage: CallUsage; invalid: string; stored?: undefined };

const capChat = (c: ChatCallInput, cap: boolean): ChatCallInput =>
  cap && c.maxOutputTokens === undefined ? { ...c, maxOutputTokens: DEFAULT_OUTPUT_TOKENS } : c;

/** A streamed chat's limits and where its pieces go. */
export interface StreamHooks {
  limits: StreamLimits;
  onDelta: (d: StreamDelta) => void;
  /** A malformed event skipped (the stream goes on). */
  onMalformed?: (e: MalformedEvent) => void;
  /** Continue this answer (a broken stream's pieces, issue 29): sent as the assistant's last message. */
  prefill?: StreamAnswer;
}

/**
 * A continuation's pieces as the client gets them: the model goes on from the prefill held back
 * of its trailing whitespace, so its leading whitespace (which the client already has) is dropped.
 */
function continuing(prefill: StreamAnswer, onDelta: (d: StreamDelta) => void): (d: StreamDelta) => void {
  let trimming = prefill.content !== prefill.content.trimEnd();
  return (d) => {
    if (trimming && d.content) {
      const content = d.content.trimStart();
      trimming = content === '';
      d = { ...d, content };
    }
    onDelta(d);
  };
}

/**
 * A continuation's output cap: the client's (`max_tokens` / `max_completion_tokens`, or the cap a
 * budget applies) less the tokens the client already holds, so that the pieces of all the calls
 * together stay within it. Undefined: no cap to reduce (the adapter's own default applies).
 */
export function continuationCap(cap: number | undefined, carried: string): number | undefined {
  return cap === undefined ? undefined : cap - countTokens(carried);
}

/**
 * `capOutput`: under a budget, a chat without max_tokens gets the cap its reservation covers.
 * `stream`: a chat is streamed, each piece handed to `onDelta` as it comes.
 */
export async function callProvider(
  adapter: ProviderAdapter,
  model: Model,
  r: StoredRequest,
  options: CallOptions,
  capOutput = false,
  stream?: StreamHooks,
): Promise<CallOutput> {
  if (r.operation === 'embed') {
    if (!adapter.embed)
      throw failure('NotFound', `${model.id} has no embeddings API`, { provider: model.provider, model: model.model });
    const input = OperationBodySchemas.embed.parse(r.body).input;
    const out = await adapter.embed(model.model, Array.isArray(input) ? input : [input], options);
    const dimensions = out.embeddings[0]?.length ?? 0;
    return {
      stored: {
        embeddings: out.embeddings.map((embedding, index) => ({ index, embedding })),
        dimensions,
        providerModel: out.providerModel,
      },
      usage: { inputTokens: out.inputTokens, outputTokens: 0, finishReason: 'stop', providerModel: out.providerModel },
    };
  }
  const callInput: ChatCallInput =
    r.operation === 'chat'
      ? capChat(chatCallInput(model.model, ChatCompletionRequestSchema.parse(r.body)), capOutput)
      : {
          model: model.model,
          messages: messagesOf(r),
          maxOutputTokens: DEFAULT_OUTPUT_TOKENS,
          temperature: 0,
          // Native JSON mode where the model has it; the output is validated either way.
          ...(model.capabilities.includes('json') && { responseFormat: { type: 'json_object' as const } }),
        };
  const prefill = stream?.prefill;
  const cap = prefill && continuationCap(callInput.maxOutputTokens, prefill.content);
  // The client holds its whole cap already: a `length` finish, without a call.
  if (prefill && cap !== undefined && cap <= 0) {
    const providerModel = model.model;
    return {
      usage: { inputTokens: 0, outputTokens: 0, finishReason: 'length', providerModel, notCalled: true },
      stored: { content: prefill.content, finishReason: 'length', providerModel },
    };
  }
  const out =
    stream && r.operation === 'chat'
      ? await adapter.chatStream(
          prefill
            ? {
                ...callInput,
                messages: prefillMessages(callInput.messages, prefill),
                continueFinal: true,
                ...(cap !== undefined && { maxOutputTokens: cap }),
              }
            : callInput,
          { ...options, limits: stream.limits, ...(stream.onMalformed && { onMalformed: stream.onMalformed }) },
          prefill ? continuing(prefill, stream.onDelta) : stream.onDelta,
        )
      : await adapter.chat(callInput, options);
  // A continuation answers the rest: the answer is the client's whole text.
  if (prefill) {
    const rest = prefill.content !== prefill.content.trimEnd() ? (out.content ?? '').trimStart() : (out.content ?? '');
    out.content = prefill.content + rest;
  }
  if (out.finishReason === 'content_filter' && !out.content) {
    throw failure('ContentFiltered', `${model.id} filtered the output (finish_reason content_filter)`, {
      provider: model.provider,
      model: model.model,
      // OpenAI's word for it (Anthropic's refusal and a guardrail's block are read as this finish).
      providerCode: 'content_filter',
    });
  }
  const usage = {
    inputTokens: out.inputTokens,
    outputTokens: out.outputTokens,
    finishReason: out.finishReason,
    providerModel: out.providerModel,
  };
  const base = {
    content: out.content,
    finishReason: out.finishReason,
    providerModel: out.providerModel,
    providerRequestId: out.providerRequestId,
    ...(out.toolCalls && { toolCalls: out.toolCalls }),
  };
  if (isStructured(r.operation)) {
    const check = validateOutput(r.operation, r.body, out.content);
    if (!check.ok) return { usage, invalid: `${model.id} returned invalid ${r.operation} output: ${check.reason}` };
    return { usage, stored: { ...base, result: check.value } };
  }
  const wantsJson = callInput.responseFormat !== undefined && callInput.responseFormat.type !== 'text';
  if (wantsJson && out.finishReason !== 'length' && !out.toolCalls) {
    let value: unknown;
    try {
      value = JSON.parse(out.content ?? '');
    } catch {
      return { usage, invalid: `${model.id} returned invalid JSON in JSON mode` };
    }
    const format = callInput.responseFormat;
    if (format?.type === 'json_schema' && format.json_schema.schema) {
      const check = checkSchema(format.json_schema.schema, value);
      if (!check.ok)
        return {
          usage,
          invalid: `${model.id} returned JSON that fails the schema '${format.json_schema.name}': ${check.reason}`,
        };
    }
  }
  return { usage, stored: base };
}
