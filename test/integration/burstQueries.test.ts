/**
 * The request path never queries a providerHealth entity: breaker state reaches the policy from
 * the Postgres projection the entities publish. A cold burst (no cache warmed) once queried the
 * entities once per request and per endpoint, and overflowed their query buffer ("consistent
 * query buffer is full").
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, startTestStack, type TestStack } from '../support/stack';

const model = (provider: string, name: string) => ({
  id: `${provider}/${name}`,
  provider,
  model: name,
  inputPricePerMTok: 0.1,
  outputPricePerMTok: 0.4,
  contextWindow: 16_000,
  maxOutputTokens: 2_000,
  capabilities: ['chat'],
  qualityTier: 3,
});

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    breakers: true,
    catalog: (f) =>
      CatalogSchema.parse({
        providers: fakeCatalogProviders(f),
        models: [model('oa', 'primary'), model('an', 'backup')],
      }),
  });
});
afterAll(async () => stack?.stop());

it('a cold burst of 100 concurrent requests makes no more than a handful of breaker queries', async () => {
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: `burst ${i}` }] }),
    ),
  );
  expect(results.map((r) => r.status)).toEqual(Array(100).fill(200));
  expect(stack.healthQueries()).toBeLessThanOrEqual(3);
});
