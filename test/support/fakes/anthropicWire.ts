/**
 * A fake server for Anthropic's Messages API (`POST /v1/messages`), answering as
 * `test/contract/fixture.ts` says: text, a `tool_use` of the first tool, a forced tool
 * (`tool_choice: {type: 'tool'}`, how the adapter asks for a schema) answered with CONTRACT_JSON
 * as its input, SSE events as the API streams them, and Anthropic's real error bodies.
 */
import http from 'node:http';
import { CONTRACT_ANSWER, CONTRACT_JSON, CONTRACT_TOOL_ARGS, type Fault, type WireFake } from '../../contract/fixture';
import { closeServer, listenLocal, wireFakeOf, wireRecord } from './wireRecord';

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const error = (status: number, type: string, message: string, headers?: Record<string, string>): Reply => ({
  status,
  headers: { 'request-id': `req_fake_${Date.now()}`, ...headers },
  body: { type: 'error', error: { type, message } },
});

function faultReply(fault: Fault): Reply | 'refusal' {
  switch (fault) {
    case 'rate-limit':
      return error(
        429,
        'rate_limit_error',
        'This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.',
        { 'retry-after': '0', 'anthropic-ratelimit-requests-remaining': '0' },
      );
    case 'server-error':
      return error(529, 'overloaded_error', 'Overloaded');
    case 'context-length':
      return error(400, 'invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum');
    case 'content-filter':
      return 'refusal';
  }
}

type Block =
  { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

function messageOf(model: string, body: any, refusal: boolean) {
  const tools = (body.tools ?? []) as Array<{ name: string }>;
  const forced = body.tool_choice?.type === 'tool' ? String(body.tool_choice.name) : undefined;
  const content: Block[] = refusal
    ? []
    : forced
      ? [{ type: 'tool_use', id: 'toolu_fake_0', name: forced, input: CONTRACT_JSON }]
      : tools.length
        ? [{ type: 'tool_use', id: 'toolu_fake_0', name: tools[0]!.name, input: CONTRACT_TOOL_ARGS }]
        : [{ type: 'text', text: CONTRACT_ANSWER }];
  const inputTokens = Math.max(1, JSON.stringify(body.messages ?? '').length >> 2);
  const outputTokens = Math.max(1, JSON.stringify(content).length >> 3);
  return {
    id: `msg_fake_${Date.now()}`,
    type: 'message' as const,
    role: 'assistant' as const,
    model,
    content,
    stop_reason: refusal ? 'refusal' : content[0]?.type === 'tool_use' ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: inputTokens, output_tokens: outputTokens },
  };
}

/** The same message as the API streams it. */
function events(model: string, body: any, refusal: boolean): string[] {
  const full = messageOf(model, body, refusal);
  const out: string[] = [];
  const ev = (type: string, data: Record<string, unknown>) =>
    out.push(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  ev('message_start', {
    message: {
      ...full,
      content: [],
      stop_reason: null,
      usage: { input_tokens: full.usage.input_tokens, output_tokens: 1 },
    },
  });
  ev('ping', {});
  full.content.forEach((block, index) => {
    if (block.type === 'text') {
      ev('content_block_start', { index, content_block: { type: 'text', text: '' } });
      for (const p of block.text.match(/\s*\S+/g) ?? [block.text])
        ev('content_block_delta', { index, delta: { type: 'text_delta', text: p } });
    } else {
      ev('content_block_start', { index, content_block: { ...block, input: {} } });
      const json = JSON.stringify(block.input);
      const half = Math.ceil(json.length / 2);
      for (const p of [json.slice(0, half), json.slice(half)])
        ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: p } });
    }
    ev('content_block_stop', { index });
  });
  ev('message_delta', {
    delta: { stop_reason: full.stop_reason, stop_sequence: null },
    usage: { output_tokens: full.usage.output_tokens },
  });
  ev('message_stop', {});
  return out;
}

/**
 * The key a call carried: `x-api-key`, or `Authorization: Bearer` (what the SDK this project pins,
 * 1.12, sends for an `apiKey`; the API takes either).
 */
export function anthropicKeyOf(headers: http.IncomingHttpHeaders): string | undefined {
  const k = headers['x-api-key'];
  return (Array.isArray(k) ? k[0] : k) ?? headers.authorization?.replace(/^Bearer\s+/i, '');
}

export async function startAnthropicWire(acceptedKey: string): Promise<WireFake> {
  const record = wireRecord();
  const { calls, faults } = record;

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const send = (r: Reply) =>
        res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers }).end(JSON.stringify(r.body));
      const path = new URL(req.url ?? '/', 'http://fake').pathname;
      if (req.method !== 'POST' || path !== '/v1/messages')
        return send(error(404, 'not_found_error', `Not found: ${req.method} ${path}`));
      const text = Buffer.concat(parts).toString('utf8');
      const body = text ? JSON.parse(text) : {};
      const model = String(body.model);
      calls.push({
        method: req.method,
        url: req.url ?? '',
        headers: req.headers,
        body,
        model,
        streamed: body.stream === true,
      });
      const sent = anthropicKeyOf(req.headers);
      if (sent !== acceptedKey) return send(error(401, 'authentication_error', `invalid x-api-key: ${String(sent)}`));
      if (typeof body.max_tokens !== 'number')
        return send(error(400, 'invalid_request_error', 'max_tokens: Field required'));
      const fault = faults.get(model);
      const reply = fault && faultReply(fault);
      if (reply && reply !== 'refusal') return send(reply);
      const refusal = reply === 'refusal';
      if (body.stream !== true) return send({ status: 200, body: messageOf(model, body, refusal) });
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      void (async () => {
        for (const f of events(model, body, refusal)) {
          if (res.destroyed) return;
          await new Promise<void>((resolve) => res.write(f, () => resolve()));
        }
        res.end();
      })();
    });
  });
  return {
    // The SDK adds /v1/messages to its base URL.
    url: await listenLocal(server),
    ...wireFakeOf(record),
    close: () => closeServer(server),
  };
}
