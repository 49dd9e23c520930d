/**
 * A fake server for the OpenAI wire format (Chat Completions, Embeddings) in the flavours
 * Switchyard's kinds reach it by: OpenAI itself, Azure OpenAI (deployments in the path,
 * `api-version` in the query, the `api-key` header), a generic OpenAI-compatible server, and
 * Hugging Face (the router or TGI: OpenAI answers, but HF's own `{error, estimated_time}` errors).
 * It answers as `test/contract/fixture.ts` says; errors are each flavour's real bodies.
 */
import http from 'node:http';
import {
  CONTRACT_ANSWER,
  CONTRACT_EMBEDDING,
  CONTRACT_JSON,
  CONTRACT_PNG_BASE64,
  CONTRACT_TOOL_ARGS,
  type Fault,
  type KindFixture,
  type WireFake,
} from '../../contract/fixture';
import { closeServer, listenLocal, wireFakeOf, wireRecord } from './wireRecord';

export type OpenAIFlavour = 'openai' | 'azure' | 'compatible' | 'huggingface';

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface OpenAIWireFake extends WireFake {
  flavour: OpenAIFlavour;
}

/** The key a call carried, as the flavour sends it. */
export function keyOf(flavour: OpenAIFlavour, headers: http.IncomingHttpHeaders): string | undefined {
  if (flavour === 'azure') {
    const k = headers['api-key'];
    return Array.isArray(k) ? k[0] : k;
  }
  const auth = headers.authorization;
  return auth?.replace(/^Bearer\s+/i, '');
}

/** The flavour's own answer to a key it does not accept, with the key echoed (as some providers do). */
function unauthorized(flavour: OpenAIFlavour, sent: string | undefined): Reply {
  const key = String(sent ?? '');
  switch (flavour) {
    case 'azure':
      return {
        status: 401,
        body: {
          error: {
            code: '401',
            message: `Access denied due to invalid subscription key (${key}) or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.`,
          },
        },
      };
    case 'huggingface':
      return { status: 401, body: { error: `Invalid credentials in Authorization header: ${key}` } };
    default:
      return {
        status: 401,
        body: {
          error: {
            message: `Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com/account/api-keys.`,
            type: 'invalid_request_error',
            param: null,
            code: 'invalid_api_key',
          },
        },
      };
  }
}

/** A fault as the flavour answers it; `filtered`: a 200 whose choice was filtered. */
function faultReply(flavour: OpenAIFlavour, model: string, fault: Fault): Reply | 'filtered' {
  const contextLength: Reply = {
    status: 400,
    body: {
      error: {
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.",
        type: 'invalid_request_error',
        param: 'messages',
        code: 'context_length_exceeded',
      },
    },
  };
  switch (fault) {
    case 'rate-limit':
      if (flavour === 'azure')
        return {
          status: 429,
          headers: { 'retry-after': '0' },
          body: {
            error: {
              code: '429',
              message: `Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 0 seconds.`,
            },
          },
        };
      if (flavour === 'huggingface')
        // TGI's answer when its queue is full (the router passes 429s on as they come).
        return {
          status: 429,
          headers: { 'retry-after': '0.02' },
          body: { error: 'Model is overloaded', error_type: 'overloaded' },
        };
      return {
        status: 429,
        headers:
          flavour === 'openai'
            ? { 'retry-after-ms': '20', 'x-ratelimit-remaining-requests': '0' }
            : { 'retry-after': '0.02' },
        body: {
          error: {
            message: `Rate limit reached for ${model} on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20ms.`,
            type: 'requests',
            param: null,
            code: 'rate_limit_exceeded',
          },
        },
      };
    case 'server-error':
      if (flavour === 'azure')
        return {
          status: 503,
          body: {
            error: {
              code: 'ServiceUnavailable',
              message: 'The service is temporarily unable to process your request. Please try again later.',
            },
          },
        };
      if (flavour === 'huggingface')
        return { status: 503, body: { error: `Model ${model} is currently loading`, estimated_time: 0.02 } };
      return {
        status: 500,
        body: {
          error: {
            message: 'The server had an error while processing your request. Sorry about that!',
            type: 'server_error',
            param: null,
            code: null,
          },
        },
      };
    case 'context-length':
      if (flavour === 'huggingface')
        // TGI's validation error (the /v1 route answers in TGI's own error shape).
        return {
          status: 422,
          body: {
            error:
              'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 32768. Given: 40000 `inputs` tokens and 1024 `max_new_tokens`',
            error_type: 'validation',
          },
        };
      return contextLength;
    case 'content-filter':
      if (flavour === 'azure')
        return {
          status: 400,
          body: {
            error: {
              message:
                "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
              type: null,
              param: 'prompt',
              code: 'content_filter',
              status: 400,
              innererror: {
                code: 'ResponsibleAIPolicyViolation',
                content_filter_result: {
                  hate: { filtered: false, severity: 'safe' },
                  self_harm: { filtered: false, severity: 'safe' },
                  sexual: { filtered: false, severity: 'safe' },
                  violence: { filtered: true, severity: 'high' },
                },
              },
            },
          },
        };
      return 'filtered';
  }
}

/** What a request is answered with: text, the first tool's call, or the schema's JSON. */
function answerOf(body: any): { content: string | null; toolName?: string } {
  const tools = body.tools as Array<{ function: { name: string } }> | undefined;
  if (tools?.length) return { content: null, toolName: tools[0]!.function.name };
  if (body.response_format?.type === 'json_schema') return { content: JSON.stringify(CONTRACT_JSON) };
  return { content: CONTRACT_ANSWER };
}

const words = (text: string) => text.match(/\s*\S+/g) ?? [text];

function completion(model: string, body: any, filtered: boolean) {
  const { content, toolName } = filtered ? { content: null } : answerOf(body);
  const promptTokens = Math.max(1, JSON.stringify(body.messages ?? '').length >> 2);
  const completionTokens = Math.max(1, (content ?? JSON.stringify(CONTRACT_TOOL_ARGS)).length >> 2);
  return {
    id: `chatcmpl-fake-${Date.now()}`,
    object: 'chat.completion' as const,
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant' as const,
          content,
          refusal: null,
          ...(toolName && {
            tool_calls: [
              {
                id: 'call_fake_0',
                type: 'function',
                function: { name: toolName, arguments: JSON.stringify(CONTRACT_TOOL_ARGS) },
              },
            ],
          }),
        },
        finish_reason: filtered ? 'content_filter' : toolName ? 'tool_calls' : 'stop',
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

/** The same answer as `chat.completion.chunk` SSE frames: opening, pieces, finish, usage if asked, [DONE]. */
function chunks(model: string, body: any, filtered: boolean): string[] {
  const full = completion(model, body, filtered);
  const choice = full.choices[0]!;
  const frame = (delta: unknown, finish: string | null = null) =>
    `data: ${JSON.stringify({
      id: full.id,
      object: 'chat.completion.chunk',
      created: full.created,
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    })}\n\n`;
  const out = [frame({ role: 'assistant', content: '' })];
  if (choice.message.content) for (const p of words(choice.message.content)) out.push(frame({ content: p }));
  const call = choice.message.tool_calls?.[0];
  if (call) {
    out.push(
      frame({
        tool_calls: [
          { index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } },
        ],
      }),
    );
    const args = call.function.arguments;
    const half = Math.ceil(args.length / 2);
    for (const p of [args.slice(0, half), args.slice(half)])
      out.push(frame({ tool_calls: [{ index: 0, function: { arguments: p } }] }));
  }
  out.push(frame({}, choice.finish_reason));
  if (body.stream_options?.include_usage)
    out.push(
      `data: ${JSON.stringify({ id: full.id, object: 'chat.completion.chunk', created: full.created, model, choices: [], usage: full.usage })}\n\n`,
    );
  out.push('data: [DONE]\n\n');
  return out;
}

/** Where the call goes: `chat` or `embeddings`, and the model (Azure: the deployment in the path). */
function route(flavour: OpenAIFlavour, url: URL, body: any): { op: 'chat' | 'embeddings'; model: string } | Reply {
  const notFound: Reply = {
    status: 404,
    body:
      flavour === 'azure'
        ? { error: { code: '404', message: 'Resource not found' } }
        : {
            error: {
              message: `Unknown request URL: POST ${url.pathname}`,
              type: 'invalid_request_error',
              param: null,
              code: 'unknown_url',
            },
          },
  };
  if (flavour === 'azure') {
    const m = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(url.pathname);
    if (!m) return notFound;
    if (!url.searchParams.get('api-version'))
      return {
        status: 400,
        body: {
          error: {
            code: 'MissingApiVersionParameter',
            message: 'The api-version query parameter (?api-version=) is required for all requests.',
          },
        },
      };
    return { op: m[2] === 'embeddings' ? 'embeddings' : 'chat', model: decodeURIComponent(m[1]!) };
  }
  if (url.pathname === '/v1/chat/completions') return { op: 'chat', model: String(body.model) };
  if (url.pathname === '/v1/embeddings') return { op: 'embeddings', model: String(body.model) };
  return notFound;
}

export async function startOpenAIWire(flavour: OpenAIFlavour, acceptedKey: string): Promise<OpenAIWireFake> {
  const record = wireRecord();
  const { calls, faults } = record;

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const send = (r: Reply) =>
        res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers }).end(JSON.stringify(r.body));
      const text = Buffer.concat(parts).toString('utf8');
      const body = text ? JSON.parse(text) : undefined;
      const url = new URL(req.url ?? '/', 'http://fake');
      // Only POSTs are routes here; anything else is the flavour's 404.
      const where = route(flavour, req.method === 'POST' ? url : new URL('http://fake/'), body ?? {});
      if ('status' in where) return send(where);
      calls.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        model: where.model,
        streamed: where.op === 'chat' && body?.stream === true,
      });
      const sent = keyOf(flavour, req.headers);
      if (sent !== acceptedKey) return send(unauthorized(flavour, sent));
      if (where.op === 'embeddings') {
        const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
        return send({
          status: 200,
          body: {
            object: 'list',
            model: where.model,
            data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: CONTRACT_EMBEDDING })),
            usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
          },
        });
      }
      const fault = faults.get(where.model);
      const reply = fault && faultReply(flavour, where.model, fault);
      if (reply && reply !== 'filtered') return send(reply);
      const filtered = reply === 'filtered';
      if (body.stream !== true) return send({ status: 200, body: completion(where.model, body, filtered) });
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      void (async () => {
        // Each frame flushed on its own, so the client reads pieces, not one buffered write.
        for (const f of chunks(where.model, body, filtered)) {
          if (res.destroyed) return;
          await new Promise<void>((resolve) => res.write(f, () => resolve()));
        }
        res.end();
      })();
    });
  });
  const origin = await listenLocal(server);
  return {
    flavour,
    // Azure's endpoint is the resource's origin (the client adds /openai); the others end in /v1.
    url: flavour === 'azure' ? origin : `${origin}/v1`,
    ...wireFakeOf(record),
    close: () => closeServer(server),
  };
}

/** A contract fixture for a kind on this wire: how the OpenAI request shape says what it asked for. */
export function openaiWireFixture(
  flavour: OpenAIFlavour,
  f: Pick<KindFixture, 'kind' | 'instance' | 'chatModel' | 'embedModel'>,
): KindFixture {
  return {
    ...f,
    start: (key) => startOpenAIWire(flavour, key),
    saw: {
      tools: (call) => (call.body?.tools ?? []).map((t: { function: { name: string } }) => t.function.name),
      schema: (call) => call.body?.response_format?.type === 'json_schema',
      image: (call) =>
        (call.body?.messages ?? []).some(
          (m: { content: unknown }) =>
            Array.isArray(m.content) &&
            m.content.some(
              (p: { type: string; image_url?: { url: string } }) =>
                p.type === 'image_url' && p.image_url?.url === `data:image/png;base64,${CONTRACT_PNG_BASE64}`,
            ),
        ),
      key: (call) => keyOf(flavour, call.headers),
    },
  };
}
