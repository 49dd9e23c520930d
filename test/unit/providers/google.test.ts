/**
 * The `google` kind's mapping: OpenAI-shaped requests as Gemini's, Gemini's answers and errors as
 * ours; and the adapter over the fake Gemini API (the official client on real HTTP).
 */
import { ApiError } from '@google/genai';
import { ApplicationFailure } from '@temporalio/common';
import type { ChatMessage } from '../../../src/domain/chat';
import { GoogleAdapter } from '../../../src/providers/google/adapter';
import { durationMs, errorBodyOf, geminiFailure, retryDelayMs } from '../../../src/providers/google/errors';
import {
  GeminiRequestError,
  SKIP_THOUGHT_SIGNATURE,
  configOf,
  finishOf,
  imagePart,
  toGeminiContents,
  toolCallOf,
  usageOf,
} from '../../../src/providers/google/mapping';
import { registerSecrets } from '../../../src/providers/redact';
import {
  CONTRACT_ANSWER,
  CONTRACT_EMBEDDING,
  CONTRACT_PNG_BASE64,
  CONTRACT_SCHEMA,
  CONTRACT_TOOL,
  CONTRACT_TOOL_ARGS,
  type WireFake,
} from '../../contract/fixture';
import { badKeyBody, faultBody, geminiError, startGeminiFake } from '../../support/fakes/gemini';

const weather = { name: 'get_weather', arguments: '{"city":"Paris"}' };

describe('request mapping', () => {
  it('a multi-turn conversation with tool calls and their results', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          // One id Gemini gave, one we made up (Gemini gave none).
          { id: 'gem-id-1', type: 'function', function: weather },
          { id: 'call_sy_abc', type: 'function', function: { name: 'get_time', arguments: '' } },
        ],
      },
      { role: 'tool', tool_call_id: 'gem-id-1', content: '{"temp":21}' },
      { role: 'tool', tool_call_id: 'call_sy_abc', content: '12:00' },
      { role: 'assistant', content: 'Paris is 21°C; it is noon in Rome.' },
      { role: 'user', content: 'Thanks' },
    ];
    const { systemInstruction, contents } = toGeminiContents(messages);
    expect(systemInstruction).toEqual({ parts: [{ text: 'Be brief.\n\nUse metric units.' }] });
    expect(contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
      {
        role: 'model',
        parts: [
          {
            functionCall: { name: 'get_weather', args: { city: 'Paris' }, id: 'gem-id-1' },
            thoughtSignature: SKIP_THOUGHT_SIGNATURE,
          },
          { functionCall: { name: 'get_time', args: {} } },
        ],
      },
      // Both results in one user turn, each named after the call it answers.
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_weather', id: 'gem-id-1', response: { temp: 21 } } },
          { functionResponse: { name: 'get_time', response: { output: '12:00' } } },
        ],
      },
      { role: 'model', parts: [{ text: 'Paris is 21°C; it is noon in Rome.' }] },
      { role: 'user', parts: [{ text: 'Thanks' }] },
    ]);
  });

  it('a tool result that answers no earlier call is refused before the call', () => {
    expect(() =>
      toGeminiContents([
        { role: 'user', content: 'hi' },
        { role: 'tool', tool_call_id: 'nope', content: 'x' },
      ]),
    ).toThrow(GeminiRequestError);
  });

  it('images: data URLs inline, https URLs as files the API fetches, anything else refused', () => {
    expect(imagePart(`data:image/png;base64,${CONTRACT_PNG_BASE64}`)).toEqual({
      inlineData: { mimeType: 'image/png', data: CONTRACT_PNG_BASE64 },
    });
    expect(imagePart('https://example.com/cat.webp?x=1')).toEqual({
      fileData: { fileUri: 'https://example.com/cat.webp?x=1', mimeType: 'image/webp' },
    });
    expect(imagePart('https://example.com/photo')).toEqual({
      fileData: { fileUri: 'https://example.com/photo', mimeType: 'image/jpeg' },
    });
    expect(() => imagePart('http://example.com/cat.png')).toThrow(/send this image as a data: URL/);
    const { contents } = toGeminiContents([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${CONTRACT_PNG_BASE64}` } },
        ],
      },
    ]);
    expect(contents[0]!.parts).toEqual([
      { text: 'What is this?' },
      { inlineData: { mimeType: 'image/png', data: CONTRACT_PNG_BASE64 } },
    ]);
  });

  it('an http image is an InvalidRequest failure that says to send a data URL', () => {
    let thrown: unknown;
    try {
      imagePart('http://example.com/cat.png');
    } catch (err) {
      thrown = geminiFailure(err, 'g', 'gemini-2.5-flash');
    }
    expect(thrown).toBeInstanceOf(ApplicationFailure);
    expect((thrown as ApplicationFailure).type).toBe('InvalidRequest');
    expect((thrown as ApplicationFailure).nonRetryable).toBe(true);
    expect((thrown as ApplicationFailure).message).toMatch(/data: URL/);
  });

  it('settings, tools, tool choice and the answer format', () => {
    const base = { model: 'gemini-2.5-flash', messages: [] };
    const config = configOf({
      ...base,
      temperature: 0.2,
      topP: 0.9,
      maxOutputTokens: 100,
      stop: ['END'],
      seed: 7,
      tools: [CONTRACT_TOOL],
      toolChoice: { type: 'function', function: { name: 'get_weather' } },
    });
    expect(config).toMatchObject({
      temperature: 0.2,
      topP: 0.9,
      maxOutputTokens: 100,
      stopSequences: ['END'],
      seed: 7,
      tools: [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'The weather in a city',
              parametersJsonSchema: CONTRACT_TOOL.function.parameters,
            },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
      automaticFunctionCalling: { disable: true },
      automaticContinuation: false,
    });
    const tools = { ...base, tools: [CONTRACT_TOOL] };
    expect(configOf({ ...tools, toolChoice: 'required' }).toolConfig).toEqual({
      functionCallingConfig: { mode: 'ANY' },
    });
    expect(configOf({ ...tools, toolChoice: 'none' }).toolConfig).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(configOf({ ...tools, toolChoice: 'auto' }).toolConfig).toBeUndefined();
    expect(configOf({ ...base, responseFormat: { type: 'json_schema', json_schema: CONTRACT_SCHEMA } })).toMatchObject({
      responseMimeType: 'application/json',
      responseJsonSchema: CONTRACT_SCHEMA.schema,
    });
    const jsonMode = configOf({ ...base, responseFormat: { type: 'json_object' } });
    expect(jsonMode.responseMimeType).toBe('application/json');
    expect(jsonMode.responseJsonSchema).toBeUndefined();
    expect(configOf({ ...base, responseFormat: { type: 'text' } }).responseMimeType).toBeUndefined();
  });
});

describe('answer mapping', () => {
  it.each([
    ['STOP', false, 'stop'],
    ['STOP', true, 'tool_calls'],
    [undefined, false, 'stop'],
    ['MAX_TOKENS', false, 'length'],
    ['SAFETY', false, 'content_filter'],
    ['RECITATION', false, 'content_filter'],
    ['BLOCKLIST', false, 'content_filter'],
    ['PROHIBITED_CONTENT', false, 'content_filter'],
    ['SPII', false, 'content_filter'],
    ['IMAGE_SAFETY', false, 'content_filter'],
    ['MALFORMED_FUNCTION_CALL', false, 'stop'],
  ])('finishReason %s (tool calls: %s) → %s', (reason, calls, ours) => {
    expect(finishOf(reason, calls)).toBe(ours);
  });

  it('function calls become tool calls, with an id made up when Gemini gives none', () => {
    expect(toolCallOf({ functionCall: { id: 'g1', name: 'get_weather', args: CONTRACT_TOOL_ARGS } })).toEqual({
      id: 'g1',
      type: 'function',
      function: { name: 'get_weather', arguments: JSON.stringify(CONTRACT_TOOL_ARGS) },
    });
    const a = toolCallOf({ functionCall: { name: 'get_weather' } })!;
    const b = toolCallOf({ functionCall: { name: 'get_weather' } })!;
    expect(a.id).toMatch(/^call_sy_\w+$/);
    expect(a.id).not.toBe(b.id);
    expect(a.function.arguments).toBe('{}');
    expect(toolCallOf({ text: 'hi' })).toBeUndefined();
  });

  it('usage: thinking tokens count as output', () => {
    expect(
      usageOf({ usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, thoughtsTokenCount: 20 } }),
    ).toEqual({ input: 10, output: 25 });
    expect(usageOf({ usageMetadata: { promptTokenCount: 10 } })).toEqual({ input: 10, output: undefined });
    expect(usageOf({})).toEqual({});
  });
});

describe('error mapping', () => {
  const apiError = (status: number, body: unknown) => new ApiError({ message: JSON.stringify(body), status });
  const mapped = (err: unknown) => geminiFailure(err, 'g', 'gemini-2.5-flash') as ApplicationFailure;
  const detailsOf = (f: ApplicationFailure) => f.details?.[0] as Record<string, unknown>;

  it('reads protobuf durations', () => {
    expect(durationMs('2s')).toBe(2_000);
    expect(durationMs('0.5s')).toBe(500);
    expect(durationMs('1.250s')).toBe(1_250);
    expect(durationMs({ seconds: '1', nanos: 500_000_000 })).toBe(1_500);
    expect(durationMs('soon')).toBeUndefined();
    expect(durationMs(undefined)).toBeUndefined();
  });

  it('429 RESOURCE_EXHAUSTED → RateLimited after RetryInfo’s delay', () => {
    const f = mapped(apiError(429, faultBody('rate-limit').body));
    expect(f.type).toBe('RateLimited');
    expect(f.nonRetryable).toBe(false);
    expect(detailsOf(f)).toMatchObject({ status: 429, providerCode: 'RESOURCE_EXHAUSTED', retryAfterMs: 50 });
    expect(f.nextRetryDelay).toBe(50);
    const twoSeconds = geminiError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded', [
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '2s' },
    ]);
    expect(detailsOf(mapped(apiError(429, twoSeconds))).retryAfterMs).toBe(2_000);
  });

  it('a stream’s error chunk is read the same way', () => {
    const body = faultBody('rate-limit').body;
    const f = mapped(new ApiError({ message: `got status: RESOURCE_EXHAUSTED. ${JSON.stringify(body)}`, status: 429 }));
    expect(f.type).toBe('RateLimited');
    expect(detailsOf(f).retryAfterMs).toBe(50);
    expect(retryDelayMs(errorBodyOf(`got status: x. ${JSON.stringify(body)}`)!)).toBe(50);
  });

  it('400 "input token count exceeds the maximum" → ContextLengthExceeded, not retried', () => {
    const f = mapped(apiError(400, faultBody('context-length').body));
    expect(f.type).toBe('ContextLengthExceeded');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('The input token count (1048577) exceeds the maximum number of tokens allowed');
  });

  it('a refused key (a 400 API_KEY_INVALID, or 401/403) → AuthFailed, the key in no message', () => {
    const key = 'AIzaSyTestKeyThatMustNotLeak0123456789';
    registerSecrets([key]);
    const f = mapped(apiError(400, badKeyBody(key)));
    expect(f.type).toBe('AuthFailed');
    expect(f.nonRetryable).toBe(true);
    expect(detailsOf(f).providerCode).toBe('API_KEY_INVALID');
    expect(JSON.stringify({ m: f.message, d: f.details })).not.toContain(key);
    expect(f.message).not.toContain('AIza');
    const denied = geminiError(403, 'PERMISSION_DENIED', 'Permission denied: Consumer has been suspended.');
    expect(mapped(apiError(403, denied)).type).toBe('AuthFailed');
    expect(mapped(apiError(401, geminiError(401, 'UNAUTHENTICATED', 'Request had invalid credentials.'))).type).toBe(
      'AuthFailed',
    );
  });

  it.each([
    [404, 'NOT_FOUND', 'NotFound', 'models/gemini-9 is not found for API version v1beta'],
    [500, 'INTERNAL', 'Overloaded', 'An internal error has occurred.'],
    [503, 'UNAVAILABLE', 'Overloaded', 'The model is overloaded. Please try again later.'],
    [504, 'DEADLINE_EXCEEDED', 'Timeout', 'Deadline expired before operation could complete.'],
    [400, 'INVALID_ARGUMENT', 'InvalidRequest', 'Request contains an invalid argument.'],
  ])('%i %s → %s', (status, code, type, message) => {
    const f = mapped(apiError(status, geminiError(status, code, message)));
    expect(f.type).toBe(type);
    expect(detailsOf(f)).toMatchObject({ status, providerCode: code });
  });

  it('a refused connection → Connection', () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
    });
    const f = mapped(refused);
    expect(f.type).toBe('Connection');
    expect(f.message).toContain('ECONNREFUSED');
    // As the client wraps it when the error comes from another realm.
    expect(mapped(new Error('exception TypeError: fetch failed sending request', { cause: refused })).type).toBe(
      'Connection',
    );
  });

  it('anything else is left to toProviderFailure', () => {
    const other = new Error('something else');
    expect(geminiFailure(other, 'g', 'm')).toBe(other);
  });
});

describe('the adapter over the fake Gemini API', () => {
  const KEY = 'gemini-unit-key-7c1e93a0b2';
  let fake: WireFake;
  let adapter: GoogleAdapter;
  const hello: ChatMessage[] = [{ role: 'user', content: 'What is it?' }];
  beforeAll(async () => {
    fake = await startGeminiFake(KEY);
    adapter = new GoogleAdapter({ providerId: 'g', apiKey: KEY, baseURL: fake.url, timeoutMs: 5_000 });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.clear());

  it('answers, with usage and the key in x-goog-api-key', async () => {
    const out = await adapter.chat(
      { model: 'gemini-2.5-flash', messages: hello, temperature: 0.1 },
      { timeoutMs: 3_000 },
    );
    expect(out).toMatchObject({ content: CONTRACT_ANSWER, finishReason: 'stop', providerModel: 'gemini-2.5-flash' });
    expect(out.inputTokens).toBeGreaterThan(0);
    expect(out.outputTokens).toBeGreaterThan(0);
    const [call] = fake.calls;
    expect(call!.url).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(call!.headers['x-goog-api-key']).toBe(KEY);
    expect(call!.body.generationConfig).toEqual({ temperature: 0.1 });
  });

  it('streams in pieces', async () => {
    const pieces: string[] = [];
    const out = await adapter.chatStream(
      { model: 'gemini-2.5-flash', messages: hello },
      { timeoutMs: 3_000, limits: { firstTokenMs: 2_000, idleMs: 2_000 } },
      (d) => d.content && pieces.push(d.content),
    );
    expect(pieces.length).toBeGreaterThanOrEqual(2);
    expect(pieces.join('')).toBe(CONTRACT_ANSWER);
    expect(out).toMatchObject({ content: CONTRACT_ANSWER, finishReason: 'stop' });
    expect(out.outputTokens).toBeGreaterThan(0);
    expect(fake.calls[0]!.url).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  });

  it('a function call, unstreamed and streamed, finishes tool_calls', async () => {
    const input = { model: 'gemini-2.5-flash', messages: hello, tools: [CONTRACT_TOOL] };
    const out = await adapter.chat(input, { timeoutMs: 3_000 });
    expect(out.content).toBeNull();
    expect(out.finishReason).toBe('tool_calls');
    expect(out.toolCalls).toEqual([
      {
        id: expect.stringMatching(/^call_sy_/),
        type: 'function',
        function: { name: 'get_weather', arguments: JSON.stringify(CONTRACT_TOOL_ARGS) },
      },
    ]);
    const deltas: unknown[] = [];
    const streamed = await adapter.chatStream(
      input,
      { timeoutMs: 3_000, limits: { firstTokenMs: 2_000, idleMs: 2_000 } },
      (d) => deltas.push(d),
    );
    expect(streamed.finishReason).toBe('tool_calls');
    expect(streamed.toolCalls?.[0]?.function).toEqual({
      name: 'get_weather',
      arguments: JSON.stringify(CONTRACT_TOOL_ARGS),
    });
    expect(deltas).toHaveLength(1);
  });

  it('a blocked prompt is ContentFiltered; a blocked answer finishes content_filter with no text', async () => {
    fake.fail('gemini-2.5-flash', 'content-filter');
    await expect(adapter.chat({ model: 'gemini-2.5-flash', messages: hello })).rejects.toMatchObject({
      type: 'ContentFiltered',
      nonRetryable: true,
      details: [expect.objectContaining({ providerCode: 'SAFETY' })],
    });
    const out = await adapter.chatStream(
      { model: 'gemini-2.5-flash', messages: hello },
      { limits: { firstTokenMs: 2_000, idleMs: 2_000 } },
      () => undefined,
    );
    expect(out).toMatchObject({ content: '', finishReason: 'content_filter' });
  });

  it('a streamed 429 carries its retry delay', async () => {
    fake.fail('gemini-2.5-flash', 'rate-limit');
    await expect(
      adapter.chatStream(
        { model: 'gemini-2.5-flash', messages: hello },
        { limits: { firstTokenMs: 2_000, idleMs: 2_000 } },
        () => undefined,
      ),
    ).rejects.toMatchObject({ type: 'RateLimited', nextRetryDelay: 50 });
  });

  it('embeds several inputs in one call', async () => {
    const out = await adapter.embed('gemini-embedding-001', ['one', 'two'], { timeoutMs: 3_000 });
    expect(out.embeddings).toEqual([CONTRACT_EMBEDDING, CONTRACT_EMBEDDING]);
    expect(out.inputTokens).toBeGreaterThan(0);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.url).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    expect(fake.calls[0]!.body.requests).toEqual([
      { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'one' }], role: 'user' } },
      { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'two' }], role: 'user' } },
    ]);
  });

  it('more texts than one call takes: several calls, the vectors in order', async () => {
    const texts = Array.from({ length: 150 }, (_, i) => `text ${i}`);
    const out = await adapter.embed('gemini-embedding-001', texts, { timeoutMs: 3_000 });
    expect(out.embeddings).toHaveLength(150);
    expect(fake.calls.map((c) => c.body.requests.length)).toEqual([100, 50]);
    expect(fake.calls[1]!.body.requests[0].content.parts[0].text).toBe('text 100');
  });

  it('a wrong key is AuthFailed, the key it sent in no message', async () => {
    const wrong = 'gemini-wrong-key-55d0c1f2e9';
    registerSecrets([wrong]);
    const bad = new GoogleAdapter({ providerId: 'g-bad', apiKey: wrong, baseURL: fake.url, timeoutMs: 5_000 });
    const err = (await bad
      .chat({ model: 'gemini-2.5-flash', messages: hello })
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('AuthFailed');
    expect(fake.calls[0]!.headers['x-goog-api-key']).toBe(wrong);
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain('55d0c1f2e9');
  });

  it('the instance’s API version and headers are used', async () => {
    const v1 = new GoogleAdapter({
      providerId: 'g1',
      apiKey: KEY,
      baseURL: `${fake.url}/`,
      apiVersion: 'v1',
      headers: { 'x-team': 'search' },
      timeoutMs: 5_000,
    });
    await v1.chat({ model: 'gemini-2.5-flash', messages: hello });
    expect(fake.calls[0]!.url).toBe('/v1/models/gemini-2.5-flash:generateContent');
    expect(fake.calls[0]!.headers['x-team']).toBe('search');
  });
});
