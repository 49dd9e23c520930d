/**
 * Anthropic Messages API through the official `@anthropic-ai/sdk`. Maps the OpenAI-shaped request:
 * system/developer messages become the top-level `system`, consecutive same-role turns are merged
 * (the API requires alternation), `max_tokens` is always sent (the API requires it).
 */
import Anthropic from '@anthropic-ai/sdk';
import { Stream } from '@anthropic-ai/sdk/core/streaming';
import type {
  MessageCreateParamsNonStreaming,
  MessageParam,
  RawMessageStreamEvent,
} from '@anthropic-ai/sdk/resources/messages';
import { contentText, type ChatMessage } from '../../domain/chat';
import { toolInputOf } from '../../domain/anthropicMessages';
import { addDelta, answerParts, emptyAnswer, type StreamDelta } from '../../domain/stream';
import { sdkOptions, withDeadline, withStreamDeadlines } from '../deadline';
import { DEFAULT_MAX_MALFORMED, isObject, optional, parseJson, readEvents, type MalformedPolicy } from '../sse';
import type {
  CallOptions,
  ChatCallInput,
  ChatCallOutput,
  FinishReason,
  ProviderAdapter,
  StreamOptions,
} from '../types';

export interface AnthropicAdapterOptions {
  providerId: string;
  apiKey: string;
  baseURL?: string;
  timeoutMs: number;
  /** Sent with every call (an instance's configured headers). */
  defaultHeaders?: Record<string, string>;
  /** Used when the client sets no output cap; Anthropic requires one. */
  defaultMaxTokens?: number;
}

export class AnthropicAdapter implements ProviderAdapter {
  readonly providerId: string;
  private readonly client: Anthropic;
  private readonly defaultMaxTokens: number;

  constructor(opts: AnthropicAdapterOptions) {
    this.providerId = opts.providerId;
    this.client = new Anthropic({
      apiKey: opts.apiKey,
      baseURL: opts.baseURL,
      maxRetries: 0,
      timeout: opts.timeoutMs,
      ...(opts.defaultHeaders && { defaultHeaders: opts.defaultHeaders }),
    });
    this.defaultMaxTokens = opts.defaultMaxTokens ?? 1024;
  }

  /** The request in Anthropic's shape, and the tool that carries a JSON Schema answer (if any). */
  private paramsOf(input: ChatCallInput): { params: MessageCreateParamsNonStreaming; schemaTool?: { name: string } } {
    const { system, messages } = toAnthropicMessages(input.messages);
    const params: MessageCreateParamsNonStreaming = {
      model: input.model,
      max_tokens: input.maxOutputTokens ?? this.defaultMaxTokens,
      messages,
      ...(system && { system }),
      ...(input.temperature !== undefined && { temperature: Math.min(1, input.temperature) }),
      ...(input.topP !== undefined && { top_p: input.topP }),
      ...(input.stop !== undefined && { stop_sequences: input.stop }),
      ...(input.user !== undefined && { metadata: { user_id: input.user } }),
      ...(input.tools && {
        tools: input.tools.map((t) => ({
          name: t.function.name,
          ...(t.function.description !== undefined && { description: t.function.description }),
          input_schema: (t.function.parameters ?? { type: 'object', properties: {} }) as Anthropic.Tool.InputSchema,
        })),
      }),
      ...(input.tools && toolChoiceOf(input.toolChoice, input.parallelToolCalls)),
    };
    // Anthropic has no JSON mode. A schema goes as a tool the model must call (its input is the
    // answer); plain JSON mode as an instruction. The output is validated after either way.
    const format = input.responseFormat;
    const schemaTool =
      format?.type === 'json_schema' && !input.tools
        ? {
            name: format.json_schema.name,
            description: format.json_schema.description ?? 'Give the answer.',
            input_schema: (format.json_schema.schema ?? { type: 'object' }) as Anthropic.Tool.InputSchema,
          }
        : undefined;
    if (schemaTool) {
      params.tools = [schemaTool];
      params.tool_choice = { type: 'tool', name: schemaTool.name };
    } else if (format && format.type !== 'text') {
      params.system = [params.system, 'Reply with one JSON object only, no prose.'].filter(Boolean).join('\n\n');
    }
    return { params, schemaTool };
  }

  async chat(input: ChatCallInput, options: CallOptions = {}): Promise<ChatCallOutput> {
    const { params, schemaTool } = this.paramsOf(input);
    const res = await withDeadline(options.timeoutMs, options.signal, (signal) =>
      this.client.messages.create(params, sdkOptions(signal, options.timeoutMs)),
    );
    if (!Array.isArray(res.content)) throw new SyntaxError('response has no content array');
    const text = res.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
    const forced = schemaTool && res.content.find((b) => b.type === 'tool_use' && b.name === schemaTool.name);
    if (forced && forced.type === 'tool_use')
      return {
        content: JSON.stringify(forced.input),
        finishReason: 'stop',
        inputTokens: res.usage?.input_tokens ?? 0,
        outputTokens: res.usage?.output_tokens ?? 0,
        providerModel: res.model ?? input.model,
        providerRequestId: res.id,
      };
    const toolCalls = res.content.flatMap((b) =>
      b.type === 'tool_use'
        ? [{ id: b.id, type: 'function' as const, function: { name: b.name, arguments: JSON.stringify(b.input) } }]
        : [],
    );
    return {
      // OpenAI's shape: no text beside the tool calls is null, not ''.
      content: text === '' && toolCalls.length ? null : text,
      ...(toolCalls.length && { toolCalls }),
      finishReason: normalizeStop(res.stop_reason),
      inputTokens: res.usage?.input_tokens ?? 0,
      outputTokens: res.usage?.output_tokens ?? 0,
      providerModel: res.model ?? input.model,
      providerRequestId: res.id,
    };
  }
  async chatStream(
    input: ChatCallInput,
    options: StreamOptions,
    onDelta: (d: StreamDelta) => void,
  ): Promise<ChatCallOutput> {
    const { params, schemaTool } = this.paramsOf(input);
    return withStreamDeadlines(options.timeoutMs, options.signal, options.limits, async (signal, tick) => {
      // The raw response, its events read by us: the SDK's stream would end at the first malformed one.
      const response = await this.client.messages
        .create({ ...params, stream: true }, sdkOptions(signal, options.timeoutMs))
        .asResponse();
      const stream = eventsOf(response, {
        max: options.limits.maxMalformed ?? DEFAULT_MAX_MALFORMED,
        onMalformed: options.onMalformed,
      });
      const answer = emptyAnswer();
      // Each content block by index: text, the schema tool (its JSON is the answer's text), or
      // the OpenAI tool call index it becomes.
      const blocks = new Map<number, 'text' | 'schema' | number>();
      let tools = 0;
      /** Tool calls whose input JSON has begun. */
      const withInput = new Set<number>();
      let inputTokens = 0;
      let outputTokens = 0;
      let stop: string | null = null;
      let model = input.model;
      let id: string | undefined;
      let ended = false;
      const emit = (d: StreamDelta) => {
        tick();
        addDelta(answer, d);
        onDelta(d);
      };
      for await (const ev of stream) {
        switch (ev.type) {
          case 'message_start':
            id = ev.message.id;
            model = ev.message.model || model;
            inputTokens = ev.message.usage?.input_tokens ?? 0;
            break;
          case 'content_block_start': {
            const b = ev.content_block;
            if (b.type === 'tool_use' && schemaTool && b.name === schemaTool.name) blocks.set(ev.index, 'schema');
            else if (b.type === 'tool_use') {
              const index = tools++;
              blocks.set(ev.index, index);
              emit({ toolCalls: [{ index, id: b.id, type: 'function', function: { name: b.name, arguments: '' } }] });
            } else if (b.type === 'text') {
              blocks.set(ev.index, 'text');
              if (b.text) emit({ content: b.text });
            }
            break;
          }
          case 'content_block_delta': {
            const kind = blocks.get(ev.index);
            tick(); // thinking and signature pieces too: the model is at work
            if (typeof kind === 'number' && ev.delta.type === 'input_json_delta' && ev.delta.partial_json)
              withInput.add(kind);
            if (ev.delta.type === 'text_delta') emit({ content: ev.delta.text });
            else if (ev.delta.type === 'input_json_delta' && ev.delta.partial_json) {
              if (kind === 'schema') emit({ content: ev.delta.partial_json });
              else if (typeof kind === 'number')
                emit({ toolCalls: [{ index: kind, function: { arguments: ev.delta.partial_json } }] });
            }
            break;
          }
          case 'content_block_stop': {
            // A tool called without input streams no JSON: its arguments are `{}`, as unstreamed.
            const kind = blocks.get(ev.index);
            if (typeof kind === 'number' && !withInput.has(kind))
              emit({ toolCalls: [{ index: kind, function: { arguments: '{}' } }] });
            break;
          }
          case 'message_delta':
            stop = ev.delta.stop_reason ?? stop;
            outputTokens = ev.usage?.output_tokens ?? outputTokens;
            tick();
            break;
          case 'message_stop':
            ended = true;
            break;
        }
      }
      if (!ended) throw new Error(`the stream ended after ${answer.chunks} chunks without message_stop`);
      const parts = answerParts(answer);
      const forced = [...blocks.values()].includes('schema');
      return {
        ...parts,
        finishReason: forced ? 'stop' : normalizeStop(stop),
        inputTokens,
        outputTokens,
        providerModel: model,
        ...(id !== undefined && { providerRequestId: id }),
      };
    });
  }
}

/**
 * The events of a streamed message, read as the SDK's `Stream` reads them (its SSE decoder, `ping`
 * and unnamed events ignored, an `error` event thrown as an `APIError`), except that an event that
 * is not JSON or not the shape `chatStream` reads is skipped (`readEvents`) instead of ending the stream.
 */
function eventsOf(response: Response, policy: MalformedPolicy): AsyncGenerator<RawMessageStreamEvent> {
  return readEvents<RawMessageStreamEvent>(
    Stream.rawEvents(response),
    (sse) => {
      if (sse.event === 'ping' || sse.event === null || (sse.event !== 'error' && !sse.data)) return { ignore: true };
      const parsed = parseJson(sse.data);
      if (sse.event === 'error') {
        const body = parsed?.json ?? sse.data;
        const type = isObject(body) && isObject(body.error) ? body.error.type : undefined;
        throw new Anthropic.APIError(
          undefined,
          body,
          undefined,
          response.headers,
          typeof type === 'string' ? (type as Anthropic.ErrorType) : undefined,
        );
      }
      if (!parsed) return { malformed: 'not JSON' };
      if (!isEvent(parsed.json)) return { malformed: 'not a message stream event' };
      return { value: parsed.json };
    },
    policy,
  );
}

const isString = (v: unknown) => typeof v === 'string';
const isNumber = (v: unknown) => typeof v === 'number';

/** The fields `chatStream` reads, by event type, have the types it reads them as. */
function isEvent(v: unknown): v is RawMessageStreamEvent {
  if (!isObject(v) || !isString(v.type)) return false;
  switch (v.type) {
    case 'message_start':
      return isObject(v.message) && optional(v.message.usage, isObject);
    case 'content_block_start':
      return isNumber(v.index) && isObject(v.content_block) && isString(v.content_block.type);
    case 'content_block_delta':
      return (
        isNumber(v.index) &&
        isObject(v.delta) &&
        isString(v.delta.type) &&
        optional(v.delta.text, isString) &&
        optional(v.delta.partial_json, isString)
      );
    case 'content_block_stop':
      return isNumber(v.index);
    case 'message_delta':
      return isObject(v.delta) && optional(v.usage, isObject);
    default:
      return true;
  }
}

type Block = Exclude<MessageParam['content'], string>[number];

/** A message's content as Anthropic blocks when it holds images (undefined: text only). */
function imageBlocks(content: ChatMessage['content']): Block[] | undefined {
  if (!Array.isArray(content) || !content.some((p) => p.type === 'image_url')) return undefined;
  return content.map((p): Block => {
    if (p.type !== 'image_url') return { type: 'text', text: p.type === 'text' ? p.text : '' };
    const data = /^data:(image\/(?:png|jpeg|gif|webp));base64,(.+)$/s.exec(p.image_url.url);
    return data
      ? {
          type: 'image',
          source: {
            type: 'base64',
            media_type: data[1] as 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp',
            data: data[2]!,
          },
        }
      : { type: 'image', source: { type: 'url', url: p.image_url.url } };
  });
}

const asBlocks = (c: MessageParam['content']): Block[] => (typeof c === 'string' ? [{ type: 'text', text: c }] : c);

/** OpenAI's `tool_choice` and `parallel_tool_calls` as Anthropic's `tool_choice`. */
function toolChoiceOf(
  choice: ChatCallInput['toolChoice'],
  parallel: boolean | undefined,
): Pick<MessageCreateParamsNonStreaming, 'tool_choice'> {
  const noParallel = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === 'auto')
    return parallel === false ? { tool_choice: { type: 'auto', ...noParallel } } : {};
  if (choice === 'none') return { tool_choice: { type: 'none' } };
  if (choice === 'required') return { tool_choice: { type: 'any', ...noParallel } };
  return { tool_choice: { type: 'tool', name: choice.function.name, ...noParallel } };
}

/** An assistant turn's tool calls, or a tool's result, as Anthropic blocks (undefined: neither). */
function toolBlocks(m: ChatMessage): Block[] | undefined {
  if (m.role === 'tool') return [{ type: 'tool_result', tool_use_id: m.tool_call_id, content: contentText(m.content) }];
  if (m.role === 'assistant' && m.tool_calls?.length) {
    const text = contentText(m.content ?? null);
    return [
      ...(text ? [{ type: 'text' as const, text }] : []),
      ...m.tool_calls.map((c): Block => ({
        type: 'tool_use',
        id: c.id,
        name: c.function.name,
        input: toolInputOf(c.function.arguments),
      })),
    ];
  }
  return undefined;
}

export function toAnthropicMessages(input: ChatMessage[]): { system?: string; messages: MessageParam[] } {
  const systemParts: string[] = [];
  const messages: MessageParam[] = [];
  for (const m of input) {
    if (m.role === 'system' || m.role === 'developer') {
      systemParts.push(contentText(m.content));
      continue;
    }
    // A tool's result is the user's turn in Anthropic's API.
    const role = m.role === 'assistant' ? 'assistant' : 'user';
    const blocks = (m.role === 'user' ? imageBlocks(m.content) : undefined) ?? toolBlocks(m);
    const text = contentText(m.content ?? null);
    const last = messages[messages.length - 1];
    if (last && last.role === role) {
      // Same role twice: one turn (the API requires alternation); blocks once any are in it.
      last.content =
        blocks || typeof last.content !== 'string'
          ? [...asBlocks(last.content), ...(blocks ?? [{ type: 'text' as const, text }])]
          : `${last.content}\n\n${text}`;
    } else messages.push({ role, content: blocks ?? text });
  }
  // The API requires the first turn to be the user's.
  if (messages[0]?.role === 'assistant') messages.unshift({ role: 'user', content: '(continue)' });
  return { system: systemParts.length ? systemParts.join('\n\n') : undefined, messages };
}

function normalizeStop(reason: string | null | undefined): FinishReason {
  if (reason === 'max_tokens') return 'length';
  if (reason === 'tool_use') return 'tool_calls';
  if (reason === 'refusal') return 'content_filter';
  return 'stop';
}
