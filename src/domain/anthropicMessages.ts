/**
 * The Anthropic Messages API as a door onto the same routing: its request (zod), mapped onto the
 * OpenAI-shaped chat request every route works with, and the answer mapped back to a Message.
 * Tools map both ways: `tools`/`tool_choice` to OpenAI's, `tool_use` blocks to assistant
 * `tool_calls`, `tool_result` blocks to `tool` messages, and the answer's calls back to
 * `tool_use` blocks. Streaming goes through the same route (see `./stream`).
 */
import { z } from 'zod';
import type { ChatCompletionRequest, ChatMessage, ToolCall, ToolChoice } from './chat';
import { anthropicStopReason } from './stream';
import { SwitchyardRequestExtensionSchema } from './requestExtension';

const TextBlock = z.object({ type: z.literal('text'), text: z.string() }).passthrough();
const ImageBlock = z.object({
  type: z.literal('image'),
  source: z.discriminatedUnion('type', [
    z.object({
      type: z.literal('base64'),
      media_type: z.enum(['image/png', 'image/jpeg', 'image/gif', 'image/webp']),
      data: z.string().min(1),
    }),
    // As image_url parts (chat.ts): the provider fetches it, so only http(s), never `file:`.
    z.object({ type: z.literal('url'), url: z.url({ protocol: /^https?$/, error: 'only https: and http: URLs' }) }),
  ]),
});
const ToolUseBlock = z
  .object({
    type: z.literal('tool_use'),
    id: z.string().min(1),
    name: z.string().min(1),
    input: z.record(z.string(), z.unknown()),
  })
  .passthrough();
const ToolResultBlock = z
  .object({
    type: z.literal('tool_result'),
    tool_use_id: z.string().min(1),
    content: z.union([z.string(), z.array(TextBlock)]).optional(),
    is_error: z.boolean().optional(),
  })
  .passthrough();
const Block = z.discriminatedUnion('type', [TextBlock, ImageBlock, ToolUseBlock, ToolResultBlock], {
  error: 'text, image, tool_use and tool_result blocks are supported here',
});

const AnthropicTool = z
  .object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64'),
    description: z.string().max(1_024).optional(),
    input_schema: z.record(z.string(), z.unknown()),
  })
  .passthrough();
const AnthropicToolChoice = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('tool'), name: z.string().min(1), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('none') }),
]);

export const AnthropicMessagesRequestSchema = z
  .object({
    model: z.string().min(1),
    max_tokens: z.number().int().positive(),
    messages: z
      .array(
        z.object({
          role: z.enum(['user', 'assistant']),
          content: z.union([z.string(), z.array(Block).min(1)]),
        }),
      )
      .min(1),
    system: z.union([z.string(), z.array(TextBlock)]).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().positive().optional(),
    stop_sequences: z.array(z.string()).max(4).optional(),
    metadata: z.object({ user_id: z.string().max(256).nullable().optional() }).optional(),
    tools: z.array(AnthropicTool).max(128).optional(),
    tool_choice: AnthropicToolChoice.optional(),
    stream: z.boolean().optional(),
    /** Switchyard's own settings for this request (e.g. `{ "quality": 0.8 }`, the cost–quality dial). */
    switchyard: SwitchyardRequestExtensionSchema.optional(),
  })
  .strict();
export type AnthropicMessagesRequest = z.infer<typeof AnthropicMessagesRequestSchema>;
type Message = AnthropicMessagesRequest['messages'][number];
type UserPart = Exclude<Extract<ChatMessage, { role: 'user' }>['content'], string>[number];

const textOf = (blocks: Array<{ type: string; text?: string }>) =>
  blocks.map((b) => (b.type === 'text' ? (b.text ?? '') : '')).join('');

/** One Anthropic turn as OpenAI messages: a user turn's tool results become `tool` messages. */
function chatMessagesOf(msg: Message): ChatMessage[] {
  if (typeof msg.content === 'string') return [{ role: msg.role, content: msg.content }];
  if (msg.role === 'assistant') {
    const calls: ToolCall[] = msg.content.flatMap((b) =>
      b.type === 'tool_use'
        ? [{ id: b.id, type: 'function' as const, function: { name: b.name, arguments: JSON.stringify(b.input) } }]
        : [],
    );
    const text = textOf(msg.content);
    return [
      { role: 'assistant', content: calls.length && !text ? null : text, ...(calls.length && { tool_calls: calls }) },
    ];
  }
  const results: ChatMessage[] = msg.content.flatMap((b) =>
    b.type === 'tool_result'
      ? [
          {
            role: 'tool' as const,
            tool_call_id: b.tool_use_id,
            content: `${b.is_error ? 'Error: ' : ''}${typeof b.content === 'string' ? b.content : textOf(b.content ?? [])}`,
          },
        ]
      : [],
  );
  const parts = msg.content.flatMap((b): UserPart[] =>
    b.type === 'text'
      ? [{ type: 'text' as const, text: b.text }]
      : b.type === 'image'
        ? [
            {
              type: 'image_url' as const,
              image_url: {
                url: b.source.type === 'url' ? b.source.url : `data:${b.source.media_type};base64,${b.source.data}`,
              },
            },
          ]
        : [],
  );
  return [...results, ...(parts.length ? [{ role: 'user' as const, content: parts }] : [])];
}

function toolChoiceOf(c: NonNullable<AnthropicMessagesRequest['tool_choice']>): ToolChoice {
  if (c.type === 'any') return 'required';
  if (c.type === 'tool') return { type: 'function', function: { name: c.name } };
  return c.type;
}

/** The request as the OpenAI-shaped chat request the route and the adapters take. */
export function toChatRequest(
  m: Omit<AnthropicMessagesRequest, 'max_tokens'> & { max_tokens?: number },
): ChatCompletionRequest {
  const system = typeof m.system === 'string' ? m.system : m.system?.map((b) => b.text).join('\n');
  const messages: ChatMessage[] = [
    ...(system ? [{ role: 'system' as const, content: system }] : []),
    ...m.messages.flatMap(chatMessagesOf),
  ];
  const choice = m.tool_choice;
  return {
    model: m.model,
    messages,
    ...(m.max_tokens !== undefined && { max_tokens: m.max_tokens }),
    ...(m.temperature !== undefined && { temperature: m.temperature }),
    ...(m.top_p !== undefined && { top_p: m.top_p }),
    ...(m.stop_sequences && { stop: m.stop_sequences }),
    ...(m.metadata?.user_id && { user: m.metadata.user_id }),
    ...(m.tools?.length && {
      tools: m.tools.map((t) => ({
        type: 'function' as const,
        function: {
          name: t.name,
          ...(t.description !== undefined && { description: t.description }),
          parameters: t.input_schema,
        },
      })),
    }),
    ...(choice && { tool_choice: toolChoiceOf(choice) }),
    ...(choice &&
      'disable_parallel_tool_use' in choice &&
      choice.disable_parallel_tool_use && { parallel_tool_calls: false }),
    ...(m.stream && { stream: true }),
    ...(m.switchyard && { switchyard: m.switchyard }),
  };
}

/** A tool call's arguments as Anthropic's `input` object (OpenAI sends them as a JSON string). */
export function toolInputOf(args: string): Record<string, unknown> {
  if (args.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(args);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { arguments: args };
  }
}

/** The answer as an Anthropic Message. */
export function toAnthropicMessage(a: {
  id: string;
  model: string;
  content: string | null;
  toolCalls?: ToolCall[];
  finishReason: string;
  inputTokens: number;
  outputTokens: number;
}) {
  return {
    id: a.id,
    type: 'message',
    role: 'assistant',
    model: a.model,
    content: [
      ...(a.content || !a.toolCalls?.length ? [{ type: 'text', text: a.content ?? '' }] : []),
      ...(a.toolCalls ?? []).map((c) => ({
        type: 'tool_use',
        id: c.id,
        name: c.function.name,
        input: toolInputOf(c.function.arguments),
      })),
    ],
    stop_reason: anthropicStopReason(a.finishReason),
    stop_sequence: null,
    usage: { input_tokens: a.inputTokens, output_tokens: a.outputTokens },
  };
}
