/**
 * The built-in simulated provider: a local HTTP server speaking the OpenAI wire format, so that
 * with no API key Switchyard still runs end to end through the real `openai` SDK adapter.
 * Deterministic: the same request gets the same reply and token counts; with a failure rate, the
 * failures follow a seeded sequence (seed 42 by default), so a run can be reproduced.
 * It recognises Switchyard's structured operations and answers them with valid JSON computed by
 * simple heuristics — a stand-in for a model, not a model.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import {
  ChatMessageSchema,
  contentText,
  ToolChoiceSchema,
  ToolSchema,
  type ChatMessage,
  type Tool,
  type ToolChoice,
} from '../domain/chat';
import { seededRandom } from '../domain/seededRandom';
import { countMessageTokens, countTokens } from '../domain/tokens';
import { simulatedOperationReply } from './simulatedOperations';

export const SIMULATED_CHAT_MODELS = ['sim-mini', 'sim-large'];
export const SIMULATED_EMBEDDING_MODELS = ['sim-embed'];
export const SIMULATED_EMBEDDING_DIMENSIONS = 64;

const ChatRequest = z.object({
  model: z.string(),
  messages: z.array(ChatMessageSchema).min(1),
  max_completion_tokens: z.number().int().positive().optional(),
  max_tokens: z.number().int().positive().optional(),
  response_format: z
    .object({
      type: z.string(),
      json_schema: z.object({ schema: z.record(z.string(), z.unknown()).optional() }).optional(),
    })
    .optional(),
  tools: z.array(ToolSchema).optional(),
  tool_choice: ToolChoiceSchema.optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
});
const EmbeddingsRequest = z.object({
  model: z.string(),
  input: z.union([z.string(), z.array(z.string()).min(1)]),
});

const PHRASES = [
  'Here is a concise answer.',
  'This is what the simulated model would say.',
  'In short, the request was understood.',
  'The simulated provider answered deterministically.',
];

/** The deterministic chat reply the simulator gives for a prompt. */
/** A value of a JSON Schema's type, for simulated tool arguments (required properties filled in). */
function exampleOf(schema: unknown, depth = 0): unknown {
  const s = (schema ?? {}) as {
    type?: unknown;
    enum?: unknown[];
    properties?: Record<string, unknown>;
    required?: string[];
    items?: unknown;
  };
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  switch (Array.isArray(s.type) ? s.type[0] : s.type) {
    case 'string':
      return 'example';
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return true;
    case 'array':
      return depth > 4 ? [] : [exampleOf(s.items, depth + 1)];
    case 'object':
    default:
      return Object.fromEntries(
        (s.required ?? Object.keys(s.properties ?? {})).map((k) => [
          k,
          depth > 4 ? null : exampleOf(s.properties?.[k], depth + 1),
        ]),
      );
  }
}

/**
 * The simulator calls a tool when tools are offered and the last turn is the user's (after a tool's
 * result it answers in text, so a tool loop ends): the named tool, or the first.
 */
export function simulatedToolCall(tools: Tool[] | undefined, choice: ToolChoice | undefined, messages: ChatMessage[]) {
  if (!tools?.length || choice === 'none') return undefined;
  if (messages[messages.length - 1]?.role !== 'user' && typeof choice !== 'object' && choice !== 'required')
    return undefined;
  const tool = typeof choice === 'object' ? tools.find((t) => t.function.name === choice.function.name) : tools[0];
  if (!tool) return undefined;
  const args = JSON.stringify(exampleOf(tool.function.parameters ?? { type: 'object' }));
  const id = `call_sim_${createHash('sha256')
    .update(tool.function.name + args + messages.length)
    .digest('hex')
    .slice(0, 12)}`;
  return { id, type: 'function' as const, function: { name: tool.function.name, arguments: args } };
}

export function simulatedReply(model: string, messages: ChatMessage[], json: boolean): string {
  const operation = simulatedOperationReply(messages);
  if (operation !== undefined) return operation;
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const text = lastUser ? contentText(lastUser.content) : '';
  const digest = createHash('sha256').update(`${model}\n${text}`).digest();
  const phrase = PHRASES[digest[0]! % PHRASES.length]!;
  const echo = text.replace(/\s+/g, ' ').trim().slice(0, 120);
  return json ? JSON.stringify({ model, answer: phrase, echo }) : `[${model}] ${phrase} You asked: "${echo}"`;
}

/** A unit vector derived from the text's hash: equal texts, equal vectors. */
export function simulatedEmbedding(text: string, dims = SIMULATED_EMBEDDING_DIMENSIONS): number[] {
  const v: number[] = [];
  for (let i = 0; v.length < dims; i++) {
    const h = createHash('sha256').update(`${i}\n${text}`).digest();
    for (let j = 0; j + 1 < h.length && v.length < dims; j += 2) v.push(h.readInt16BE(j) / 32768);
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

interface Completion {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: Array<{
    index: number;
    logprobs: null;
    message: {
      role: string;
      refusal: null;
      content: string | null;
      tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
    };
    finish_reason: string;
  }>;
  usage: unknown;
}

/** A completion as OpenAI streams it: a chunk per word, tool call arguments in pieces, then [DONE]. */
function sendStream(res: http.ServerResponse, c: Completion, includeUsage: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const chunk = (delta: unknown, finish: string | null = null) =>
    res.write(
      `data: ${JSON.stringify({
        id: c.id,
        object: 'chat.completion.chunk',
        created: c.created,
        model: c.model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        ...(includeUsage && { usage: null }),
      })}\n\n`,
    );
  const choice = c.choices[0]!;
  chunk({ role: 'assistant', content: '' });
  for (const piece of choice.message.content?.match(/\s*\S+/g) ?? []) chunk({ content: piece });
  choice.message.tool_calls?.forEach((t, index) => {
    chunk({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.function.name, arguments: '' } }] });
    for (const piece of t.function.arguments.match(/.{1,16}/gs) ?? [])
      chunk({ tool_calls: [{ index, function: { arguments: piece } }] });
  });
  chunk({}, choice.finish_reason);
  if (includeUsage)
    res.write(
      `data: ${JSON.stringify({ id: c.id, object: 'chat.completion.chunk', created: c.created, model: c.model, choices: [], usage: c.usage })}\n\n`,
    );
  res.end('data: [DONE]\n\n');
}

function openAIError(
  res: http.ServerResponse,
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
  headers: Record<string, string> = {},
): void {
  send(res, status, { error: { message, type, param, code } }, headers);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export interface SimulatedProviderOptions {
  /** Share of requests that fail (0–1): 503 overloaded, or 429 with retry-after. */
  failureRate?: number;
  seed?: number;
  port?: number;
}

export interface SimulatedProvider {
  url: string;
  close(): Promise<void>;
}

export function simulatedHandler(opts: SimulatedProviderOptions = {}) {
  const failureRate = opts.failureRate ?? 0;
  const random = seededRandom(opts.seed ?? 42);
  const models = [...SIMULATED_CHAT_MODELS, ...SIMULATED_EMBEDDING_MODELS];

  /** Draws from the seeded sequence; returns true when it answered with a simulated failure. */
  function injectFailure(res: http.ServerResponse): boolean {
    if (failureRate <= 0) return false;
    const draw = random();
    if (draw >= failureRate) return false;
    if (draw < failureRate * 0.6)
      openAIError(
        res,
        503,
        'The engine is currently overloaded, please try again later. (simulated)',
        'server_error',
        null,
      );
    else
      openAIError(res, 429, 'Rate limit reached for requests. (simulated)', 'requests', 'rate_limit_exceeded', null, {
        'retry-after': '1',
      });
    return true;
  }

  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://sim');
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      send(res, 200, {
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'switchyard-simulated' })),
      });
      return;
    }
    const isChat = url.pathname === '/v1/chat/completions';
    const isEmbed = url.pathname === '/v1/embeddings';
    if (req.method !== 'POST' || (!isChat && !isEmbed)) {
      openAIError(res, 404, `Unknown endpoint ${req.method} ${url.pathname}`, 'invalid_request_error', 'unknown_url');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(await readBody(req));
    } catch {
      openAIError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
      return;
    }
    const parsed = (isChat ? ChatRequest : EmbeddingsRequest).safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      openAIError(
        res,
        400,
        `Invalid value for '${issue.path.join('.')}': ${issue.message}`,
        'invalid_request_error',
        'invalid_value',
        issue.path.join('.'),
      );
      return;
    }
    const model = parsed.data.model;
    const known = isChat ? SIMULATED_CHAT_MODELS : SIMULATED_EMBEDDING_MODELS;
    if (!known.includes(model)) {
      openAIError(
        res,
        404,
        `The model \`${model}\` does not exist or you do not have access to it.`,
        'invalid_request_error',
        'model_not_found',
      );
      return;
    }
    if (injectFailure(res)) return;

    if (isEmbed) {
      const input = (parsed.data as z.infer<typeof EmbeddingsRequest>).input;
      const texts = Array.isArray(input) ? input : [input];
      const tokens = texts.reduce((n, t) => n + countTokens(t), 0);
      send(res, 200, {
        object: 'list',
        model,
        data: texts.map((t, index) => ({ object: 'embedding', index, embedding: simulatedEmbedding(t) })),
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      });
      return;
    }

    const body = parsed.data as z.infer<typeof ChatRequest>;
    const promptTokens = countMessageTokens(body.messages);
    /** The completion for a message, as sent whole or streamed. */
    const answer = (message: Completion['choices'][number]['message'], finish: string, outputTokens: number) => {
      const c: Completion = {
        id: `chatcmpl-sim-${createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16)}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: outputTokens,
          total_tokens: promptTokens + outputTokens,
        },
      };
      if (body.stream) sendStream(res, c, body.stream_options?.include_usage === true);
      else send(res, 200, c);
    };
    const call = simulatedToolCall(body.tools, body.tool_choice, body.messages);
    if (call) {
      answer(
        { role: 'assistant', content: null, refusal: null, tool_calls: [call] },
        'tool_calls',
        countTokens(call.function.arguments) + 8,
      );
      return;
    }
    const schema = body.response_format?.type === 'json_schema' ? body.response_format.json_schema?.schema : undefined;
    // Structured output: JSON that fits the schema, or a JSON object in JSON mode.
    let content = schema
      ? JSON.stringify(exampleOf(schema))
      : simulatedReply(model, body.messages, body.response_format?.type === 'json_object');
    const cap = body.max_completion_tokens ?? body.max_tokens;
    let finish = 'stop';
    let outputTokens = countTokens(content);
    if (cap !== undefined && outputTokens > cap) {
      // Cut on a character budget proportional to the cap: deterministic and close enough.
      content = content.slice(0, Math.max(1, Math.floor((content.length * cap) / outputTokens)));
      outputTokens = Math.min(cap, countTokens(content));
      finish = 'length';
    }
    answer({ role: 'assistant', content, refusal: null }, finish, outputTokens);
  };
}

/** Starts the simulator on 127.0.0.1 (port 0 = any free port). */
export async function startSimulatedProvider(opts: SimulatedProviderOptions = {}): Promise<SimulatedProvider> {
  const handler = simulatedHandler(opts);
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: unknown) => openAIError(res, 500, String(err), 'server_error', null));
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
