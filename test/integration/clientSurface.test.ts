/**
 * What OpenAI clients call besides chat: `embeddings.create` (routed like the embed operation, in
 * the SDK's default base64 encoding and in floats) and `models.retrieve`, with the official client.
 */
import OpenAI from 'openai';
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, fakeModel, startTestStack, type TestStack } from '../support/stack';

let stack: TestStack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startTestStack({
    catalog: (f) =>
      CatalogSchema.parse({
        providers: fakeCatalogProviders(f),
        models: [
          fakeModel('oa', 'chat'),
          fakeModel('oa', 'text-embedding-3-small', { capabilities: ['embeddings'], outputPricePerMTok: 0 }),
        ],
      }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: stack.baseURL, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
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
