/**
 * OpenAI wire format through the official `openai` SDK: OpenAI itself and any OpenAI-compatible
 * endpoint (vLLM, Ollama, Azure-style proxies, the built-in simulator) by base URL.
 * `maxRetries: 0` because Temporal owns retries: a hidden SDK retry would double the attempts
 * and hide them from the workflow history.
 */
import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { sdkOptions, withDeadline } from './deadline';
import type { CallOptions, ChatCallInput, ChatCallOutput, EmbedOutput, FinishReason, ProviderAdapter } from './types';

export interface OpenAIAdapterOptions {
  providerId: string;
  apiKey: string;
  baseURL?: string;
  timeoutMs: number;
}

export class OpenAIAdapter implements ProviderAdapter {
  readonly providerId: string;
  private readonly client: OpenAI;

  constructor(opts: OpenAIAdapterOptions) {
    this.providerId = opts.providerId;
    this.client = new OpenAI({ apiKey: opts.apiKey, baseURL: opts.baseURL, maxRetries: 0, timeout: opts.timeoutMs });
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
    const params: ChatCompletionCreateParamsNonStreaming = {
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
}

function normalizeFinish(reason: string | null | undefined): FinishReason {
  if (reason === 'length' || reason === 'content_filter' || reason === 'tool_calls') return reason;
  if (reason === 'function_call') return 'tool_calls';
  return 'stop';
}
