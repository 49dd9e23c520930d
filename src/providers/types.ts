import type { ChatCompletionRequest, ChatMessage, Tool, ToolCall, ToolChoice } from '../domain/chat';
import type { StreamDelta } from '../domain/stream';
import type { StreamLimits } from './deadline';
import type { MalformedEvent } from './sse';

export interface ChatCallInput {
  model: string;
  messages: ChatMessage[];
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
  seed?: number;
  user?: string;
  responseFormat?: ChatCompletionRequest['response_format'];
  tools?: Tool[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  /**
   * The last message is the assistant's partial answer (a continuation's prefill): the model goes
   * on from it in place. Anthropic's API reads a trailing assistant message so anyway; an
   * OpenAI-wire adapter sends its instance's `continuation` style, and refuses without one.
   */
  continueFinal?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls';

export interface ChatCallOutput {
  content: string | null;
  finishReason: FinishReason;
  inputTokens: number;
  outputTokens: number;
  /** The model name the provider reports (may be a dated snapshot of the requested one). */
  providerModel: string;
  providerRequestId?: string;
  /** The functions the model called (OpenAI's shape, whatever the wire format). */
  toolCalls?: ToolCall[];
}

/** Per-call options: cancellation, and the candidate's own timeout (overrides the client default). */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** A streamed call's options: its limits, and who hears of each malformed event skipped. */
export type StreamOptions = CallOptions & { limits: StreamLimits; onMalformed?: (e: MalformedEvent) => void };

export interface EmbedOutput {
  embeddings: number[][];
  inputTokens: number;
  providerModel: string;
}

/** One wire format (OpenAI, Anthropic) behind one interface; errors are thrown as the SDK throws them. */
export interface ProviderAdapter {
  readonly providerId: string;
  chat(input: ChatCallInput, options?: CallOptions): Promise<ChatCallOutput>;
  /**
   * The same call streamed: `onDelta` gets each piece as the provider sends it, and the whole
   * answer comes back at the end. A stream that ends without its end marker throws. A malformed
   * event is skipped and reported (`onMalformed`) up to `limits.maxMalformed`, where the kind
   * reads the events itself (openai, anthropic).
   */
  chatStream(input: ChatCallInput, options: StreamOptions, onDelta: (d: StreamDelta) => void): Promise<ChatCallOutput>;
  /** Only wire formats with an embeddings API implement this. */
  embed?(model: string, input: string[], options?: CallOptions): Promise<EmbedOutput>;
}

/** Builds the adapter input from a validated OpenAI-format request body. */
export function chatCallInput(model: string, req: ChatCompletionRequest): ChatCallInput {
  return {
    model,
    messages: req.messages,
    maxOutputTokens: req.max_completion_tokens ?? req.max_tokens ?? undefined,
    temperature: req.temperature ?? undefined,
    topP: req.top_p ?? undefined,
    stop: req.stop == null ? undefined : typeof req.stop === 'string' ? [req.stop] : req.stop,
    seed: req.seed ?? undefined,
    user: req.user,
    responseFormat: req.response_format,
    ...(req.tools && { tools: req.tools }),
    ...(req.tool_choice !== undefined && { toolChoice: req.tool_choice }),
    ...(req.parallel_tool_calls !== undefined && { parallelToolCalls: req.parallel_tool_calls }),
  };
}
