/**
 * The built-in simulated provider: a local HTTP server speaking the OpenAI wire format, so that
 * with no API key Switchyard still runs end to end through the real `openai` SDK adapter.
 * Deterministic: the same request always gets the same reply and the same token counts.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { ChatMessageSchema, contentText } from '../domain/chat';
import { countMessageTokens, countTokens } from '../domain/tokens';

const SimRequest = z.object({
  model: z.string(),
  messages: z.array(ChatMessageSchema).min(1),
  max_completion_tokens: z.number().int().positive().optional(),
  max_tokens: z.number().int().positive().optional(),
  response_format: z.object({ type: z.string() }).optional(),
});

const PHRASES = [
  'Here is a concise answer.',
  'This is what the simulated model would say.',
  'In short, the request was understood.',
  'The simulated provider answered deterministically.',
];

/** The deterministic reply the simulator gives for a prompt: also used by tests to check content. */
export function simulatedReply(model: string, lastUserText: string, json: boolean): string {
  const digest = createHash('sha256').update(`${model}\n${lastUserText}`).digest();
  const phrase = PHRASES[digest[0]! % PHRASES.length]!;
  const echo = lastUserText.replace(/\s+/g, ' ').trim().slice(0, 120);
  const text = `[${model}] ${phrase} You asked: "${echo}"`;
  return json ? JSON.stringify({ model, answer: phrase, echo }) : text;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'x-request-id': `sim-${Date.now()}` });
  res.end(data);
}

function openAIError(res: http.ServerResponse, status: number, message: string, type: string, code: string | null, param: string | null = null): void {
  send(res, status, { error: { message, type, param, code } });
}

export interface SimulatedProvider {
  url: string;
  models: string[];
  close(): Promise<void>;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function handleSimulated(models: string[]) {
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://sim');
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      send(res, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'switchyard-simulated' })) });
      return;
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
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
    const parsed = SimRequest.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      openAIError(res, 400, `Invalid value for '${issue.path.join('.')}': ${issue.message}`, 'invalid_request_error', null, issue.path.join('.'));
      return;
    }
    const body = parsed.data;
    if (!models.includes(body.model)) {
      openAIError(res, 404, `The model \`${body.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found');
      return;
    }
    const lastUser = [...body.messages].reverse().find((m) => m.role === 'user');
    let content = simulatedReply(body.model, lastUser ? contentText(lastUser.content) : '', body.response_format?.type === 'json_object');
    const cap = body.max_completion_tokens ?? body.max_tokens;
    let finish = 'stop';
    let outputTokens = countTokens(content);
    if (cap !== undefined && outputTokens > cap) {
      // Cut on a character budget proportional to the cap: deterministic and close enough.
      content = content.slice(0, Math.max(1, Math.floor((content.length * cap) / outputTokens)));
      outputTokens = Math.min(cap, countTokens(content));
      finish = 'length';
    }
    const promptTokens = countMessageTokens(body.messages);
    send(res, 200, {
      id: `chatcmpl-sim-${createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: finish, logprobs: null }],
      usage: { prompt_tokens: promptTokens, completion_tokens: outputTokens, total_tokens: promptTokens + outputTokens },
    });
  };
}

/** Starts the simulator on 127.0.0.1 (port 0 = any free port). */
export async function startSimulatedProvider(models: string[], port = 0): Promise<SimulatedProvider> {
  const handler = handleSimulated(models);
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: unknown) => openAIError(res, 500, String(err), 'server_error', null));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}/v1`,
    models,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
