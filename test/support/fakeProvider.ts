/**
 * A fake model provider: a real HTTP server speaking the OpenAI or Anthropic wire format, whose
 * behaviour each test scripts per model — status codes with the provider's real error bodies,
 * retry-after headers, added latency, hangs, connection resets and malformed JSON, and the stream
 * faults of the failover scenarios (a late first token, a malformed event, no terminator, a
 * refused or honoured assistant prefill (an OpenAI-format one only when the request asks as vLLM or
 * DeepSeek would have it), an outage that ends at a given time).
 * The official SDKs talk to it exactly as they talk to the real APIs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatMessage } from '../../src/domain/chat';
import { simulatedOperationReply } from '../../src/providers/simulatedOperations';

/** The simulator's answer to an operation's messages, in either wire format's request shape. */
function simulatedReply(format: WireFormat, body: Record<string, unknown>): string | undefined {
  const messages = (body.messages ?? []) as ChatMessage[];
  const system = format === 'anthropic' && body.system !== undefined ? [{ role: 'system', content: body.system }] : [];
  return simulatedOperationReply([...(system as ChatMessage[]), ...messages]);
}

export type WireFormat = 'openai' | 'anthropic';

export type Behaviour =
  | {
      kind: 'ok';
      content?: string;
      delayMs?: number;
      /** Answer only once this settles (hold calls in flight). */ waitFor?: Promise<unknown>;
      /** 200 whose answer was filtered: OpenAI/Azure finish_reason content_filter, Anthropic stop_reason refusal. */ filtered?: boolean;
      /** Answer Switchyard's operations as the simulator does (valid JSON: an extractive summary…). */
      simulate?: boolean;
      /** Call these tools (OpenAI `tool_calls` / Anthropic `tool_use` blocks) instead of answering text. */
      toolCalls?: Array<{ name: string; arguments: Record<string, unknown> }>;
      /** Streamed (the request says `stream: true`): the pieces the content is sent in (default: one per word). */
      pieces?: number;
      /** Streamed: wait this long before each piece. */
      pieceDelayMs?: number;
      /** Streamed: drop the connection after this many pieces. */
      cutAfter?: number;
      /** Streamed: send nothing more after this many pieces (0: only the stream's opening), and hang. */
      stallAfter?: number;
      /** Streamed: the answer is filtered after this many pieces (finish_reason content_filter / stop_reason refusal). */
      filteredAfter?: number;
      /** Streamed: send malformed events (`malformedEvents` of them, default 1) after this many pieces. */
      malformedAfter?: number;
      malformedEvents?: number;
      /** What the malformed events are: not JSON (default), or JSON that is not the wire format's event. */
      malformedShape?: 'not-json' | 'not-event';
      /** Streamed: the opening at once, the first piece only after this long (a slow first token). */
      firstPieceDelayMs?: number;
      /** Streamed: end the body without the terminator (OpenAI `[DONE]`, Anthropic `message_stop`). */
      noDone?: boolean;
      /** A request that ends with an assistant message (a prefill) gets the provider's 400 for it. */
      rejectPrefill?: boolean;
      /**
       * A request whose prefill is the start of the content gets only the rest (a continuation).
       * OpenAI format: only when the request asks for it as a server that offers it does (vLLM's
       * `continue_final_message` with `add_generation_prompt: false`, or the last message's
       * `prefix: true`); otherwise the prefill is answered as a new turn, the whole content again.
       */
      continues?: boolean;
    }
  | {
      kind: 'error';
      status: number;
      errorType?: string;
      code?: string;
      message?: string;
      headers?: Record<string, string>;
      /** Put the credentials the call came with into the error message (as some providers do). */
      echoKey?: boolean;
      /** Fields of the error object, built from the key the call came with (echo it anywhere, encoded or not). */
      fields?: (key: string) => Record<string, unknown>;
    }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'malformed' }
  /** One behaviour until a time (ms since the epoch), another after it: an outage that ends. */
  | { kind: 'until'; untilMs: number; before: Behaviour; after: Behaviour };

/** Anthropic's answer to a prefill on a model that does not take one. */
export const PREFILL_REJECTED =
  'This model does not support assistant message prefill. The conversation must end with a user message.';

/** The text of the request's last message when it is the assistant's (a prefill), else undefined. */
export function prefillOf(body: Record<string, unknown>): string | undefined {
  const last = (body.messages as Array<{ role: string; content: unknown }> | undefined)?.at(-1);
  if (last?.role !== 'assistant') return undefined;
  if (typeof last.content === 'string') return last.content;
  return Array.isArray(last.content)
    ? (last.content as Array<{ type: string; text?: string }>).map((p) => p.text ?? '').join('')
    : '';
}

/** vLLM's 400 for `continue_final_message` with `add_generation_prompt` left on (its default). */
export const CONTINUE_WITH_GENERATION_PROMPT =
  'Cannot set both `continue_final_message` and `add_generation_prompt` to True.';

/**
 * How an OpenAI-format request asks the server to continue its last (assistant) message in place:
 * vLLM's `continue_final_message` (valid only with `add_generation_prompt: false`), or the last
 * message's `prefix: true` (DeepSeek, Mistral). Undefined: it does not ask.
 */
export function continuationAsked(
  body: Record<string, unknown>,
): 'continue_final_message' | 'prefix' | 'both-prompts' | undefined {
  if (body.continue_final_message === true)
    return body.add_generation_prompt === false ? 'continue_final_message' : 'both-prompts';
  const last = (body.messages as Array<{ role: string; prefix?: unknown }> | undefined)?.at(-1);
  return last?.role === 'assistant' && last.prefix === true ? 'prefix' : undefined;
}

export interface RecordedCall {
  model: string;
  at: number;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}

export interface FakeProvider {
  url: string;
  format: WireFormat;
  calls: RecordedCall[];
  /** Queue behaviours for a model, consumed one per request; then the default applies. */
  script(model: string, ...behaviours: Behaviour[]): void;
  /** Behaviour once a model's queue is empty (default: ok); model `*`: for every model without its own. */
  setDefault(model: string, behaviour: Behaviour): void;
  callsFor(model: string): RecordedCall[];
  reset(): void;
  close(): Promise<void>;
}

/** The provider's own error body for a status, as its API sends it. */
export function errorBody(format: WireFormat, b: Extract<Behaviour, { kind: 'error' }>): unknown {
  if (format === 'anthropic') {
    const type =
      b.errorType ??
      (
        {
          400: 'invalid_request_error',
          401: 'authentication_error',
          403: 'permission_error',
          404: 'not_found_error',
          413: 'request_too_large',
          429: 'rate_limit_error',
          529: 'overloaded_error',
        } as Record<number, string>
      )[b.status] ??
      'api_error';
    return { type: 'error', error: { type, message: b.message ?? `fake ${b.status}` } };
  }
  const type =
    b.errorType ?? (b.status >= 500 ? 'server_error' : b.status === 429 ? 'requests' : 'invalid_request_error');
  return { error: { message: b.message ?? `fake ${b.status}`, type, param: null, code: b.code ?? null } };
}

function successBody(
  format: WireFormat,
  model: string,
  content: string,
  body: Record<string, unknown>,
  filtered = false,
  toolCalls: Array<{ name: string; arguments: Record<string, unknown> }> = [],
): unknown {
  const inputTokens = JSON.stringify(body.messages ?? '').length >> 2;
  const outputTokens = Math.max(1, content.length >> 2);
  if (format === 'anthropic') {
    return {
      id: `msg_fake_${Date.now()}`,
      type: 'message',
      role: 'assistant',
      model,
      content: filtered
        ? []
        : toolCalls.length
          ? toolCalls.map((c, i) => ({ type: 'tool_use', id: `toolu_fake_${i}`, name: c.name, input: c.arguments }))
          : [{ type: 'text', text: content }],
      stop_reason: filtered ? 'refusal' : toolCalls.length ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: outputTokens },
    };
  }
  return {
    id: `chatcmpl-fake-${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: filtered || toolCalls.length ? null : content,
          refusal: null,
          ...(toolCalls.length && {
            tool_calls: toolCalls.map((c, i) => ({
              id: `call_fake_${i}`,
              type: 'function',
              function: { name: c.name, arguments: JSON.stringify(c.arguments) },
            })),
          }),
        },
        finish_reason: filtered ? 'content_filter' : toolCalls.length ? 'tool_calls' : 'stop',
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
  };
}

/** The content split into `n` pieces (or one per word). */
function piecesOf(text: string, n?: number): string[] {
  if (!n) return text.match(/\s*\S+/g) ?? [];
  const size = Math.ceil(text.length / n);
  return Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
}

/**
 * A success as the provider streams it: frames, each marked whether it carries a piece of the
 * answer (what `cutAfter` and `stallAfter` count).
 */
function streamFrames(
  format: WireFormat,
  model: string,
  content: string,
  body: Record<string, unknown>,
  b: Extract<Behaviour, { kind: 'ok' }>,
): Array<{ data: string; piece: boolean }> {
  const full = successBody(format, model, content, body, b.filtered, b.toolCalls) as any;
  const frames: Array<{ data: string; piece: boolean }> = [];
  const tools = b.toolCalls ?? [];
  const textPieces = piecesOf(content, b.pieces).slice(0, b.filteredAfter);
  const cutByFilter = b.filteredAfter !== undefined;
  if (format === 'anthropic') {
    const ev = (type: string, data: Record<string, unknown>, piece = false) =>
      frames.push({ data: `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`, piece });
    ev('message_start', {
      message: {
        ...full,
        content: [],
        stop_reason: null,
        usage: { input_tokens: full.usage.input_tokens, output_tokens: 1 },
      },
    });
    ev('ping', {});
    if (!tools.length && !b.filtered) {
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
      for (const p of textPieces) ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } }, true);
      ev('content_block_stop', { index: 0 });
    }
    tools.forEach((t, index) => {
      ev('content_block_start', {
        index,
        content_block: { type: 'tool_use', id: `toolu_fake_${index}`, name: t.name, input: {} },
      });
      for (const p of piecesOf(JSON.stringify(t.arguments), b.pieces ?? 3))
        ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: p } }, true);
      ev('content_block_stop', { index });
    });
    ev('message_delta', {
      delta: { stop_reason: cutByFilter ? 'refusal' : full.stop_reason, stop_sequence: null },
      usage: { output_tokens: full.usage.output_tokens },
    });
    ev('message_stop', {});
    return frames;
  }
  const chunk = (delta: unknown, finish: string | null = null, piece = false) =>
    frames.push({
      data: `data: ${JSON.stringify({
        id: full.id,
        object: 'chat.completion.chunk',
        created: full.created,
        model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      })}\n\n`,
      piece,
    });
  chunk({ role: 'assistant', content: '' });
  if (!tools.length && !b.filtered) for (const p of textPieces) chunk({ content: p }, null, true);
  tools.forEach((t, index) => {
    chunk({
      tool_calls: [{ index, id: `call_fake_${index}`, type: 'function', function: { name: t.name, arguments: '' } }],
    });
    for (const p of piecesOf(JSON.stringify(t.arguments), b.pieces ?? 3))
      chunk({ tool_calls: [{ index, function: { arguments: p } }] }, null, true);
  });
  chunk({}, cutByFilter ? 'content_filter' : full.choices[0].finish_reason);
  if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage)
    frames.push({
      data: `data: ${JSON.stringify({ id: full.id, object: 'chat.completion.chunk', created: full.created, model, choices: [], usage: full.usage })}\n\n`,
      piece: false,
    });
  frames.push({ data: 'data: [DONE]\n\n', piece: false });
  return frames;
}

/** Text inside the malformed events the fake sends: a log line that holds it leaked an event's content. */
export const MALFORMED_MARKER = 'MALFORMED-PIECE-TEXT';

/** A malformed event in the wire format: a `data:` line that is not JSON, or JSON that is not an event. */
function malformedFrame(format: WireFormat, shape: 'not-json' | 'not-event'): string {
  const data =
    shape === 'not-json'
      ? `{"choices": [{"delta": {"content": "${MALFORMED_MARKER}`
      : JSON.stringify(
          format === 'anthropic'
            ? { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 42 }, note: MALFORMED_MARKER }
            : { id: 'chatcmpl-broken', choices: { text: MALFORMED_MARKER } },
        );
  return format === 'anthropic' ? `event: content_block_delta\ndata: ${data}\n\n` : `data: ${data}\n\n`;
}

export async function startFakeProvider(format: WireFormat): Promise<FakeProvider> {
  const queues = new Map<string, Behaviour[]>();
  const defaults = new Map<string, Behaviour>();
  const calls: RecordedCall[] = [];
  const hung = new Set<http.ServerResponse>();
  const path = format === 'anthropic' ? '/v1/messages' : '/v1/chat/completions';
  const embeddingsPath = '/v1/embeddings';

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (format === 'openai' && req.method === 'POST' && req.url === embeddingsPath) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
          model: string;
          input: string | string[];
        };
        calls.push({ model: body.model, at: Date.now(), body, headers: req.headers });
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        const data = inputs.map((t, index) => ({ object: 'embedding', index, embedding: [t.length, 1, 0, 0.5] }));
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            object: 'list',
            model: body.model,
            data,
            usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
          }),
        );
        return;
      }
      if (req.method !== 'POST' || req.url !== path) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify(errorBody(format, { kind: 'error', status: 404, message: `no route ${req.url}` })));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      const model = String(body.model);
      calls.push({ model, at: Date.now(), body, headers: req.headers });
      let picked = queues.get(model)?.shift() ?? defaults.get(model) ?? defaults.get('*') ?? { kind: 'ok' };
      while (picked.kind === 'until') picked = Date.now() < picked.untilMs ? picked.before : picked.after;
      const prefill = prefillOf(body);
      if (picked.kind === 'ok' && picked.rejectPrefill && prefill !== undefined)
        picked = { kind: 'error', status: 400, errorType: 'invalid_request_error', message: PREFILL_REJECTED };
      // An OpenAI-format server continues a prefill only when asked to (Anthropic's always does).
      const asked = format === 'openai' ? continuationAsked(body) : undefined;
      const inPlace = format === 'anthropic' || asked === 'continue_final_message' || asked === 'prefix';
      if (picked.kind === 'ok' && asked === 'both-prompts')
        picked = { kind: 'error', status: 400, errorType: 'BadRequestError', message: CONTINUE_WITH_GENERATION_PROMPT };
      const b = picked;
      switch (b.kind) {
        case 'ok': {
          let content =
            b.content ?? (b.simulate ? simulatedReply(format, body) : undefined) ?? `fake answer from ${model}`;
          if (b.continues && inPlace && prefill !== undefined && content.startsWith(prefill))
            content = content.slice(prefill.length);
          const sendStream = async () => {
            res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
            let pieces = 0;
            let injected = false;
            const write = (data: string) => new Promise<void>((resolve) => res.write(data, () => resolve()));
            for (const f of streamFrames(format, model, content, body, b)) {
              if (f.piece) {
                if (b.cutAfter !== undefined && pieces >= b.cutAfter) return req.socket.destroy();
                if (b.stallAfter !== undefined && pieces >= b.stallAfter) return void hung.add(res);
                const wait = (pieces === 0 ? (b.firstPieceDelayMs ?? 0) : 0) + (b.pieceDelayMs ?? 0);
                if (wait) await new Promise((r) => setTimeout(r, wait));
                if (b.malformedAfter !== undefined && pieces >= b.malformedAfter && !injected && !res.destroyed) {
                  injected = true;
                  const bad = malformedFrame(format, b.malformedShape ?? 'not-json');
                  for (let i = 0; i < (b.malformedEvents ?? 1); i++) await write(bad);
                }
                pieces++;
              }
              if (b.noDone && (f.data === 'data: [DONE]\n\n' || f.data.startsWith('event: message_stop'))) continue;
              if (res.destroyed) return;
              // Flushed before the next step: a cut must not drop pieces already "sent".
              await write(f.data);
            }
            res.end();
          };
          const send = () =>
            body.stream
              ? void sendStream()
              : res
                  .writeHead(200, { 'content-type': 'application/json' })
                  .end(JSON.stringify(successBody(format, model, content, body, b.filtered, b.toolCalls)));
          if (b.waitFor) void b.waitFor.then(send);
          else if (b.delayMs) setTimeout(send, b.delayMs);
          else send();
          return;
        }
        case 'error': {
          const sent = req.headers.authorization ?? req.headers['x-api-key'];
          const shown = b.echoKey ? { ...b, message: `Incorrect API key provided: ${String(sent)}` } : b;
          let out = errorBody(format, shown) as { error: Record<string, unknown> };
          if (b.fields) {
            const key = String(sent).replace(/^Bearer\s+/i, '');
            out = { ...out, error: { ...out.error, ...b.fields(key) } };
          }
          res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers }).end(JSON.stringify(out));
          return;
        }
        case 'hang':
          hung.add(res);
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'malformed':
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "chatcmpl-broken", "choices": [');
          return;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}${format === 'openai' ? '/v1' : ''}`,
    format,
    calls,
    script: (model, ...behaviours) => queues.set(model, [...(queues.get(model) ?? []), ...behaviours]),
    setDefault: (model, behaviour) => defaults.set(model, behaviour),
    callsFor: (model) => calls.filter((c) => c.model === model),
    reset: () => {
      queues.clear();
      defaults.clear();
      calls.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hung) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
