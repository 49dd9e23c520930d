/**
 * OpenAI's Responses API (`/v1/responses`) as a door onto the same routing as chat: its create
 * body (zod), mapped onto the chat request every route works with (`toChatRequest`), and the
 * Response object built back from what the request's rows hold (`responseObject`). Pure: the API
 * reads the rows, resolves `previous_response_id` and `item_reference`s, and writes the bodies.
 *
 * Ids are derived from the request id, never stored: the response is `resp_<rid>`, its output
 * message `msg_<rid>`, its i-th output call `fc_<rid>_<i>`, and its i-th input item
 * `<msg|fc|fco>_<rid>_in<i>`. Request ids (a uuid, or `idem-<hex>`) have no `_`, so every id
 * parses back to its request and position (`parseItemId`).
 */
import { z } from 'zod';
import type { ChatCompletionRequest, ChatMessage, Tool, ToolCall, ToolChoice } from './chat';
// As chat's: image URLs (the provider fetches them: only https:, http: and data:), function names, schema size.
import { ChatMessageSchema, ImageUrl, MAX_SCHEMA_CHARS, ToolName } from './chat';
import { readAnswer, type ChatAnswer } from './storedAnswer';
import { SwitchyardRequestExtensionSchema } from './requestExtension';

// ---------------------------------------------------------------------------------------------
// The create body

/** A refusal the API answers with its own error code (`refusalOf`), rather than `invalid_value`. */
type RefusalCode = 'unsupported_tool' | 'unsupported_tool_choice' | 'unsupported_content' | 'unsupported_parameter';
const refuse = (ctx: z.RefinementCtx, path: PropertyKey[], code: RefusalCode, message: string) =>
  ctx.addIssue({ code: 'custom', path, message, params: { code } });

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const InputText = z.looseObject({ type: z.literal('input_text'), text: z.string() });
const InputImage = z
  .looseObject({
    type: z.literal('input_image'),
    image_url: ImageUrl.nullable().optional(),
    file_id: z.string().nullable().optional(),
    detail: z.enum(['auto', 'low', 'high', 'original']).nullable().optional(),
  })
  .superRefine((p, ctx) => {
    if (p.file_id)
      refuse(ctx, ['file_id'], 'unsupported_content', 'files are not supported: send the image as image_url');
    else if (!p.image_url) ctx.addIssue({ code: 'custom', path: ['image_url'], message: 'is required' });
  });
const InputFile = z
  .looseObject({ type: z.literal('input_file') })
  .superRefine((_, ctx) => refuse(ctx, ['type'], 'unsupported_content', 'input_file parts are not supported'));
// What a client sends back of an answer: `annotations` and `logprobs` are echoed, and ignored.
const OutputText = z.looseObject({ type: z.literal('output_text'), text: z.string() });
const Refusal = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });
const Part = z.discriminatedUnion('type', [InputText, InputImage, InputFile, OutputText, Refusal]);

const ASSISTANT_PARTS = new Set(['input_text', 'output_text', 'refusal']);
const MessageItem = z
  .looseObject({
    type: z.literal('message'),
    role: z.enum(['user', 'system', 'developer', 'assistant']),
    content: z.array(Part),
  })
  .superRefine((m, ctx) =>
    m.content.forEach((p, j) => {
      const ok =
        m.role === 'assistant'
          ? ASSISTANT_PARTS.has(p.type)
          : p.type === 'input_text' || (p.type === 'input_image' && m.role === 'user');
      if (!ok && p.type !== 'input_file')
        refuse(
          ctx,
          ['content', j, 'type'],
          'unsupported_content',
          `${p.type} parts are not supported in a ${m.role} message`,
        );
    }),
  );
const FunctionCallItem = z.looseObject({
  type: z.literal('function_call'),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
});
const OutputPart = z.discriminatedUnion('type', [InputText, InputImage, InputFile]).superRefine((p, ctx) => {
  if (p.type === 'input_image') refuse(ctx, ['type'], 'unsupported_content', 'a function call output is text here');
});
const FunctionCallOutputItem = z.looseObject({
  type: z.literal('function_call_output'),
  call_id: z.string().min(1),
  output: z.array(OutputPart),
});
const ItemReference = z.looseObject({ type: z.literal('item_reference'), id: z.string().min(1) });
// We never produce reasoning items: one sent back is dropped.
const ReasoningItem = z.looseObject({ type: z.literal('reasoning') });

/**
 * An item as the schema reads it: `type` filled in when a client leaves it out (a message has a
 * role, a reference only an id), and every string content as its one text part, so each error
 * names its full path (a zod union would name only the union's).
 */
function itemIn(v: unknown): unknown {
  if (!isRecord(v)) return v;
  const type = v.type ?? ('role' in v ? 'message' : 'id' in v ? 'item_reference' : undefined);
  const out: Record<string, unknown> = { ...v, ...(type !== undefined && { type }) };
  if (type === 'message' && typeof v.content === 'string')
    out.content = [{ type: v.role === 'assistant' ? 'output_text' : 'input_text', text: v.content }];
  if (type === 'function_call_output' && typeof v.output === 'string')
    out.output = [{ type: 'input_text', text: v.output }];
  return out;
}

const InputItemSchema = z.preprocess(
  itemIn,
  z.discriminatedUnion('type', [MessageItem, FunctionCallItem, FunctionCallOutputItem, ItemReference, ReasoningItem]),
);
export type InputItem = z.infer<typeof InputItemSchema>;

/** A string `input` is one user message. */
const inputIn = (v: unknown): unknown =>
  typeof v === 'string' ? [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: v }] }] : v;

const FunctionTool = z.looseObject({
  type: z.literal('function'),
  name: ToolName,
  description: z.string().max(1_024).nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});
/** Only function tools: a hosted tool (web search, file search, MCP…) is refused by name. */
const ToolEntry = z
  .looseObject({ type: z.string() })
  .superRefine((t, ctx) => {
    if (t.type !== 'function')
      refuse(ctx, ['type'], 'unsupported_tool', `tools of type '${t.type}' are not supported: only 'function'`);
  })
  .pipe(FunctionTool);

const toolChoiceIn = (v: unknown): unknown => (typeof v === 'string' ? { type: '$option', option: v } : v);
/**
 * `tool_choice`, read by its shape (a string is one of the options, an object a function), so an
 * unsupported kind (`allowed_tools`, `mcp`, a hosted tool…) is refused at `tool_choice.type`.
 */
const ToolChoiceSchema = z.preprocess(
  toolChoiceIn,
  z
    .looseObject({ type: z.string() })
    .superRefine((c, ctx) => {
      if (c.type !== '$option' && c.type !== 'function')
        refuse(
          ctx,
          ['type'],
          'unsupported_tool_choice',
          `tool_choice of type '${c.type}' is not supported: 'none', 'auto', 'required' or a function`,
        );
    })
    .pipe(
      z.discriminatedUnion('type', [
        z.object({ type: z.literal('$option'), option: z.enum(['none', 'auto', 'required']) }),
        z.object({ type: z.literal('function'), name: z.string().min(1) }),
      ]),
    )
    .transform((c) => (c.type === '$option' ? c.option : c)),
);

const TextFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    name: z.string().min(1).max(64),
    description: z.string().max(2_000).optional(),
    schema: z
      .record(z.string(), z.unknown())
      .refine((s) => JSON.stringify(s).length <= MAX_SCHEMA_CHARS, `at most ${MAX_SCHEMA_CHARS} characters of JSON`),
    strict: z.boolean().nullable().optional(),
  }),
]);

/** Known to OpenAI, and refused here with a reason (unknown keys are refused too, as chat's). */
const REFUSED: Record<string, string> = {
  conversation: 'conversations are not supported: chain responses with previous_response_id',
  prompt: 'stored prompts are not supported: send instructions and input',
};

export const ResponsesCreateSchema = z
  .object({
    model: z.string().min(1, 'model is required (a catalog model id, or "auto")'),
    input: z.preprocess(inputIn, z.array(InputItemSchema)).optional(),
    instructions: z.string().nullable().optional(),
    tools: z.array(ToolEntry).max(128).optional(),
    tool_choice: ToolChoiceSchema.optional(),
    parallel_tool_calls: z.boolean().nullable().optional(),
    text: z
      .object({ format: TextFormat.optional(), verbosity: z.enum(['low', 'medium', 'high']).nullable().optional() })
      .optional(),
    max_output_tokens: z.number().int().positive().nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    // OpenAI's own bounds: 16 pairs, keys up to 64 characters, values up to 512.
    metadata: z
      .record(z.string().max(64), z.string().max(512))
      .refine((m) => Object.keys(m).length <= 16, 'at most 16 keys')
      .nullable()
      .optional(),
    user: z.string().max(256).nullable().optional(),
    store: z.boolean().nullable().optional(),
    background: z.boolean().nullable().optional(),
    previous_response_id: z.string().min(1).nullable().optional(),
    stream: z.boolean().nullable().optional(),
    // Sent by the SDKs, and harmless to ignore for routed models.
    include: z.unknown().optional(),
    stream_options: z.unknown().optional(),
    truncation: z.unknown().optional(),
    service_tier: z.unknown().optional(),
    reasoning: z.unknown().optional(),
    prompt_cache_key: z.unknown().optional(),
    prompt_cache_retention: z.unknown().optional(),
    safety_identifier: z.unknown().optional(),
    max_tool_calls: z.unknown().optional(),
    top_logprobs: z.unknown().optional(),
    conversation: z.unknown().optional(),
    prompt: z.unknown().optional(),
    /** Switchyard's own settings for this request (e.g. `{ "quality": 0.8 }`, the cost–quality dial). */
    switchyard: SwitchyardRequestExtensionSchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    for (const [key, why] of Object.entries(REFUSED))
      if ((r as Record<string, unknown>)[key] != null) refuse(ctx, [key], 'unsupported_parameter', why);
    if (r.background && r.store === false)
      ctx.addIssue({ code: 'custom', path: ['background'], message: 'background mode requires store to be true' });
    // Something to answer: input items, or a chain to continue (instructions alone are not a turn).
    const items = r.input?.filter((i) => i.type !== 'reasoning').length ?? 0;
    if (items === 0 && !r.previous_response_id)
      ctx.addIssue({
        code: 'custom',
        path: ['input'],
        message: r.input ? 'must contain at least one item' : 'is required (or a previous_response_id)',
      });
    const choice = r.tool_choice;
    if (typeof choice === 'object' && !r.tools?.some((t) => t.name === choice.name))
      ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: `no tool named '${choice.name}' in tools` });
    else if ((typeof choice === 'object' || choice === 'required') && !r.tools?.length)
      ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: 'tool_choice needs tools' });
  });
export type ResponsesCreate = z.infer<typeof ResponsesCreateSchema>;
type ParsedToolChoice = NonNullable<ResponsesCreate['tool_choice']>;
type ParsedTool = NonNullable<ResponsesCreate['tools']>[number];

/** Every part of a path as a client names it: `input[2].content[0].type`. */
const formatPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    '',
  );

/**
 * A validation failure that is a refusal with its own code (a hosted tool, a file, a
 * `conversation`…): the 400's param, code and message. Other failures are undefined: the usual
 * `invalid_value` (`fromZodError`) says them.
 */
export function refusalOf(error: z.ZodError): { param: string; code: RefusalCode; message: string } | undefined {
  const issue = error.issues[0];
  if (issue?.code !== 'custom') return undefined;
  const code = (issue.params as { code?: RefusalCode } | undefined)?.code;
  return code && { param: formatPath(issue.path), code, message: issue.message };
}

// ---------------------------------------------------------------------------------------------
// Input items, normalized (what `responses.input_items` stores, and what maps onto messages)

export type NormalPart =
  | { type: 'input_text'; text: string }
  | { type: 'input_image'; image_url: string; detail: 'auto' | 'low' | 'high' | 'original' }
  | { type: 'output_text'; text: string }
  | { type: 'refusal'; refusal: string };
export type NormalInputItem =
  | { type: 'message'; role: 'user' | 'system' | 'developer' | 'assistant'; content: NormalPart[] }
  | { type: 'function_call'; call_id: string; name: string; arguments: string }
  | { type: 'function_call_output'; call_id: string; output: string }
  | { type: 'item_reference'; id: string };

function normalPart(p: Extract<InputItem, { type: 'message' }>['content'][number]): NormalPart[] {
  switch (p.type) {
    case 'input_text':
      return [{ type: 'input_text', text: p.text }];
    case 'input_image':
      return p.image_url ? [{ type: 'input_image', image_url: p.image_url, detail: p.detail ?? 'auto' }] : [];
    case 'output_text':
      return [{ type: 'output_text', text: p.text }];
    case 'refusal':
      return [{ type: 'refusal', refusal: p.refusal }];
    default:
      return [];
  }
}

/**
 * The parsed input as plain items: only the fields that count (a client's echoed `id`, `status`,
 * `annotations`, `logprobs` and `phase` dropped), reasoning items dropped, a call's output as one
 * string. `item_reference`s stay: the API resolves them (`referencedItem`) before `toChatRequest`.
 */
export function normalizeInputItems(input: ResponsesCreate['input']): NormalInputItem[] {
  return (input ?? []).flatMap((item): NormalInputItem[] => {
    switch (item.type) {
      case 'message':
        return [{ type: 'message', role: item.role, content: item.content.flatMap(normalPart) }];
      case 'function_call':
        return [{ type: 'function_call', call_id: item.call_id, name: item.name, arguments: item.arguments }];
      case 'function_call_output':
        return [
          {
            type: 'function_call_output',
            call_id: item.call_id,
            output: item.output.map((p) => (p.type === 'input_text' ? p.text : '')).join(''),
          },
        ];
      case 'item_reference':
        return [{ type: 'item_reference', id: item.id }];
      default:
        return [];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Ids

export const responseIdOf = (requestId: string): string => `resp_${requestId}`;
export const outputMessageIdOf = (requestId: string): string => `msg_${requestId}`;
export const outputCallIdOf = (requestId: string, index: number): string => `fc_${requestId}_${index}`;
const INPUT_PREFIX = { message: 'msg', function_call: 'fc', function_call_output: 'fco' } as const;
type InputKind = keyof typeof INPUT_PREFIX;
export const inputItemIdOf = (requestId: string, type: InputKind, index: number): string =>
  `${INPUT_PREFIX[type]}_${requestId}_in${index}`;

export type ItemId =
  | { kind: 'response'; requestId: string }
  | { kind: 'output_message'; requestId: string }
  | { kind: 'output_call'; requestId: string; index: number }
  | { kind: 'input'; requestId: string; index: number; type: InputKind };

const ID = /^(resp|msg|fc|fco)_([A-Za-z0-9-]{1,128})(?:_(in)?(\d{1,6}))?$/;
const INPUT_TYPE: Record<string, InputKind> = { msg: 'message', fc: 'function_call', fco: 'function_call_output' };

/** What an id names (its request, and which item of it), or undefined for an id we never made. */
export function parseItemId(id: string): ItemId | undefined {
  const m = ID.exec(id);
  if (!m) return undefined;
  const [, prefix, requestId, input, digits] = m as unknown as [string, string, string, string?, string?];
  if (digits === undefined) {
    if (prefix === 'resp') return { kind: 'response', requestId };
    if (prefix === 'msg') return { kind: 'output_message', requestId };
    return undefined;
  }
  const index = Number(digits);
  if (input) return prefix === 'resp' ? undefined : { kind: 'input', requestId, index, type: INPUT_TYPE[prefix]! };
  return prefix === 'fc' ? { kind: 'output_call', requestId, index } : undefined;
}

/**
 * The item a reference names, from the referenced request's stored answer (an output `msg_` is
 * its text, `fc_` one of its calls) or its stored input items (`…_in<i>`); undefined when the
 * request has no such item.
 */
export function referencedItem(
  ref: ItemId,
  source: { response: unknown; inputItems: readonly NormalInputItem[] },
): NormalInputItem | undefined {
  if (ref.kind === 'input') {
    const item = source.inputItems[ref.index];
    return item?.type === ref.type ? item : undefined;
  }
  if (ref.kind === 'response' || source.response == null) return undefined;
  const answer = readAnswer(source.response, 'chat');
  if (ref.kind === 'output_message')
    return { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: answer.content ?? '' }] };
  const call = answer.toolCalls?.[ref.index];
  return (
    call && { type: 'function_call', call_id: call.id, name: call.function.name, arguments: call.function.arguments }
  );
}

// ---------------------------------------------------------------------------------------------
// Request → chat body

/** `instructions` start the conversation as a system message (not inherited along a chain). */
export const hasInstructions = (p: Pick<ResponsesCreate, 'instructions'>): boolean => !!p.instructions;

const StoredBody = z.looseObject({ messages: z.array(ChatMessageSchema) });

/**
 * The messages a response chained on (`previous_response_id`) puts before the new input: the
 * previous request's messages (without its own `instructions`), then its answer as an assistant
 * message (none when it has no stored answer).
 */
export function prefixOf(previous: { body: unknown; hasInstructions: boolean; response: unknown }): ChatMessage[] {
  const messages = StoredBody.parse(previous.body).messages.slice(previous.hasInstructions ? 1 : 0);
  if (previous.response == null) return messages;
  const answer = readAnswer(previous.response, 'chat');
  return [
    ...messages,
    {
      role: 'assistant',
      content: answer.content,
      ...(answer.toolCalls?.length && {
        tool_calls: answer.toolCalls.map((c) => ({
          id: c.id,
          type: 'function' as const,
          function: { name: c.function.name, arguments: c.function.arguments },
        })),
      }),
    },
  ];
}

type UserPart = Exclude<Extract<ChatMessage, { role: 'user' }>['content'], string>[number];

const textOf = (parts: NormalPart[]): string =>
  parts.map((p) => (p.type === 'input_text' || p.type === 'output_text' ? p.text : '')).join('');

/** Parts as chat content: one text part (or none) is a plain string, as most clients send it. */
function plain<P extends { type: string }>(parts: P[]): string | P[] {
  if (parts.length === 0) return '';
  const [only] = parts;
  return parts.length === 1 && only!.type === 'text' ? (only as unknown as { text: string }).text : parts;
}

function messageOf(item: Extract<NormalInputItem, { type: 'message' }>): ChatMessage {
  if (item.role === 'assistant') {
    const refusal = item.content.flatMap((p) => (p.type === 'refusal' ? [p.refusal] : [])).join('');
    return { role: 'assistant', content: textOf(item.content), ...(refusal && { refusal }) };
  }
  if (item.role === 'user') {
    const parts = item.content.flatMap((p): UserPart[] =>
      p.type === 'input_text'
        ? [{ type: 'text', text: p.text }]
        : p.type === 'input_image'
          ? [
              {
                type: 'image_url',
                image_url: { url: p.image_url, detail: p.detail === 'original' ? 'auto' : p.detail },
              },
            ]
          : [],
    );
    return { role: 'user', content: plain(parts) };
  }
  const parts = item.content.flatMap((p) => (p.type === 'input_text' ? [{ type: 'text' as const, text: p.text }] : []));
  return { role: item.role, content: plain(parts) };
}

function toolOf(t: ParsedTool): Tool {
  return {
    type: 'function',
    function: {
      name: t.name,
      ...(t.description != null && { description: t.description }),
      ...(t.parameters != null && { parameters: t.parameters }),
      ...(t.strict != null && { strict: t.strict }),
    },
  };
}

const toolChoiceOf = (c: ParsedToolChoice): ToolChoice =>
  typeof c === 'string' ? c : { type: 'function', function: { name: c.name } };

/**
 * The request as the OpenAI-shaped chat request the route and the adapters take: `instructions`
 * first, then `prefix` (a chain's earlier turns, `prefixOf`), then the input items (by default
 * the request's own; the API passes them with every `item_reference` resolved). The result passes
 * `ChatCompletionRequestSchema`. Consecutive function calls become one assistant message's
 * `tool_calls`, joined to the assistant text just before them.
 */
export function toChatRequest(
  params: ResponsesCreate,
  prefix: readonly ChatMessage[] = [],
  items: readonly NormalInputItem[] = normalizeInputItems(params.input),
): ChatCompletionRequest {
  const messages: ChatMessage[] = [
    ...(params.instructions ? [{ role: 'system' as const, content: params.instructions }] : []),
    ...prefix,
  ];
  let calls: ToolCall[] | undefined; // the tool_calls of the assistant message items are joining
  for (const item of items) {
    if (item.type === 'function_call') {
      const call: ToolCall = {
        id: item.call_id,
        type: 'function',
        function: { name: item.name, arguments: item.arguments },
      };
      if (calls) {
        calls.push(call);
        continue;
      }
      const last = messages[messages.length - 1];
      calls = [call];
      if (last?.role === 'assistant' && !last.tool_calls) {
        messages[messages.length - 1] = { ...last, content: last.content || null, tool_calls: calls };
      } else messages.push({ role: 'assistant', content: null, tool_calls: calls });
      continue;
    }
    calls = undefined;
    if (item.type === 'message') messages.push(messageOf(item));
    else if (item.type === 'function_call_output')
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: item.output });
    else throw new Error(`item_reference ${item.id} was not resolved before toChatRequest`);
  }
  const tools = params.tools?.length ? params.tools.map(toolOf) : undefined;
  const choice = params.tool_choice && toolChoiceOf(params.tool_choice);
  const format = params.text?.format;
  return {
    model: params.model,
    messages,
    ...(params.max_output_tokens != null && { max_completion_tokens: params.max_output_tokens }),
    ...(params.temperature != null && { temperature: params.temperature }),
    ...(params.top_p != null && { top_p: params.top_p }),
    ...(params.user != null && { user: params.user }),
    ...(params.metadata != null && { metadata: params.metadata }),
    ...(tools && { tools }),
    // Without tools only 'none' and 'auto' are valid, and they say nothing then.
    ...(choice && tools && { tool_choice: choice }),
    ...(params.parallel_tool_calls != null && { parallel_tool_calls: params.parallel_tool_calls }),
    ...(format && {
      response_format:
        format.type === 'json_schema'
          ? {
              type: 'json_schema' as const,
              json_schema: {
                name: format.name,
                schema: format.schema,
                ...(format.description !== undefined && { description: format.description }),
                ...(format.strict != null && { strict: format.strict }),
              },
            }
          : { type: format.type },
    }),
    ...(params.stream && { stream: true }),
    ...(params.switchyard && { switchyard: params.switchyard }),
  };
}

// ---------------------------------------------------------------------------------------------
// The Response object

/** What a Response echoes of its create body (stored as `responses.params`). */
export interface ResponseParams {
  model: string;
  instructions?: string | null;
  tools?: ParsedTool[];
  tool_choice?: EchoedToolChoice;
  text?: ResponsesCreate['text'];
  temperature?: number | null;
  top_p?: number | null;
  max_output_tokens?: number | null;
  parallel_tool_calls?: boolean | null;
  metadata?: Record<string, string> | null;
  user?: string | null;
}

/** The echoed fields of a create body, as `responses.params` stores them. */
export function echoedParams(p: ResponsesCreate): ResponseParams {
  const { model, instructions, tools, tool_choice, text, temperature, top_p } = p;
  const { max_output_tokens, parallel_tool_calls, metadata, user } = p;
  const all = {
    model,
    instructions,
    tools,
    tool_choice,
    text,
    temperature,
    top_p,
    max_output_tokens,
    parallel_tool_calls,
    metadata,
    user,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as unknown as ResponseParams;
}

/** A time as the rows give it (a Date, an ISO string, or epoch milliseconds). */
export type Instant = Date | string | number;
const unixSeconds = (t: Instant): number => Math.floor(new Date(t).getTime() / 1000);

/** What a Response is fixed with when it is created (the `responses` row). */
export interface ResponseHead {
  requestId: string;
  createdAt: Instant;
  params: ResponseParams;
  previousResponseId: string | null;
  background: boolean;
  store: boolean;
}

/** `requests.status`. */
export type RequestState = 'received' | 'running' | 'succeeded' | 'failed';

/** Where the response's request stands (its `requests` row, and the `responses` row's cancel). */
export interface ResponseProgress {
  status: RequestState;
  /** The served model, once known. */
  model?: string | null;
  /** `requests.response`: the stored answer, read with `readAnswer`. */
  response?: unknown;
  inputTokens?: number | null;
  outputTokens?: number | null;
  /** `requests.error`: `{type, message, …}`. */
  error?: unknown;
  completedAt?: Instant | null;
  cancelledAt?: Instant | null;
}

/**
 * The columns of a stored response (the `responses` row joined with its `requests` row, as
 * `src/db/responses.ts:getResponse` reads it) that a Response is built from.
 */
export interface StoredResponseFacts {
  request_id: string;
  previous_response_id: string | null;
  background: boolean;
  store: boolean;
  params: unknown;
  cancelled_at: Instant | null;
  status: RequestState;
  model: string | null;
  response: unknown;
  input_tokens: number | null;
  output_tokens: number | null;
  error: unknown;
  created_at: Instant;
  completed_at: Instant | null;
}

const StoredParamsSchema = z.looseObject({ model: z.string() });

/** `responses.params` as stored by `echoedParams` (its model checked; the rest is ours, as written). */
export function readParams(params: unknown): ResponseParams {
  return StoredParamsSchema.parse(params) as ResponseParams;
}

/** A stored response's head and progress: `responseObject(...responseFactsOf(row))`. */
export function responseFactsOf(row: StoredResponseFacts): [ResponseHead, ResponseProgress] {
  return [
    {
      requestId: row.request_id,
      createdAt: row.created_at,
      params: readParams(row.params),
      previousResponseId: row.previous_response_id,
      background: row.background,
      store: row.store,
    },
    {
      status: row.status,
      model: row.model,
      response: row.response,
      inputTokens: row.input_tokens,
      outputTokens: row.output_tokens,
      error: row.error,
      completedAt: row.completed_at,
      cancelledAt: row.cancelled_at,
    },
  ];
}

export type ResponseStatus = 'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled' | 'incomplete';
export type ResponseErrorCode = 'server_error' | 'rate_limit_exceeded' | 'invalid_prompt';

const storedError = (error: unknown): { type: string; message: string } => {
  const e = isRecord(error) ? error : {};
  return {
    type: typeof e.type === 'string' ? e.type : 'Unknown',
    message: typeof e.message === 'string' ? e.message : 'the request failed',
  };
};

/** A route failure's type as the Response's `error.code`. */
export function errorCodeOf(errorType: string | undefined): ResponseErrorCode {
  if (errorType === 'BudgetExceeded' || errorType === 'AllRateLimited') return 'rate_limit_exceeded';
  if (errorType === 'ContextLengthExceeded') return 'invalid_prompt';
  return 'server_error';
}

const INCOMPLETE: Record<string, 'max_output_tokens' | 'content_filter'> = {
  length: 'max_output_tokens',
  content_filter: 'content_filter',
};

/**
 * The Response's status from the rows: received → queued, running → in_progress, succeeded →
 * completed (incomplete for a `length` or `content_filter` finish), failed → failed, or
 * cancelled when the client cancelled it (or the workflow recorded `Cancelled`). A cancel that
 * came too late for a request that succeeded leaves it completed.
 */
export function statusOf(p: Pick<ResponseProgress, 'status' | 'response' | 'error' | 'cancelledAt'>): ResponseStatus {
  if (p.status === 'succeeded')
    return INCOMPLETE[readAnswer(p.response, 'chat').finishReason] ? 'incomplete' : 'completed';
  if (p.cancelledAt != null || (p.status === 'failed' && storedError(p.error).type === 'Cancelled')) return 'cancelled';
  if (p.status === 'failed') return 'failed';
  return p.status === 'received' ? 'queued' : 'in_progress';
}

export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: never[];
}
export interface OutputMessage {
  id: string;
  type: 'message';
  status: 'in_progress' | 'completed' | 'incomplete';
  role: 'assistant';
  content: OutputText[];
}
export interface OutputFunctionCall {
  id: string;
  type: 'function_call';
  status: 'in_progress' | 'completed' | 'incomplete';
  call_id: string;
  name: string;
  arguments: string;
}
export type OutputItem = OutputMessage | OutputFunctionCall;

export const outputText = (text: string): OutputText => ({ type: 'output_text', text, annotations: [] });

/**
 * An answer's output items: its message (`msg_<rid>`, when it has text or no calls), then a
 * function call per tool call (`fc_<rid>_<i>`), in index order.
 */
export function outputItems(
  requestId: string,
  answer: Pick<ChatAnswer, 'content' | 'toolCalls'>,
  status: 'completed' | 'incomplete' = 'completed',
): OutputItem[] {
  const calls = answer.toolCalls ?? [];
  return [
    ...(answer.content !== null || calls.length === 0
      ? [
          {
            id: outputMessageIdOf(requestId),
            type: 'message' as const,
            status,
            role: 'assistant' as const,
            content: [outputText(answer.content ?? '')],
          },
        ]
      : []),
    ...calls.map((c, i) => ({
      id: outputCallIdOf(requestId, i),
      type: 'function_call' as const,
      status: 'completed' as const,
      call_id: c.id,
      name: c.function.name,
      arguments: c.function.arguments,
    })),
  ];
}

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export const usageOf = (input: number, output: number): ResponseUsage => ({
  input_tokens: input,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: output,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: input + output,
});

export interface EchoedTool {
  type: 'function';
  name: string;
  description: string | null;
  parameters: Record<string, unknown> | null;
  strict: boolean | null;
}
export type EchoedToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; name: string };
export type EchoedFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      name: string;
      schema: Record<string, unknown>;
      description?: string;
      strict?: boolean | null;
    };

/** OpenAI's `Response` (without `output_text`, which both SDKs compute themselves). */
export interface ResponseBody {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  background: boolean;
  completed_at: number | null;
  error: { code: ResponseErrorCode; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: null;
  store: boolean;
  temperature: number | null;
  text: { format: EchoedFormat; verbosity?: 'low' | 'medium' | 'high' };
  tool_choice: EchoedToolChoice;
  tools: EchoedTool[];
  top_p: number | null;
  truncation: 'disabled';
  usage: ResponseUsage | null;
  user: string | null;
  metadata: Record<string, string>;
}

/**
 * The Response object (GET, a sync create, cancel, and a stream's `created`/`completed`) from the
 * response's head and where its request stands. The output and usage are the stored answer's once
 * it succeeded; the model is the served one once known, the asked one before.
 */
export function responseObject(head: ResponseHead, progress: ResponseProgress): ResponseBody {
  const status = statusOf(progress);
  const answered = status === 'completed' || status === 'incomplete';
  const answer = answered ? readAnswer(progress.response, 'chat') : undefined;
  const p = head.params;
  const ended = progress.completedAt ?? (status === 'cancelled' ? progress.cancelledAt : null);
  const failure = status === 'failed' ? storedError(progress.error) : undefined;
  const reason = answer && INCOMPLETE[answer.finishReason];
  return {
    id: responseIdOf(head.requestId),
    object: 'response',
    created_at: unixSeconds(head.createdAt),
    status,
    background: head.background,
    completed_at: ended != null && status !== 'queued' && status !== 'in_progress' ? unixSeconds(ended) : null,
    error: failure ? { code: errorCodeOf(failure.type), message: failure.message } : null,
    incomplete_details: reason ? { reason } : null,
    instructions: p.instructions ?? null,
    max_output_tokens: p.max_output_tokens ?? null,
    model: progress.model ?? p.model,
    output: answer ? outputItems(head.requestId, answer, reason ? 'incomplete' : 'completed') : [],
    parallel_tool_calls: p.parallel_tool_calls ?? true,
    previous_response_id: head.previousResponseId,
    reasoning: null,
    store: head.store,
    temperature: p.temperature ?? null,
    text: {
      format: p.text?.format ?? { type: 'text' },
      ...(p.text?.verbosity && { verbosity: p.text.verbosity }),
    },
    tool_choice: p.tool_choice ?? 'auto',
    tools: (p.tools ?? []).map((t) => ({
      type: 'function',
      name: t.name,
      description: t.description ?? null,
      parameters: t.parameters ?? null,
      strict: t.strict ?? null,
    })),
    top_p: p.top_p ?? null,
    truncation: 'disabled',
    usage: answer ? usageOf(progress.inputTokens ?? 0, progress.outputTokens ?? 0) : null,
    user: p.user ?? null,
    metadata: p.metadata ?? {},
  };
}

// ---------------------------------------------------------------------------------------------
// Input items list (`GET /v1/responses/{id}/input_items`)

export const InputItemsQuerySchema = z.object({
  after: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(['asc', 'desc']).default('desc'),
  include: z.unknown().optional(),
});
export type InputItemsQuery = z.infer<typeof InputItemsQuerySchema>;

type ListedAssistantPart = OutputText | { type: 'refusal'; refusal: string };
type ListedInputPart =
  | { type: 'input_text'; text: string }
  | { type: 'input_image'; image_url: string; detail: 'auto' | 'low' | 'high' | 'original'; file_id: null };
export type ListedInputItem =
  | { id: string; type: 'message'; role: 'assistant'; status: 'completed'; content: ListedAssistantPart[] }
  | {
      id: string;
      type: 'message';
      role: 'user' | 'system' | 'developer';
      status: 'completed';
      content: ListedInputPart[];
    }
  | { id: string; type: 'function_call'; status: 'completed'; call_id: string; name: string; arguments: string }
  | { id: string; type: 'function_call_output'; status: 'completed'; call_id: string; output: string };

/**
 * A stored input item as the list shows it: with its id and `status: 'completed'` (undefined for
 * an `item_reference`, which is resolved before it is stored).
 */
export function listedInputItem(requestId: string, item: NormalInputItem, index: number): ListedInputItem | undefined {
  switch (item.type) {
    case 'message': {
      const id = inputItemIdOf(requestId, 'message', index);
      const { role } = item;
      if (role === 'assistant')
        return {
          id,
          type: 'message',
          role,
          status: 'completed',
          content: item.content.flatMap((p): ListedAssistantPart[] =>
            p.type === 'refusal'
              ? [{ type: 'refusal', refusal: p.refusal }]
              : p.type === 'input_text' || p.type === 'output_text'
                ? [outputText(p.text)]
                : [],
          ),
        };
      return {
        id,
        type: 'message',
        role,
        status: 'completed',
        content: item.content.flatMap((p): ListedInputPart[] =>
          p.type === 'input_text'
            ? [{ type: 'input_text', text: p.text }]
            : p.type === 'input_image'
              ? [{ type: 'input_image', image_url: p.image_url, detail: p.detail, file_id: null }]
              : [],
        ),
      };
    }
    case 'function_call':
      return { id: inputItemIdOf(requestId, 'function_call', index), ...item, status: 'completed' };
    case 'function_call_output':
      return { id: inputItemIdOf(requestId, 'function_call_output', index), ...item, status: 'completed' };
    default:
      return undefined;
  }
}

/**
 * One page of a response's input items, OpenAI's cursor list: `order` (newest first by default),
 * the items after the one named `after`, at most `limit`. Undefined when `after` names no item of
 * this response (the API's 400, param `after`).
 */
export function inputItemsPage(
  requestId: string,
  items: readonly NormalInputItem[],
  q: Partial<InputItemsQuery> = {},
):
  | { object: 'list'; data: ListedInputItem[]; first_id: string | null; last_id: string | null; has_more: boolean }
  | undefined {
  const listed = items.flatMap((item, i) => listedInputItem(requestId, item, i) ?? []);
  if ((q.order ?? 'desc') === 'desc') listed.reverse();
  let start = 0;
  if (q.after !== undefined) {
    const at = listed.findIndex((i) => i.id === q.after);
    if (at < 0) return undefined;
    start = at + 1;
  }
  const limit = q.limit ?? 20;
  const data = listed.slice(start, start + limit);
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: start + limit < listed.length,
  };
}
