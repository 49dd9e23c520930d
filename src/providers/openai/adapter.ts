/**
 * OpenAI wire format through the official `openai` SDK: OpenAI itself and any OpenAI-compatible
 * endpoint (vLLM, Ollama, Azure-style proxies, the built-in simulator) by base URL.
 * `maxRetries: 0` because Temporal owns retries: a hidden SDK retry would double the attempts
 * and hide them from the workflow history.
 */
import OpenAI from 'openai';
import { _iterSSEMessages } from 'openai/core/streaming';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type { ContinuationStyle } from '../../domain/catalog';
import { addDelta, answerParts, emptyAnswer, type StreamDelta } from '../../domain/stream';
import { countMessageTokens, countTokens } from '../../domain/tokens';
import { failure } from '../errors';
import { sdkOptions, withDeadline, withStreamDeadlines } from '../deadline';
import { DEFAULT_MAX_MALFORMED, isObject, optional, parseJson, readEvents, type MalformedPolicy } from '../sse';
import { openaiClientOptions } from './clientOptions';
import type {
  CallOptions,
  ChatCallInput,
  ChatCallOutput,
  EmbedOutput,
  FinishReason,
  ProviderAdapter,
  StreamOptions,
} from '../types';

export interface OpenAIAdapterOptions {
  providerId: string;
  apiKey: string;
  baseURL?: string;
  timeoutMs: number;
  /** Sent with every call (an instance's configured headers). */
  defaultHeaders?: Record<string, string>;
  /**
   * Let the SDK read OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment (default true): OpenAI's
   * own API only, not a proxy or another server.
   */
  openaiEnvironment?: boolean;
  /** A client built elsewhere (Azure's `AzureOpenAI` is an `OpenAI`): the options above are then unused. */
  client?: OpenAI;
  /** How the server continues a partial answer (the instance's `continuation`); none: it cannot. */
  continuation?: ContinuationStyle;
}

export class OpenAIAdapter implements ProviderAdapter {
  readonly providerId: string;
  private readonly client: OpenAI;
  private readonly continuation?: ContinuationStyle;

  constructor(opts: OpenAIAdapterOptions) {
    this.providerId = opts.providerId;
    this.continuation = opts.continuation;
    this.client =
      opts.client ??
      new OpenAI({
        apiKey: opts.apiKey,
        baseURL: opts.baseURL,
        ...openaiClientOptions(
          { timeoutMs: opts.timeoutMs, headers: opts.defaultHeaders },
          { openaiEnvironment: opts.openaiEnvironment ?? true },
        ),
      });
  }

  async embed(model: string, input: string[], options: CallOptions = {}): Promise<EmbedOutput> {
    const res = await withDeadline(options.timeoutMs, options.signal, (signal) =>
      this.client.embeddings.create({ model, input, encoding_format: 'float' }, sdkOptions(signal, options.timeoutMs)),
    );
    if (!Array.isArray(res.data)) throw new SyntaxError('embeddings response has no data array');
    const ordered = [...res.data].sort((a, b) => a.index - b.index);
    return {
      embeddings: ordered.map((d) => d.embedding),
      inputTokens: res.usage?.prompt_tokens ?? 0,
      providerModel: res.model ?? model,
    };
  }

  async chat(input: ChatCallInput, options: CallOptions = {}): Promise<ChatCallOutput> {
    const params = this.paramsOf(input);
    const res = await withDeadline(options.timeoutMs, options.signal, (signal) =>
      this.client.chat.completions.create(params, sdkOptions(signal, options.timeoutMs)),
    );
    const choice = res.choices?.[0];
    if (!choice?.message) throw new SyntaxError('response has no choices[0].message');
    return {
      content: choice.message.content ?? null,
      finishReason: normalizeFinish(choice.finish_reason),
      inputTokens: res.usage?.prompt_tokens ?? 0,
      outputTokens: res.usage?.completion_tokens ?? 0,
      providerModel: res.model ?? input.model,
      providerRequestId: res.id,
      ...(choice.message.tool_calls?.length && {
        toolCalls: choice.message.tool_calls.flatMap((c) =>
          c.type === 'function'
            ? [
                {
                  id: c.id,
                  type: 'function' as const,
                  function: { name: c.function.name, arguments: c.function.arguments },
                },
              ]
            : [],
        ),
      }),
    };
  }

  /**
   * The request body. A continuation (`continueFinal`) carries the instance's style; without one
   * it is refused before any call: the server would answer the partial answer as a new turn.
   */
  private paramsOf(input: ChatCallInput): ChatCompletionCreateParamsNonStreaming {
    if (!input.continueFinal) return paramsOf(input);
    if (!this.continuation)
      throw failure(
        'InvalidRequest',
        `provider ${this.providerId} sets no continuation style: it cannot continue a partial answer`,
        { provider: this.providerId, model: input.model },
      );
    return continuationParams(paramsOf(input), this.continuation);
  }

  async chatStream(
    input: ChatCallInput,
    options: StreamOptions,
    onDelta: (d: StreamDelta) => void,
  ): Promise<ChatCallOutput> {
    // Usage in the last chunk: the budget settles on what the provider counted.
    const params = { ...this.paramsOf(input), stream: true as const, stream_options: { include_usage: true } };
    return withStreamDeadlines(options.timeoutMs, options.signal, options.limits, async (signal, tick) => {
      // The raw response (errors before it are the SDK's, as ever), its events read by us: the
      // SDK's stream would end at the first malformed one.
      const response = await this.client.chat.completions
        .create(params, sdkOptions(signal, options.timeoutMs))
        .asResponse();
      const stream = chunksOf(response, {
        max: options.limits.maxMalformed ?? DEFAULT_MAX_MALFORMED,
        onMalformed: options.onMalformed,
      });
      const answer = emptyAnswer();
      let finish: string | null = null;
      let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
      let model = input.model;
      let id: string | undefined;
      for await (const chunk of stream) {
        id ??= chunk.id;
        model = chunk.model || model;
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices?.[0];
        const d: StreamDelta = {
          ...(choice?.delta?.content && { content: choice.delta.content }),
          ...(choice?.delta?.tool_calls?.length && {
            toolCalls: choice.delta.tool_calls.map((t) => ({
              index: t.index,
              ...(t.id && { id: t.id, type: 'function' as const }),
              ...(t.function && {
                function: {
                  ...(t.function.name && { name: t.function.name }),
                  ...(t.function.arguments !== undefined && { arguments: t.function.arguments }),
                },
              }),
            })),
          }),
        };
        if (choice?.finish_reason) finish = choice.finish_reason;
        // The role-only opening chunk is not a token: the first-token limit still runs. Reasoning
        // pieces (`reasoning_content` of some OpenAI-compatible servers) show the model at work.
        const working = Object.entries(choice?.delta ?? {}).some(([k, v]) => k !== 'role' && v !== null && v !== '');
        if (!working && !choice?.finish_reason && !chunk.usage) continue;
        tick();
        if (d.content !== undefined || d.toolCalls !== undefined) {
          addDelta(answer, d);
          onDelta(d);
        }
      }
      if (finish === null) throw new Error(`the stream ended after ${answer.chunks} chunks without a finish_reason`);
      const parts = answerParts(answer);
      const toolCalls = parts.toolCalls ?? [];
      return {
        ...parts,
        finishReason: normalizeFinish(finish),
        // A provider that ignores include_usage: counted here, so the budget still settles.
        inputTokens: usage?.prompt_tokens ?? countMessageTokens(input.messages),
        outputTokens:
          usage?.completion_tokens ?? countTokens(answer.content + toolCalls.map((c) => c.function.arguments).join('')),
        providerModel: model,
        ...(id !== undefined && { providerRequestId: id }),
      };
    });
  }
}

/**
 * The chunks of a streamed chat completion, read as the SDK's `Stream` reads them (its SSE decoder,
 * `[DONE]`, an `error` object thrown as an `APIError`), except that an event that is not JSON or
 * not a chunk is skipped (`readEvents`) instead of ending the stream.
 */
function chunksOf(response: Response, policy: MalformedPolicy): AsyncGenerator<ChatCompletionChunk> {
  let done = false;
  return readEvents<ChatCompletionChunk>(
    _iterSSEMessages(response, new AbortController()),
    (sse) => {
      // Anything after [DONE] is ignored, as the SDK does.
      if (done || sse.data.startsWith('[DONE]')) {
        done = true;
        return { ignore: true };
      }
      const parsed = parseJson(sse.data);
      if (!parsed) return { malformed: 'not JSON' };
      const data = parsed.json;
      if (isObject(data) && data.error) throw new OpenAI.APIError(undefined, data.error, undefined, response.headers);
      if (!isChunk(data)) return { malformed: 'not a chat.completion.chunk' };
      return { value: data };
    },
    policy,
  );
}

const isString = (v: unknown) => typeof v === 'string';

/** The fields `chatStream` reads have the types it reads them as (what else a chunk holds is not checked). */
function isChunk(v: unknown): v is ChatCompletionChunk {
  if (!isObject(v) || !optional(v.id, isString) || !optional(v.model, isString) || !optional(v.usage, isObject))
    return false;
  return optional(v.choices, (cs) => Array.isArray(cs) && cs.every((c) => isObject(c) && optional(c.delta, isDelta)));
}

function isDelta(d: unknown): boolean {
  if (!isObject(d) || !optional(d.content, isString)) return false;
  return optional(
    d.tool_calls,
    (ts) =>
      Array.isArray(ts) &&
      ts.every((t) => isObject(t) && typeof t.index === 'number' && optional(t.function, isObject)),
  );
}

function paramsOf(input: ChatCallInput): ChatCompletionCreateParamsNonStreaming {
  return {
    model: input.model,
    messages: input.messages as ChatCompletionMessageParam[],
    ...(input.maxOutputTokens !== undefined && { max_completion_tokens: input.maxOutputTokens }),
    ...(input.temperature !== undefined && { temperature: input.temperature }),
    ...(input.topP !== undefined && { top_p: input.topP }),
    ...(input.stop !== undefined && { stop: input.stop }),
    ...(input.seed !== undefined && { seed: input.seed }),
    ...(input.user !== undefined && { user: input.user }),
    ...(input.tools && { tools: input.tools as ChatCompletionCreateParamsNonStreaming['tools'] }),
    ...(input.toolChoice !== undefined && { tool_choice: input.toolChoice }),
    ...(input.parallelToolCalls !== undefined && { parallel_tool_calls: input.parallelToolCalls }),
    ...(input.responseFormat !== undefined && {
      response_format: input.responseFormat as ChatCompletionCreateParamsNonStreaming['response_format'],
    }),
  };
}

/**
 * A body whose last message (the assistant's partial answer) is continued in place, as the
 * server's style says: vLLM's and TGI's `continue_final_message` (with `add_generation_prompt`
 * off: the two cannot both be on), or the last message's `prefix: true` (DeepSeek, Mistral).
 * Extra fields the SDK's types do not know: it sends the body as given.
 */
export function continuationParams(
  params: ChatCompletionCreateParamsNonStreaming,
  style: ContinuationStyle,
): ChatCompletionCreateParamsNonStreaming {
  const last = params.messages.at(-1);
  if (last?.role !== 'assistant') throw new Error('a continuation ends with the assistant message it continues');
  if (style === 'continue_final_message')
    return { ...params, ...({ continue_final_message: true, add_generation_prompt: false } as object) };
  return { ...params, messages: [...params.messages.slice(0, -1), { ...last, ...({ prefix: true } as object) }] };
}

function normalizeFinish(reason: string | null | undefined): FinishReason {
  if (reason === 'length' || reason === 'content_filter' || reason === 'tool_calls') return reason;
  if (reason === 'function_call') return 'tool_calls';
  return 'stop';
}
