/**
 * The OpenAI chat-completions request body, as zod schemas: the HTTP boundary of
 * `POST /v1/chat/completions`. Unknown top-level fields are rejected, as OpenAI does, so a typo
 * (`max_token`) is a clear 400 instead of a silently ignored setting.
 */
import { z } from 'zod';
import type { ChatAnswer, EmbeddingsAnswer } from './storedAnswer';
import { SwitchyardRequestExtensionSchema } from './requestExtension';

const TextPart = z.object({ type: z.literal('text'), text: z.string() });
/**
 * An image is fetched by the provider (or inlined): only `https:`, `http:` and `data:` URLs. Any
 * other scheme (`file:`, `ftp:`, `gopher:`…) is refused here, whatever a provider or SDK would do.
 */
export const ImageUrl = z
  .string()
  .min(1)
  .refine((u) => /^(https?:\/\/|data:)/i.test(u), { message: 'only https:, http: and data: URLs' });
const ImagePart = z.object({
  type: z.literal('image_url'),
  image_url: z.object({ url: ImageUrl, detail: z.enum(['auto', 'low', 'high']).optional() }),
});
const TextContent = z.union([z.string(), z.array(TextPart).min(1)]);
const UserContent = z.union([z.string(), z.array(z.discriminatedUnion('type', [TextPart, ImagePart])).min(1)]);

const ToolCall = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

/** A function's name, as OpenAI takes it (chat's `tools`, the Responses API's function tools). */
export const ToolName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64');

/** A function the model may call: OpenAI's `tools` entry. */
export const ToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: ToolName,
    description: z.string().max(1_024).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});
export type Tool = z.infer<typeof ToolSchema>;
export type ToolCall = z.infer<typeof ToolCall>;

export const ToolChoiceSchema = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
]);
export type ToolChoice = z.infer<typeof ToolChoiceSchema>;

export const ChatMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: TextContent, name: z.string().optional() }),
  z.object({ role: z.literal('developer'), content: TextContent, name: z.string().optional() }),
  z.object({ role: z.literal('user'), content: UserContent, name: z.string().optional() }),
  z.object({
    role: z.literal('assistant'),
    content: TextContent.nullable().optional(),
    name: z.string().optional(),
    tool_calls: z.array(ToolCall).optional(),
    refusal: z.string().nullable().optional(),
  }),
  z.object({ role: z.literal('tool'), content: TextContent, tool_call_id: z.string() }),
]);
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

/** The longest JSON Schema taken (`response_format`, the Responses API's `text.format`), in characters of JSON. */
export const MAX_SCHEMA_CHARS = 100_000;

export const ResponseFormatSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({
      name: z.string().min(1).max(64),
      description: z.string().max(2_000).optional(),
      // Bounded: a schema is checked against every answer (depth is bounded for every body).
      schema: z
        .record(z.string(), z.unknown())
        .refine((s) => JSON.stringify(s).length <= MAX_SCHEMA_CHARS, `at most ${MAX_SCHEMA_CHARS} characters of JSON`)
        .optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

export const ChatCompletionRequestSchema = z
  .object({
    model: z.string().min(1, 'model is required (a catalog model id, or "auto")'),
    /**
     * OpenRouter's fallback list: tried in order after `model` when it fails (a leading copy of
     * `model` is allowed, as OpenRouter's examples send it). Replaces the configured chain.
     */
    models: z.array(z.string().min(1)).min(1).max(10).optional(),
    messages: z.array(ChatMessageSchema).min(1, 'messages must contain at least one message'),
    max_tokens: z.number().int().positive().nullable().optional(),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    n: z.literal(1, 'only n=1 is supported').nullable().optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z
      .object({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() })
      .strict()
      .nullable()
      .optional(),
    stop: z
      .union([z.string(), z.array(z.string()).max(4)])
      .nullable()
      .optional(),
    presence_penalty: z.number().min(-2).max(2).nullable().optional(),
    frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
    seed: z.number().int().nullable().optional(),
    user: z.string().max(256).optional(),
    // OpenAI's own bounds: 16 pairs, keys up to 64 characters, values up to 512.
    metadata: z
      .record(z.string().max(64), z.string().max(512))
      .refine((m) => Object.keys(m).length <= 16, 'at most 16 keys')
      .nullable()
      .optional(),
    response_format: ResponseFormatSchema.optional(),
    tools: z.array(ToolSchema).min(1).max(128).optional(),
    tool_choice: ToolChoiceSchema.optional(),
    parallel_tool_calls: z.boolean().optional(),
    /** Switchyard's own settings for this request (e.g. `{ "quality": 0.8 }`, the cost–quality dial). */
    switchyard: SwitchyardRequestExtensionSchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const named = typeof r.tool_choice === 'object' ? r.tool_choice.function.name : undefined;
    if (named !== undefined && !r.tools?.some((t) => t.function.name === named))
      ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: `no tool named '${named}' in tools` });
    if (r.tool_choice !== undefined && r.tool_choice !== 'none' && !r.tools)
      ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: 'tool_choice needs tools' });
  });
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

/** The request offers tools the model may call (routing then needs the `tools` capability). */
export const offersTools = (r: Pick<ChatCompletionRequest, 'tools' | 'tool_choice'>): boolean =>
  r.tools !== undefined && r.tool_choice !== 'none';

/** Whether any message carries an image part (routing then needs the `vision` capability). */
export const hasImages = (messages: ChatMessage[]): boolean =>
  messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url'));

/** The text of a message's content, whatever its shape (string, or parts of which only text counts). */
export function contentText(content: ChatMessage['content']): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => (p.type === 'text' ? p.text : '')).join('\n');
}

/** Requested output cap, whichever of OpenAI's two names the client used. */
export function maxOutputTokens(req: ChatCompletionRequest): number | undefined {
  return req.max_completion_tokens ?? req.max_tokens ?? undefined;
}

/** OpenAI's embeddings body (`POST /v1/embeddings`, and batch lines to it). */
export const EmbeddingsBodySchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(256)]),
    encoding_format: z.enum(['float', 'base64']).optional(),
    dimensions: z.number().int().positive().optional(),
    user: z.string().max(256).optional(),
  })
  .strict();

/** What a stored request holds that a response body is built from: its answer, already read (`readAnswer`). */
export interface AnsweredRequest<A> {
  request_id: string;
  model: string | null;
  answer: A;
  input_tokens: number | null;
  output_tokens: number | null;
  created_at: Date | string;
}

/** A stored answer as OpenAI's `chat.completion` (the chat endpoint's body, and a batch line's). */
export function chatCompletionObject(r: AnsweredRequest<ChatAnswer>) {
  const stored = r.answer;
  const input = r.input_tokens ?? 0;
  const output = r.output_tokens ?? 0;
  return {
    id: `chatcmpl-${r.request_id}`,
    object: 'chat.completion',
    created: Math.floor(new Date(r.created_at).getTime() / 1000),
    model: r.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: stored.content,
          refusal: null,
          ...(stored.toolCalls && { tool_calls: stored.toolCalls }),
        },
        finish_reason: stored.finishReason,
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
    system_fingerprint: null,
  };
}

/**
 * A stored embeddings answer as OpenAI's list (the endpoint's body, and a batch line's); `encode`
 * turns a vector into what the client asked for (the endpoint's base64), floats by default.
 */
export function embeddingsObject(
  r: AnsweredRequest<EmbeddingsAnswer>,
  encode: (v: number[]) => number[] | string = (v) => v,
) {
  const stored = r.answer;
  const input = r.input_tokens ?? 0;
  return {
    object: 'list',
    data: stored.embeddings.map((e) => ({ object: 'embedding', index: e.index, embedding: encode(e.embedding) })),
    model: r.model,
    usage: { prompt_tokens: input, total_tokens: input },
  };
}
