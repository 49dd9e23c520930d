/**
 * The request path never queries a providerHealth entity: breaker state reaches the policy from
 * the Postgres projection the entities publish. A cold burst (no cache warmed) once queried the
 * entities once per request and per endpoint, and overflowed their query buffer ("consistent
 * query buffer is full").
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, fakeModel, useTestStack } from '../support/stack';

const stack = useTestStack({
  breakers: true,
  catalog: (f) =>
    CatalogSchema.parse({
      providers: fakeCatalogProviders(f),
      models: [fakeModel('oa', 'primary'), fakeModel('an', 'backup')],
    }),
});

it('a cold burst of 100 concurrent requests makes no more than a handful of breaker queries', async () => {
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: `burst ${i}` }] }),
    ),
  );
  expect(results.map((r) => r.status)).toEqual(Array(100).fill(200));
  expect(stack.healthQueries()).toBeLessThanOrEqual(3);
});
