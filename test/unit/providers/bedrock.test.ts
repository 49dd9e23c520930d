/**
 * The `bedrock` kind against its fake Bedrock runtime (HTTP/2 on 127.0.0.1, the SDK's real wire
 * format): request mapping, answers, streams, errors, and both credential paths — a Bedrock API key
 * as a bearer token (no AWS credential looked up), and SigV4 from the AWS default chain.
 */
import dns from 'node:dns';
import net from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { CatalogSchema } from '../../../src/domain/catalog';
import { BEDROCK_MODELS } from '../../../src/domain/models/bedrock';
import { bedrock } from '../../../src/providers/bedrock';
import { kindIssues } from '../../../src/providers/kinds';
import { type BedrockAdapter, toConverseMessages } from '../../../src/providers/bedrock/adapter';
import { bedrockFailure } from '../../../src/providers/bedrock/errors';
import { toProviderFailure } from '../../../src/providers/errors';
import { registerSecrets } from '../../../src/providers/redact';
import type { ChatCallInput } from '../../../src/providers/types';
import type { StreamDelta } from '../../../src/domain/stream';
import {
  CONTRACT_ANSWER,
  CONTRACT_JSON,
  CONTRACT_PNG_BASE64,
  CONTRACT_SCHEMA,
  CONTRACT_TOOL,
  CONTRACT_TOOL_ARGS,
} from '../../contract/fixture';
import { startBedrockFake, type BedrockFake } from '../../support/fakes/bedrock';

const KEY = 'bedrock-api-key-7d41c9e2a0b35f68';
const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const LIMITS = { firstTokenMs: 5_000, idleMs: 5_000 };
const AWS_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_BEARER_TOKEN_BEDROCK',
  'AWS_PROFILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_AUTH_SCHEME_PREFERENCE',
] as const;

let fake: BedrockFake;
beforeAll(async () => {
  fake = await startBedrockFake(KEY, { sigV4AccessKeyId: 'AKIDEXAMPLEBEDROCK01' });
});
afterAll(() => fake.close());

/** Where this process opened connections, and the names it looked up, during a test: only 127.0.0.1, none. */
const outside: string[] = [];
beforeEach(() => {
  fake.clear();
  outside.length = 0;
  const connect = jest.spyOn(net.Socket.prototype, 'connect');
  connect.mockImplementation(function (this: net.Socket, ...args: unknown[]) {
    // net.connect hands over its arguments already normalized, as one array.
    const [first, second] = Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
    const host =
      typeof first === 'object' && first !== null
        ? ((first as { host?: string; path?: string }).host ?? (first as { path?: string }).path)
        : typeof second === 'string'
          ? second
          : undefined;
    if (host !== '127.0.0.1') outside.push(`connect ${String(host)}`);
    return Reflect.apply(originalConnect, this, args) as net.Socket;
  });
  const lookup = dns.lookup;
  jest.spyOn(dns, 'lookup').mockImplementation(((name: string, ...rest: unknown[]) => {
    // The loopback literal resolves locally (a server listening on it asks).
    if (name === '127.0.0.1') return Reflect.apply(lookup, dns, [name, ...rest]) as unknown;
    outside.push(`lookup ${name}`);
    throw new Error(`no lookups in this test (${name})`);
  }) as unknown as typeof dns.lookup);
});
afterEach(() => {
  jest.restoreAllMocks();
  expect(outside).toEqual([]);
});
const originalConnect = net.Socket.prototype.connect;

const adapter = (apiKey: string | null = KEY, extra: { headers?: Record<string, string> } = {}) =>
  bedrock.create({
    providerId: 'bedrock-us',
    apiKey,
    region: 'us-east-1',
    baseURL: fake.url,
    timeoutMs: 5_000,
    ...extra,
  });
const ask = (over: Partial<ChatCallInput> = {}): ChatCallInput => ({
  model: MODEL,
  messages: [{ role: 'user', content: 'What is it?' }],
  ...over,
});
const failureOf = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  const f = err as ApplicationFailure;
  return { type: f.type, message: f.message, details: f.details?.[0] as Record<string, unknown> };
};
/** Runs `fn` with these AWS variables only (the rest unset), then puts the environment back. */
async function withAwsEnv<T>(vars: Partial<Record<(typeof AWS_ENV)[number], string>>, fn: () => Promise<T>) {
  const saved = Object.fromEntries(AWS_ENV.map((k) => [k, process.env[k]]));
  for (const k of AWS_ENV) delete process.env[k];
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const k of AWS_ENV)
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
  }
}

describe('the kind', () => {
  it('needs a region, takes no key as "use the AWS chain", and declares no embeddings', () => {
    expect(bedrock.requires).toEqual(['region']);
    expect(bedrock.keyOptional).toBe(true);
    expect(bedrock.capabilities).toEqual({
      stream: true,
      tools: true,
      structuredOutput: true,
      vision: true,
      embeddings: false,
    });
    expect(adapter().embed).toBeUndefined();
    expect(() => bedrock.create({ providerId: 'x', apiKey: null, timeoutMs: 1_000 })).toThrow(/without a region/);
  });
});

describe('messages as Converse turns', () => {
  const at = { provider: 'p', model: 'm' };

  it('system and developer become system texts; same-role turns merge; tool results are the user’s turn', () => {
    const { system, messages, usesTools } = toConverseMessages(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: 'Use metric units.' },
        { role: 'user', content: 'Weather?' },
        { role: 'user', content: 'In Paris.' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18 °C' },
        { role: 'user', content: 'And tomorrow?' },
      ],
      at,
    );
    expect(system).toEqual(['Be brief.', 'Use metric units.']);
    expect(usesTools).toBe(true);
    expect(messages).toEqual([
      { role: 'user', content: [{ text: 'Weather?' }, { text: 'In Paris.' }] },
      {
        role: 'assistant',
        content: [{ toolUse: { toolUseId: 'call_1', name: 'get_weather', input: { city: 'Paris' } } }],
      },
      {
        role: 'user',
        content: [{ toolResult: { toolUseId: 'call_1', content: [{ text: '18 °C' }] } }, { text: 'And tomorrow?' }],
      },
    ]);
  });

  it('an empty tool result still says something (Converse refuses blank text)', () => {
    const { messages } = toConverseMessages(
      [
        { role: 'user', content: 'Go' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'noop', arguments: '' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: '' },
      ],
      at,
    );
    expect(messages[1]!.content).toEqual([{ toolUse: { toolUseId: 'c1', name: 'noop', input: {} } }]);
    expect(messages[2]!.content).toEqual([{ toolResult: { toolUseId: 'c1', content: [{ text: '(empty)' }] } }]);
  });

  it('the first turn is the user’s, and blank text is left out (Converse refuses it)', () => {
    const { messages } = toConverseMessages(
      [
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: '   ' },
        { role: 'user', content: 'Hi' },
      ],
      at,
    );
    expect(messages).toEqual([
      { role: 'user', content: [{ text: '(continue)' }] },
      { role: 'assistant', content: [{ text: 'Hello!' }] },
      { role: 'user', content: [{ text: 'Hi' }] },
    ]);
  });

  it('an image URL that is not a data URL is an InvalidRequest, and nothing is sent', async () => {
    const f = await failureOf(
      adapter().chat(
        ask({
          messages: [
            { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] },
          ],
        }),
      ),
    );
    expect(f.type).toBe('InvalidRequest');
    expect(f.message).toBe('Bedrock takes images as bytes: send a data URL');
    expect(fake.calls).toHaveLength(0);
  });
});

describe('Converse', () => {
  it('answers with usage; the model id is URL-encoded in the path; inferenceConfig carries the settings', async () => {
    const out = await adapter().chat(
      ask({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'What is it?' },
        ],
        maxOutputTokens: 100,
        temperature: 1.5,
        topP: 0.9,
        stop: ['END'],
      }),
    );
    expect(out).toMatchObject({
      content: CONTRACT_ANSWER,
      finishReason: 'stop',
      inputTokens: 12,
      outputTokens: 7,
      providerModel: MODEL,
    });
    expect(out.providerRequestId).toMatch(/^[0-9a-f-]{36}$/);
    const [call] = fake.calls;
    expect(call!.url).toBe('/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse');
    expect(call!.model).toBe(MODEL);
    expect(call!.streamed).toBe(false);
    expect(call!.body).toEqual({
      messages: [{ role: 'user', content: [{ text: 'What is it?' }] }],
      system: [{ text: 'Be brief.' }],
      // Bedrock's temperature stops at 1.
      inferenceConfig: { maxTokens: 100, temperature: 1, topP: 0.9, stopSequences: ['END'] },
    });
  });

  it('tools as toolSpecs; the answer’s toolUse is a tool call', async () => {
    const out = await adapter().chat(ask({ tools: [CONTRACT_TOOL], toolChoice: 'required' }));
    expect(out.finishReason).toBe('tool_calls');
    expect(out.content).toBeNull();
    expect(out.toolCalls).toEqual([
      {
        id: expect.stringMatching(/^tooluse_/),
        type: 'function',
        function: { name: 'get_weather', arguments: JSON.stringify(CONTRACT_TOOL_ARGS) },
      },
    ]);
    expect(fake.calls[0]!.body.toolConfig).toEqual({
      tools: [
        {
          toolSpec: {
            name: 'get_weather',
            description: CONTRACT_TOOL.function.description,
            inputSchema: { json: CONTRACT_TOOL.function.parameters },
          },
        },
      ],
      toolChoice: { any: {} },
    });
  });

  it('tool_choice: a named tool → {tool}, auto → left out, none → no tools unless the history has tool blocks', async () => {
    const a = adapter();
    await a.chat(ask({ tools: [CONTRACT_TOOL], toolChoice: { type: 'function', function: { name: 'get_weather' } } }));
    await a.chat(ask({ tools: [CONTRACT_TOOL], toolChoice: 'auto' }));
    await a.chat(ask({ tools: [CONTRACT_TOOL], toolChoice: 'none' }));
    const [named, auto, none] = fake.calls.map((c) => c.body.toolConfig);
    expect(named.toolChoice).toEqual({ tool: { name: 'get_weather' } });
    expect(auto.toolChoice).toBeUndefined();
    expect(none).toBeUndefined();
  });

  it('a JSON Schema is a forced tool whose input is the answer; json_object is an instruction', async () => {
    const a = adapter();
    const out = await a.chat(ask({ responseFormat: { type: 'json_schema', json_schema: CONTRACT_SCHEMA } }));
    expect(JSON.parse(out.content!)).toEqual(CONTRACT_JSON);
    expect(out.finishReason).toBe('stop');
    expect(out.toolCalls).toBeUndefined();
    expect(fake.calls[0]!.body.toolConfig).toEqual({
      tools: [
        {
          toolSpec: { name: 'answer', description: 'Give the answer.', inputSchema: { json: CONTRACT_SCHEMA.schema } },
        },
      ],
      toolChoice: { tool: { name: 'answer' } },
    });
    await a.chat(ask({ responseFormat: { type: 'json_object' } }));
    expect(fake.calls[1]!.body.system).toEqual([{ text: 'Reply with one JSON object only, no prose.' }]);
    expect(fake.calls[1]!.body.toolConfig).toBeUndefined();
  });

  it('an image from a data URL goes as bytes (base64 on the wire) with its format', async () => {
    await adapter().chat(
      ask({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in this image?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${CONTRACT_PNG_BASE64}` } },
            ],
          },
        ],
      }),
    );
    expect(fake.calls[0]!.body.messages[0].content).toEqual([
      { text: 'What is in this image?' },
      { image: { format: 'png', source: { bytes: CONTRACT_PNG_BASE64 } } },
    ]);
  });

  it('a guardrail’s intervention is content_filter with no content (its canned text is no answer)', async () => {
    fake.fail(MODEL, 'content-filter');
    const out = await adapter().chat(ask());
    expect(out).toMatchObject({ content: null, finishReason: 'content_filter', inputTokens: 12 });
  });

  it('the instance’s headers go with every call', async () => {
    await adapter(KEY, { headers: { 'X-Team': 'search' } }).chat(ask());
    expect(fake.calls[0]!.headers['x-team']).toBe('search');
  });
});

describe('ConverseStream', () => {
  const stream = async (a: ReturnType<typeof adapter>, input: ChatCallInput) => {
    const deltas: StreamDelta[] = [];
    const out = await a.chatStream(input, { limits: LIMITS }, (d) => deltas.push(d));
    return { out, deltas };
  };

  it('text piece by piece, usage from the metadata event', async () => {
    const { out, deltas } = await stream(adapter(), ask());
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    expect(deltas.map((d) => d.content).join('')).toBe(CONTRACT_ANSWER);
    expect(out).toMatchObject({ content: CONTRACT_ANSWER, finishReason: 'stop', inputTokens: 12, outputTokens: 7 });
    expect(out.providerRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.calls[0]!.url).toBe('/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream');
    expect(fake.calls[0]!.streamed).toBe(true);
  });

  it('a tool call: its id and name first, then its arguments in pieces', async () => {
    const { out, deltas } = await stream(adapter(), ask({ tools: [CONTRACT_TOOL] }));
    expect(deltas[0]).toEqual({
      toolCalls: [
        {
          index: 0,
          id: expect.stringMatching(/^tooluse_/),
          type: 'function',
          function: { name: 'get_weather', arguments: '' },
        },
      ],
    });
    expect(deltas.slice(1).every((d) => d.toolCalls?.[0]?.function?.arguments)).toBe(true);
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(out.finishReason).toBe('tool_calls');
    expect(out.content).toBeNull();
    expect(JSON.parse(out.toolCalls![0]!.function.arguments)).toEqual(CONTRACT_TOOL_ARGS);
  });

  it('a JSON Schema: the forced tool’s input streams as the answer’s text', async () => {
    const { out, deltas } = await stream(
      adapter(),
      ask({ responseFormat: { type: 'json_schema', json_schema: CONTRACT_SCHEMA } }),
    );
    expect(deltas.every((d) => d.content && !d.toolCalls)).toBe(true);
    expect(JSON.parse(out.content!)).toEqual(CONTRACT_JSON);
    expect(out.finishReason).toBe('stop');
  });

  it('a ModelStreamErrorException mid-stream is Overloaded', async () => {
    fake.breakStream(MODEL, 'model-stream-error');
    const deltas: StreamDelta[] = [];
    const f = await failureOf(adapter().chatStream(ask(), { limits: LIMITS }, (d) => deltas.push(d)));
    expect(deltas).toHaveLength(1);
    expect(f).toMatchObject({ type: 'Overloaded', details: { providerCode: 'ModelStreamErrorException' } });
  });

  it('a stream that ends without messageStop throws', async () => {
    fake.breakStream(MODEL, 'cut');
    await expect(adapter().chatStream(ask(), { limits: LIMITS }, () => undefined)).rejects.toThrow(
      /without messageStop/,
    );
  });

  it('a stream gone quiet fails at the idle limit (StreamStalledError)', async () => {
    fake.breakStream(MODEL, 'stall');
    const deltas: StreamDelta[] = [];
    const err = await adapter()
      .chatStream(ask(), { limits: { firstTokenMs: 5_000, idleMs: 150 } }, (d) => deltas.push(d))
      .catch((e: unknown) => e);
    expect(deltas).toHaveLength(1);
    expect(err).toMatchObject({ name: 'StreamStalledError', firstToken: false });
  });

  it('an error before the stream begins is mapped as Converse’s', async () => {
    fake.fail(MODEL, 'rate-limit');
    const f = await failureOf(adapter().chatStream(ask(), { limits: LIMITS }, () => undefined));
    expect(f.type).toBe('RateLimited');
  });
});

describe('errors', () => {
  it.each([
    ['rate-limit', 'RateLimited', 429, 'ThrottlingException', false],
    ['server-error', 'Overloaded', 503, 'ServiceUnavailableException', false],
    ['context-length', 'ContextLengthExceeded', 400, 'ValidationException', true],
  ] as const)('%s → %s (status, the exception name as its code)', async (fault, type, status, code, nonRetryable) => {
    fake.fail(MODEL, fault);
    const f = await failureOf(adapter().chat(ask()));
    expect(f).toMatchObject({ type, details: { provider: 'bedrock-us', model: MODEL, status, providerCode: code } });
    // Bedrock gives no retry hint: none is made up.
    expect(f.details.retryAfterMs).toBeUndefined();
    const err = (await adapter()
      .chat(ask())
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.nonRetryable).toBe(nonRetryable);
  });

  it('no answer within the call’s timeout: ProviderTimeoutError (read as Timeout by the shared mapping)', async () => {
    fake.breakStream(MODEL, 'hang');
    const err = await adapter()
      .chat(ask(), { timeoutMs: 150 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ProviderTimeoutError', timeoutMs: 150 });
  });

  it('a wrong key: AuthFailed, and the key it echoes is not in the message', async () => {
    const wrong = 'bedrock-wrong-key-0a9b8c7d6e5f';
    registerSecrets([wrong]);
    const f = await failureOf(adapter(wrong).chat(ask()));
    expect(f).toMatchObject({ type: 'AuthFailed', details: { status: 403, providerCode: 'AccessDeniedException' } });
    expect(fake.calls[0]!.headers.authorization).toBe(`Bearer ${wrong}`);
    expect(f.message).toContain('Authentication failed');
    expect(f.message).not.toContain(wrong);
  });

  /** An error as the SDK throws a service exception. */
  const sdkError = (name: string, message: string, status?: number) =>
    Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: status } });

  it.each([
    ['ServiceQuotaExceededException', 'Quota exceeded', 429, 'RateLimited'],
    ['InternalServerException', 'Internal error', 500, 'Overloaded'],
    ['ModelNotReadyException', 'Model is not ready', 429, 'Overloaded'],
    ['ModelTimeoutException', 'Model timed out', 408, 'Timeout'],
    ['ValidationException', 'Input is too long for requested model.', 400, 'ContextLengthExceeded'],
    ['ValidationException', 'The model returned: too many input tokens', 400, 'ContextLengthExceeded'],
    ['ValidationException', 'prompt is too long: 250000 tokens > 200000 maximum', 400, 'ContextLengthExceeded'],
    ['ValidationException', 'The provided model identifier is invalid.', 400, 'NotFound'],
    [
      'ValidationException',
      "This model doesn't support the toolConfig.toolChoice.any field. Remove toolConfig.toolChoice.any and try again.",
      400,
      'NotFound',
    ],
    ['ValidationException', 'messages: text field is blank', 400, 'InvalidRequest'],
    ['AccessDeniedException', 'You don’t have access to the model', 403, 'AuthFailed'],
    ['UnrecognizedClientException', 'The security token included in the request is invalid.', 403, 'AuthFailed'],
    ['SomethingNewException', 'Forbidden', 403, 'AuthFailed'],
    ['ResourceNotFoundException', 'Model not found', 404, 'NotFound'],
    ['CredentialsProviderError', 'Could not load credentials from any providers', undefined, 'AuthFailed'],
  ])('%s: %s (%s) → %s', (name, message, status, type) => {
    const f = bedrockFailure(sdkError(name, message, status), 'p', 'm') as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.type).toBe(type);
    expect((f.details?.[0] as { providerCode?: string }).providerCode).toBe(name);
  });

  it('what is not the service’s error is left to the shared mapping, though the SDK gave it $metadata', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
      $metadata: { attempts: 1, totalRetryDelay: 0 },
    });
    expect(bedrockFailure(refused, 'p', 'm')).toBe(refused);
  });

  it('a refused connection is Connection through the shared mapping', async () => {
    const { port } = await new Promise<net.AddressInfo>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const address = s.address() as net.AddressInfo;
        s.close(() => resolve(address));
      });
    });
    const a = bedrock.create({
      providerId: 'p',
      apiKey: KEY,
      region: 'us-east-1',
      baseURL: `http://127.0.0.1:${port}`,
      timeoutMs: 2_000,
    });
    const err = await a.chat(ask()).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect(toProviderFailure(err, 'p', MODEL).type).toBe('Connection');
  });
});

describe('shipped models', () => {
  it('parse as a catalog with the us-east-1 instance, and as an EU instance’s (regions EU)', () => {
    const us = CatalogSchema.parse({
      providers: [{ id: 'bedrock', kind: 'bedrock', region: 'us-east-1' }],
      models: BEDROCK_MODELS,
    });
    expect(us.models.map((m) => m.id)).toContain('bedrock/amazon.nova-pro-v1:0');
    expect(kindIssues(us)).toEqual([]);
    const eu = CatalogSchema.safeParse({
      providers: [{ id: 'bedrock-eu', kind: 'bedrock', region: 'eu-central-1' }],
      models: BEDROCK_MODELS.map((m) => ({ ...m, id: `bedrock-eu/${m.model}`, provider: 'bedrock-eu' })),
    });
    // An EU instance's models may list only EU.
    expect(eu.success).toBe(false);
    const euModels = BEDROCK_MODELS.map((m) => ({
      ...m,
      id: `bedrock-eu/${m.model.replace(/^us\./, 'eu.')}`,
      provider: 'bedrock-eu',
      model: m.model.replace(/^us\./, 'eu.'),
      regions: ['EU' as const],
    }));
    const parsed = CatalogSchema.parse({
      providers: [{ id: 'bedrock-eu', kind: 'bedrock', region: 'eu-central-1' }],
      models: euModels,
    });
    expect(parsed.models[0]!.id).toBe('bedrock-eu/eu.anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(kindIssues({ providers: [{ id: 'b', kind: 'bedrock', simulated: false }] })).toEqual([
      { path: 'catalog.providers.0.region', message: "a 'bedrock' provider needs region" },
    ]);
  });
});

describe('credentials', () => {
  it('no key: the AWS default chain signs with SigV4 (here from the environment)', async () => {
    await withAwsEnv(
      {
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLEBEDROCK01',
        AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        // Belt and braces: had the chain gone past the environment, no metadata service is asked.
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      async () => {
        const out = await adapter(null).chat(ask());
        expect(out.content).toBe(CONTRACT_ANSWER);
      },
    );
    const auth = String(fake.calls[0]!.headers.authorization);
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    expect(auth).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLEBEDROCK01/${day}/us-east-1/bedrock/aws4_request, SignedHeaders=`,
      ),
    );
    expect(fake.calls[0]!.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
  });

  it('a key: a bearer token, and no AWS credential is looked up even when the environment has one', async () => {
    await withAwsEnv(
      { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLEBEDROCK01', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      async () => {
        // The adapter's credential provider for this path rejects: a call that resolved AWS
        // credentials (the chain or any other) would fail here.
        const out = await adapter(KEY).chat(ask());
        expect(out.content).toBe(CONTRACT_ANSWER);
      },
    );
    expect(fake.calls[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(fake.calls[0]!.headers['x-amz-date']).toBeUndefined();
  });

  it('no key, but AWS_BEARER_TOKEN_BEDROCK in the environment: the SDK sends that as the bearer token (AWS’s own rule)', async () => {
    await withAwsEnv({ AWS_BEARER_TOKEN_BEDROCK: KEY }, async () => {
      expect((await adapter(null).chat(ask())).content).toBe(CONTRACT_ANSWER);
    });
    expect(fake.calls[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('the bearer adapter’s credential provider never reaches a chain', async () => {
    const a = adapter(KEY) as BedrockAdapter;
    const credentials = (a as unknown as { client: { config: { credentials: () => Promise<unknown> } } }).client.config
      .credentials;
    await expect(credentials()).rejects.toThrow(/signs nothing/);
  });
});
