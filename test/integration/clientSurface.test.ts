/**
 * What OpenAI clients send besides plain chat: images (routed to vision models only, mapped to
 * Anthropic image blocks), `embeddings.create` (routed like the embed operation, in
 * the SDK's default base64 encoding and in floats) and `models.retrieve`, with the official client.
 */
import OpenAI from 'openai';
import { fakeCatalog, fakeModel, openaiClient, useTestStack } from '../support/stack';

let client: OpenAI;

const stack = useTestStack(
  {
    catalog: (f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'chat'),
        // Sees images; dearer, so text goes to oa/chat.
        fakeModel('an', 'eye', {
          capabilities: ['chat', 'vision'],
          inputPricePerMTok: 5,
          outputPricePerMTok: 20,
          contextWindow: 8_000,
        }),
        fakeModel('oa', 'text-embedding-3-small', { capabilities: ['embeddings'], outputPricePerMTok: 0 }),
      ]),
  },
  { timeout: 120_000 },
);
beforeAll(() => {
  client = openaiClient(stack);
});

it('embeddings.create works with the official client, base64 (its default) and float', async () => {
  const fromBase64 = await client.embeddings.create({ model: 'oa/text-embedding-3-small', input: ['alpha', 'be'] });
  expect(fromBase64.object).toBe('list');
  // The fake's vector for a text is [length, 1, 0, 0.5]: decoded by the SDK from little-endian float32.
  expect(fromBase64.data.map((d) => [d.index, d.embedding])).toEqual([
    [0, [5, 1, 0, 0.5]],
    [1, [2, 1, 0, 0.5]],
  ]);
  expect(fromBase64.model).toBe('oa/text-embedding-3-small');
  const floats = await client.embeddings.create({
    model: 'auto',
    input: 'gamma',
    encoding_format: 'float',
  });
  expect(floats.data[0]!.embedding).toEqual([5, 1, 0, 0.5]);
  // Routed and recorded like every request.
  const { response } = await client.embeddings
    .create({ model: 'oa/text-embedding-3-small', input: 'x' })
    .withResponse();
  const id = response.headers.get('x-switchyard-request-id');
  const record = await fetch(`${stack.baseURL}/requests/${id}`, {
    headers: { authorization: `Bearer ${stack.apiKey}` },
  });
  expect(await record.json()).toMatchObject({
    operation: 'embed',
    status: 'succeeded',
    model: 'oa/text-embedding-3-small',
  });
  await expect(client.embeddings.create({ model: 'oa/text-embedding-3-small', input: [] })).rejects.toMatchObject({
    status: 400,
  });
});

it('models.retrieve works with the official client', async () => {
  expect(await client.models.retrieve('oa/chat')).toMatchObject({ id: 'oa/chat', object: 'model', owned_by: 'oa' });
  expect(await client.models.retrieve('auto')).toMatchObject({ id: 'auto', object: 'model' });
  await expect(client.models.retrieve('oa/nope')).rejects.toMatchObject({ status: 404 });
  const plain = await fetch(`${stack.baseURL}/models/oa/chat`, {
    headers: { authorization: `Bearer ${stack.apiKey}` },
  });
  expect(await plain.json()).toMatchObject({ id: 'oa/chat' });
});

it('a prompt that fits no model is a 400 context_length_exceeded the SDKs do not retry', async () => {
  const long = 'word '.repeat(20_000);
  const calls = stack.fakes.openai.calls.length;
  const r = await fetch(`${stack.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: long }] }),
  });
  expect(r.status).toBe(400);
  expect(r.headers.get('x-should-retry')).toBe('false');
  const body = (await r.json()) as { error: { type: string; code: string; param: string; message: string } };
  expect(body.error).toMatchObject({
    type: 'invalid_request_error',
    code: 'context_length_exceeded',
    param: 'messages',
  });
  expect(body.error.message).toMatch(
    /^The prompt has \d{5} tokens \(\d{5} with room for the output\), more than the largest context window of any model, 16000 tokens \(oa\/chat\)/,
  );
  // The official client with retries on: one attempt, a BadRequestError.
  const retrying = new OpenAI({ apiKey: stack.apiKey, baseURL: stack.baseURL, maxRetries: 2 });
  const { data, response } = await retrying.chat.completions
    .create({ model: 'auto', messages: [{ role: 'user', content: 'short' }] })
    .withResponse();
  expect(data.choices[0]!.message.content).toBe('fake answer from chat');
  expect(response.status).toBe(200);
  await expect(
    retrying.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: long }] }),
  ).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
  expect(stack.fakes.openai.calls.length).toBe(calls + 1); // only the short request reached a provider
});

it('marks the errors a retry cannot fix with x-should-retry: false', async () => {
  const send = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const ask = (content: string) => ({ model: 'oa/chat', messages: [{ role: 'user', content }] });
  expect((await send(ask('one'), { 'Idempotency-Key': 'surface-1' })).status).toBe(200);
  const reused = await send(ask('two'), { 'Idempotency-Key': 'surface-1' });
  expect(reused.status).toBe(409);
  expect(reused.headers.get('x-should-retry')).toBe('false');
  // No model serves the region: a 503 no retry will change.
  const nowhere = await send(ask('three'), { 'X-Switchyard-Region': 'APAC' });
  expect(nowhere.status).toBe(503);
  expect(nowhere.headers.get('x-should-retry')).toBe('false');
  const invalid = await send({ model: 'oa/chat', messages: [] });
  expect(invalid.status).toBe(400);
  expect(invalid.headers.get('x-should-retry')).toBe('false');
});

it('routes images only to models that see them, and maps them to Anthropic image blocks', async () => {
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
  const { data, response } = await client.chat.completions
    .create({
      model: 'auto',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these pictures?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
          ],
        },
      ],
    })
    .withResponse();
  expect(response.headers.get('x-switchyard-model')).toBe('an/eye');
  expect(data.choices[0]!.message.content).toBe('fake answer from eye');
  const sent = stack.fakes.anthropic.callsFor('eye').at(-1)!.body as { messages: unknown[] };
  expect(sent.messages).toEqual([
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in these pictures?' },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
      ],
    },
  ]);
  // Text alone still goes to the cheaper model without vision.
  const text = await client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] });
  expect(text.model).toBe('oa/chat');
  // An image where no model sees images: refused by the capability filter, not silently dropped.
  const refused = await fetch(`${stack.baseURL}/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.apiKey}`,
      'content-type': 'application/json',
      'X-Switchyard-Exclude-Providers': 'an',
    },
    body: JSON.stringify({
      model: 'auto',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }],
    }),
  });
  expect(refused.status).toBe(503);
  const body = (await refused.json()) as { error: { message: string; code: string } };
  expect(body.error.code).toBe('NoCandidate');
  expect(body.error.message).toContain('oa/chat: no vision capability (the request has images)');
});
