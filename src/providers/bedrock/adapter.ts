/**
 * AWS Bedrock's Converse and ConverseStream APIs through `@aws-sdk/client-bedrock-runtime`.
 * Maps the OpenAI-shaped request: system/developer messages become `system` blocks, consecutive
 * same-role turns are merged (Converse requires alternation), a tool's result is a `toolResult`
 * block in the user's turn, images go as bytes. A JSON Schema answer is a tool the model must
 * call (its input is the answer), as for Anthropic: Converse has no schema mode every model takes.
 *
 * Credentials: an instance's API key is a Bedrock API key, sent as `Authorization: Bearer` (no
 * AWS credential is looked up at all); without one, the AWS default credential chain signs the
 * call (SigV4).
 */
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  type BedrockRuntimeClientConfig,
  type ContentBlock,
  type ConverseRequest,
  type ImageFormat,
  type Message,
  type StopReason,
  type SystemContentBlock,
  type Tool as BedrockTool,
  type ToolChoice as BedrockToolChoice,
  type ToolUseBlock,
} from '@aws-sdk/client-bedrock-runtime';
import { contentText, type ChatMessage } from '../../domain/chat';
import { toolInputOf } from '../../domain/anthropicMessages';
import { addDelta, answerParts, emptyAnswer, type StreamDelta } from '../../domain/stream';
import { SDK_TIMEOUT_MARGIN_MS, withDeadline, withStreamDeadlines, type StreamLimits } from '../deadline';
import { failure } from '../errors';
import type { CallOptions, ChatCallInput, ChatCallOutput, FinishReason, ProviderAdapter } from '../types';
import { bedrockFailure } from './errors';

/** A JSON value as the SDK types it (a tool's input and schema). */
type DocumentType = NonNullable<ToolUseBlock['input']>;

export interface BedrockAdapterOptions {
  providerId: string;
  /** A Bedrock API key (bearer); null: the AWS default credential chain signs the calls. */
  apiKey: string | null;
  region: string;
  /** Overrides the regional endpoint (a VPC endpoint, a proxy, a test's fake). */
  endpoint?: string;
  timeoutMs: number;
  /** Sent with every call (an instance's configured headers). */
  headers?: Record<string, string>;
  /** Used when the client sets no output cap (Converse's own default differs by model). */
  defaultMaxTokens?: number;
}

/** The request in Converse's shape (`modelId` aside), and the tool carrying a JSON Schema answer. */
export interface ConverseParams {
  request: Omit<ConverseRequest, 'modelId'>;
  schemaTool?: string;
}

export class BedrockAdapter implements ProviderAdapter {
  readonly providerId: string;
  private readonly client: BedrockRuntimeClient;
  private readonly defaultMaxTokens: number;

  constructor(opts: BedrockAdapterOptions) {
    this.providerId = opts.providerId;
    this.defaultMaxTokens = opts.defaultMaxTokens ?? 4096;
    const config: BedrockRuntimeClientConfig = {
      region: opts.region,
      ...(opts.endpoint !== undefined && { endpoint: opts.endpoint }),
      // Temporal owns retries.
      maxAttempts: 1,
      // Never `auto`, which asks the instance metadata service where it runs.
      defaultsMode: 'standard',
      // The client's own HTTP/2 handler, with its timeout as a backstop to ours; a session per
      // call, as the client does by default.
      requestHandler: { requestTimeout: opts.timeoutMs + SDK_TIMEOUT_MARGIN_MS, disableConcurrentStreams: true },
      ...(opts.apiKey !== null && {
        token: { token: opts.apiKey },
        authSchemePreference: ['httpBearerAuth'],
        // The bearer scheme is chosen before any credential is resolved; this makes sure no
        // credential chain (files, SSO, the instance metadata service) can ever run for it.
        credentials: () => Promise.reject(new Error('a Bedrock API key instance signs nothing')),
      }),
    };
    this.client = new BedrockRuntimeClient(config);
    const headers = opts.headers;
    if (headers && Object.keys(headers).length)
      this.client.middlewareStack.add(
        (next) => (args) => {
          const request = args.request as { headers?: Record<string, string> } | undefined;
          if (request?.headers) Object.assign(request.headers, headers);
          return next(args);
        },
        { step: 'build', name: 'switchyardInstanceHeaders' },
      );
  }

  /** The request in Converse's shape; throws InvalidRequest for what Bedrock cannot take. */
  paramsOf(input: ChatCallInput): ConverseParams {
    const where = { provider: this.providerId, model: input.model };
    const { system, messages, usesTools } = toConverseMessages(input.messages, where);
    const request: ConverseParams['request'] = {
      messages,
      inferenceConfig: {
        maxTokens: input.maxOutputTokens ?? this.defaultMaxTokens,
        ...(input.temperature !== undefined && { temperature: Math.min(1, input.temperature) }),
        ...(input.topP !== undefined && { topP: input.topP }),
        ...(input.stop !== undefined && { stopSequences: input.stop }),
      },
    };
    const tools: BedrockTool[] | undefined = input.tools?.map((t) => ({
      toolSpec: {
        name: t.function.name,
        ...(t.function.description !== undefined && { description: t.function.description }),
        inputSchema: { json: (t.function.parameters ?? { type: 'object', properties: {} }) as DocumentType },
      },
    }));
    // Converse has no `none`: the tools stay only when the history holds tool blocks (Bedrock
    // needs them to read it), and the model is then left to choose.
    if (tools && (input.toolChoice !== 'none' || usesTools)) {
      const toolChoice = toolChoiceOf(input.toolChoice);
      request.toolConfig = { tools, ...(toolChoice && { toolChoice }) };
    }
    const format = input.responseFormat;
    let schemaTool: string | undefined;
    const instructions: string[] = [];
    if (format?.type === 'json_schema' && !input.tools) {
      schemaTool = format.json_schema.name;
      request.toolConfig = {
        tools: [
          {
            toolSpec: {
              name: schemaTool,
              description: format.json_schema.description ?? 'Give the answer.',
              inputSchema: { json: (format.json_schema.schema ?? { type: 'object' }) as DocumentType },
            },
          },
        ],
        toolChoice: { tool: { name: schemaTool } },
      };
    } else if (format && format.type !== 'text') instructions.push('Reply with one JSON object only, no prose.');
    const systemBlocks: SystemContentBlock[] = [...system, ...instructions].map((text) => ({ text }));
    if (systemBlocks.length) request.system = systemBlocks;
    return { request, ...(schemaTool !== undefined && { schemaTool }) };
  }

  async chat(input: ChatCallInput, options: CallOptions = {}): Promise<ChatCallOutput> {
    const { request, schemaTool } = this.paramsOf(input);
    try {
      const res = await withDeadline(options.timeoutMs, options.signal, (signal) =>
        this.client.send(new ConverseCommand({ modelId: input.model, ...request }), sendOptions(signal, options)),
      );
      const content = res.output?.message?.content;
      if (!Array.isArray(content)) throw new SyntaxError('Converse answered without a message');
      const usage = {
        inputTokens: res.usage?.inputTokens ?? 0,
        outputTokens: res.usage?.outputTokens ?? 0,
        providerModel: input.model,
        ...(res.$metadata.requestId !== undefined && { providerRequestId: res.$metadata.requestId }),
      };
      const finishReason = finishOf(res.stopReason, where(this.providerId, input.model));
      const forced = schemaTool !== undefined && content.find((b) => b.toolUse?.name === schemaTool)?.toolUse;
      if (forced) return { content: JSON.stringify(forced.input ?? {}), finishReason: 'stop', ...usage };
      // A guardrail's canned reply is not the model's answer: the call is filtered (ContentFiltered).
      if (finishReason === 'content_filter') return { content: null, finishReason, ...usage };
      const text = content.flatMap((b) => (b.text !== undefined ? [b.text] : [])).join('');
      const toolCalls = content.flatMap((b) =>
        b.toolUse
          ? [
              {
                id: b.toolUse.toolUseId ?? '',
                type: 'function' as const,
                function: { name: b.toolUse.name ?? '', arguments: JSON.stringify(b.toolUse.input ?? {}) },
              },
            ]
          : [],
      );
      return {
        // OpenAI's shape: no text beside the tool calls is null, not ''.
        content: text === '' && toolCalls.length ? null : text,
        ...(toolCalls.length && { toolCalls }),
        finishReason,
        ...usage,
      };
    } catch (err) {
      throw bedrockFailure(err, this.providerId, input.model);
    }
  }

  async chatStream(
    input: ChatCallInput,
    options: CallOptions & { limits: StreamLimits },
    onDelta: (d: StreamDelta) => void,
  ): Promise<ChatCallOutput> {
    const { request, schemaTool } = this.paramsOf(input);
    try {
      return await withStreamDeadlines(options.timeoutMs, options.signal, options.limits, async (signal, tick) => {
        const res = await this.client.send(
          new ConverseStreamCommand({ modelId: input.model, ...request }),
          sendOptions(signal, options),
        );
        if (!res.stream) throw new SyntaxError('ConverseStream answered without a stream');
        const answer = emptyAnswer();
        // Each content block by index: text, the schema tool (its JSON is the answer's text), or
        // the OpenAI tool call index it becomes.
        const blocks = new Map<number, 'text' | 'schema' | number>();
        let tools = 0;
        /** Tool calls whose input JSON has begun. */
        const withInput = new Set<number>();
        let inputTokens = 0;
        let outputTokens = 0;
        let stop: StopReason | undefined;
        let ended = false;
        const emit = (d: StreamDelta) => {
          tick();
          addDelta(answer, d);
          onDelta(d);
        };
        for await (const ev of res.stream) {
          if (ev.contentBlockStart) {
            const i = ev.contentBlockStart.contentBlockIndex ?? 0;
            const use = ev.contentBlockStart.start?.toolUse;
            tick();
            if (use && use.name === schemaTool) blocks.set(i, 'schema');
            else if (use) {
              const index = tools++;
              blocks.set(i, index);
              emit({
                toolCalls: [
                  {
                    index,
                    id: use.toolUseId ?? '',
                    type: 'function',
                    function: { name: use.name ?? '', arguments: '' },
                  },
                ],
              });
            }
          } else if (ev.contentBlockDelta) {
            const i = ev.contentBlockDelta.contentBlockIndex ?? 0;
            const delta = ev.contentBlockDelta.delta;
            const kind = blocks.get(i);
            tick(); // reasoning pieces too: the model is at work
            if (delta?.text !== undefined) {
              if (kind === undefined) blocks.set(i, 'text');
              if (delta.text) emit({ content: delta.text });
            } else if (delta?.toolUse?.input) {
              if (kind === 'schema') emit({ content: delta.toolUse.input });
              else if (typeof kind === 'number') {
                withInput.add(kind);
                emit({ toolCalls: [{ index: kind, function: { arguments: delta.toolUse.input } }] });
              }
            }
          } else if (ev.contentBlockStop) {
            // A tool called without input streams no JSON: its arguments are `{}`, as unstreamed.
            const kind = blocks.get(ev.contentBlockStop.contentBlockIndex ?? 0);
            if (typeof kind === 'number' && !withInput.has(kind))
              emit({ toolCalls: [{ index: kind, function: { arguments: '{}' } }] });
          } else if (ev.messageStop) {
            stop = ev.messageStop.stopReason;
            ended = true;
            tick();
          } else if (ev.metadata) {
            inputTokens = ev.metadata.usage?.inputTokens ?? inputTokens;
            outputTokens = ev.metadata.usage?.outputTokens ?? outputTokens;
          } else if (!ev.messageStart) {
            // An exception the SDK handed over as an event rather than throwing it.
            const [name, value] = Object.entries(ev).find(([k]) => k.endsWith('Exception')) ?? [];
            if (name) throw streamException(name, value);
          }
        }
        if (!ended) throw new Error(`the stream ended after ${answer.chunks} chunks without messageStop`);
        const finishReason = finishOf(stop, where(this.providerId, input.model));
        const forced = [...blocks.values()].includes('schema');
        const usage = {
          inputTokens,
          outputTokens,
          providerModel: input.model,
          ...(res.$metadata.requestId !== undefined && { providerRequestId: res.$metadata.requestId }),
        };
        if (forced) return { content: answer.content, finishReason: 'stop', ...usage };
        if (finishReason === 'content_filter') return { content: null, finishReason, ...usage };
        return { ...answerParts(answer), finishReason, ...usage };
      });
    } catch (err) {
      throw bedrockFailure(err, this.providerId, input.model);
    }
  }
}

const where = (provider: string, model: string) => ({ provider, model });

/** Our abort signal, and the SDK's per-call timeout as a backstop to ours. */
function sendOptions(signal: AbortSignal, options: CallOptions) {
  return {
    abortSignal: signal,
    ...(options.timeoutMs !== undefined && { requestTimeout: options.timeoutMs + SDK_TIMEOUT_MARGIN_MS }),
  };
}

/** `{ modelStreamErrorException: {message} }` as the error the SDK would have thrown. */
function streamException(member: string, value: unknown): Error {
  const err = new Error(
    typeof value === 'object' && value && 'message' in value ? String(value.message) : 'stream exception',
  );
  err.name = member.charAt(0).toUpperCase() + member.slice(1);
  return err;
}

/** OpenAI's `tool_choice` as Converse's (`auto` is its default: left out, as some models take only that). */
function toolChoiceOf(choice: ChatCallInput['toolChoice']): BedrockToolChoice | undefined {
  if (choice === undefined || choice === 'auto' || choice === 'none') return undefined;
  if (choice === 'required') return { any: {} };
  return { tool: { name: choice.function.name } };
}

const IMAGE_FORMATS: Record<string, ImageFormat> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

/** A user message's parts as Converse blocks: text, and images as bytes from a data URL. */
function userBlocks(content: ChatMessage['content'], at: { provider: string; model: string }): ContentBlock[] {
  if (!Array.isArray(content)) return textBlocks(contentText(content ?? null));
  return content.flatMap((p): ContentBlock[] => {
    if (p.type === 'text') return textBlocks(p.text);
    if (p.type !== 'image_url') return [];
    const data = /^data:(image\/[a-z]+);base64,(.+)$/is.exec(p.image_url.url);
    const format = data && IMAGE_FORMATS[data[1]!.toLowerCase()];
    if (!data || !format)
      throw failure(
        'InvalidRequest',
        data
          ? `Bedrock takes png, jpeg, gif or webp images, not ${data[1]}`
          : 'Bedrock takes images as bytes: send a data URL',
        at,
      );
    return [{ image: { format, source: { bytes: Buffer.from(data[2]!, 'base64') } } }];
  });
}

/** Converse rejects blank text blocks: none for an empty string. */
const textBlocks = (text: string): ContentBlock[] => (text.trim() === '' ? [] : [{ text }]);

/** A message as the role and blocks of a Converse turn. */
function turnOf(m: ChatMessage, at: { provider: string; model: string }): Message | undefined {
  switch (m.role) {
    case 'user':
      return { role: 'user', content: userBlocks(m.content, at) };
    case 'tool':
      // A tool's result is the user's turn in Converse.
      return {
        role: 'user',
        content: [
          // Blank text is refused there too: an empty result says so.
          {
            toolResult: {
              toolUseId: m.tool_call_id,
              content: [{ text: contentText(m.content).trim() ? contentText(m.content) : '(empty)' }],
            },
          },
        ],
      };
    case 'assistant':
      return {
        role: 'assistant',
        content: [
          ...textBlocks(contentText(m.content ?? null)),
          ...(m.tool_calls ?? []).map((c): ContentBlock => ({
            toolUse: {
              toolUseId: c.id,
              name: c.function.name,
              input: toolInputOf(c.function.arguments) as DocumentType,
            },
          })),
        ],
      };
    default:
      return undefined;
  }
}

/** OpenAI-shaped messages as Converse's `system` texts and alternating turns. */
export function toConverseMessages(
  input: ChatMessage[],
  at: { provider: string; model: string },
): { system: string[]; messages: Message[]; usesTools: boolean } {
  const system: string[] = [];
  const messages: Message[] = [];
  for (const m of input) {
    if (m.role === 'system' || m.role === 'developer') {
      const text = contentText(m.content);
      if (text.trim()) system.push(text);
      continue;
    }
    const turn = turnOf(m, at);
    if (!turn?.content?.length) continue;
    const last = messages[messages.length - 1];
    // Same role twice: one turn (Converse requires alternation).
    if (last && last.role === turn.role) last.content = [...(last.content ?? []), ...turn.content];
    else messages.push(turn);
  }
  // Converse requires the first turn to be the user's.
  if (messages[0]?.role !== 'user') messages.unshift({ role: 'user', content: [{ text: '(continue)' }] });
  const usesTools = messages.some((t) => t.content?.some((b) => b.toolUse || b.toolResult));
  return { system, messages, usesTools };
}

/** Converse's stop reason as OpenAI's finish reason; a malformed answer is a MalformedResponse. */
function finishOf(reason: StopReason | string | undefined, at: { provider: string; model: string }): FinishReason {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'content_filter';
    case 'malformed_model_output':
    case 'malformed_tool_use':
      throw failure('MalformedResponse', `${at.provider}/${at.model} stopped with ${reason}`, {
        ...at,
        providerCode: reason,
      });
    default:
      return 'stop';
  }
}
