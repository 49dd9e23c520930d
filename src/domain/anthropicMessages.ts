/**
 * The Anthropic Messages API as a door onto the same routing: its request (zod), mapped onto the
 * OpenAI-shaped chat request every route works with, and the answer mapped back to a Message.
 * Streaming goes through the same route (see `./stream`); tools are not taken through this door
 * yet: a clear 400, not a silent drop.
 */
import { z } from 'zod';
import type { ChatCompletionRequest, ChatMessage } from './chat';
import { anthropicStopReason } from './stream';

const TextBlock = z.object({ type: z.literal('text'), text: z.string() }).passthrough();
const ImageBlock = z.object({
  type: z.literal('image'),
  source: z.discriminatedUnion('type', [
    z.object({
      type: z.literal('base64'),
      media_type: z.enum(['image/png', 'image/jpeg', 'image/gif', 'image/webp']),
      data: z.string().min(1),
    }),
    z.object({ type: z.literal('url'), url: z.url() }),
  ]),
});
const Block = z.discriminatedUnion('type', [TextBlock, ImageBlock], {
  error: 'only text and image blocks are supported here (tool_use and tool_result are not yet)',
});

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
    stream: z.boolean().optional(),
  })
  .strict();
export type AnthropicMessagesRequest = z.infer<typeof AnthropicMessagesRequestSchema>;

/** The request as the OpenAI-shaped chat request the route and the adapters take. */
export function toChatRequest(
  m: Omit<AnthropicMessagesRequest, 'max_tokens'> & { max_tokens?: number },
): ChatCompletionRequest {
  const system = typeof m.system === 'string' ? m.system : m.system?.map((b) => b.text).join('\n');
  const messages: ChatMessage[] = [
    ...(system ? [{ role: 'system' as const, content: system }] : []),
    ...m.messages.map((msg): ChatMessage => {
      if (typeof msg.content === 'string') return { role: msg.role, content: msg.content };
      if (msg.role === 'assistant')
        return { role: 'assistant', content: msg.content.map((b) => (b.type === 'text' ? b.text : '')).join('') };
      return {
        role: 'user',
        content: msg.content.map((b) =>
          b.type === 'text'
            ? { type: 'text' as const, text: b.text }
            : {
                type: 'image_url' as const,
                image_url: {
                  url: b.source.type === 'url' ? b.source.url : `data:${b.source.media_type};base64,${b.source.data}`,
                },
              },
        ),
      };
    }),
  ];
  return {
    model: m.model,
    messages,
    ...(m.max_tokens !== undefined && { max_tokens: m.max_tokens }),
    ...(m.temperature !== undefined && { temperature: m.temperature }),
    ...(m.top_p !== undefined && { top_p: m.top_p }),
    ...(m.stop_sequences && { stop: m.stop_sequences }),
    ...(m.metadata?.user_id && { user: m.metadata.user_id }),
    ...(m.stream && { stream: true }),
  };
}

/** The answer as an Anthropic Message. */
export function toAnthropicMessage(a: {
  id: string;
  model: string;
  content: string | null;
  finishReason: string;
  inputTokens: number;
  outputTokens: number;
}) {
  return {
    id: a.id,
    type: 'message',
    role: 'assistant',
    model: a.model,
    content: [{ type: 'text', text: a.content ?? '' }],
    stop_reason: anthropicStopReason(a.finishReason),
    stop_sequence: null,
    usage: { input_tokens: a.inputTokens, output_tokens: a.outputTokens },
  };
}
