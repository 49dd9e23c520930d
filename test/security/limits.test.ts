/**
 * Request limits over real HTTP: a key over its requests per minute gets 429 with `retry-after`
 * (other keys of the tenant are unaffected); a tenant over its concurrent requests gets 429 with
 * `retry-after` until one finishes. An admin may lower its tenant's limits, not raise them.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, fakeModel, useTestStack } from '../support/stack';

const stack = useTestStack({
  catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
});

const setLimits = (limits: object, key = stack.operatorKey) =>
  fetch(`${stack.baseURL}/admin/tenants/${stack.tenantId}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ limits }),
  });
const models = (key: string) => fetch(`${stack.baseURL}/models`, { headers: { authorization: `Bearer ${key}` } });

it('a key over its requests per minute gets 429 with retry-after; the tenant’s other keys do not', async () => {
  expect((await setLimits({ requestsPerMinute: 5 })).status).toBe(200);
  const statuses: number[] = [];
  let limited: Response | undefined;
  for (let i = 0; i < 8; i++) {
    const r = await models(stack.apiKey);
    statuses.push(r.status);
    if (r.status === 429) limited ??= r;
  }
  expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(5);
  expect(statuses).toContain(429);
  expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(Number(limited!.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  expect(((await limited!.json()) as { error: { code: string } }).error.code).toBe('key_rate_limited');
  // The tenant's other key has its own count.
  expect((await models(stack.adminKey)).status).toBe(200);
  expect((await setLimits({})).status).toBe(200);
});

it('a tenant over its concurrent requests gets 429 with retry-after until one finishes', async () => {
  expect((await setLimits({ maxConcurrent: 2 })).status).toBe(200);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  stack.fakes.openai.reset();
  stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'held', waitFor: held });
  const first = [
    stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: '1' }] }),
    stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: '2' }] }),
  ];
  for (const end = Date.now() + 30_000; stack.fakes.openai.callsFor('primary').length < 2;) {
    if (Date.now() > end) throw new Error('the two calls never reached the provider');
    await new Promise((r) => setTimeout(r, 20));
  }
  const third = await stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: '3' }] });
  expect(third.status).toBe(429);
  expect(third.body.error.code).toBe('tenant_concurrency');
  expect(third.headers.get('retry-after')).toBe('1');
  release();
  expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200]);
  stack.fakes.openai.setDefault('primary', { kind: 'ok' });
  expect(
    (await stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: '4' }] })).status,
  ).toBe(200);
});

it('an admin may lower its tenant’s limits, not raise them', async () => {
  expect((await setLimits({ requestsPerMinute: 1000, maxConcurrent: 10 })).status).toBe(200);
  expect((await setLimits({ requestsPerMinute: 2000, maxConcurrent: 10 }, stack.adminKey)).status).toBe(403);
  expect((await setLimits({ maxConcurrent: 10 }, stack.adminKey)).status).toBe(403);
  expect((await setLimits({ requestsPerMinute: 500, maxConcurrent: 5 }, stack.adminKey)).status).toBe(200);
  expect((await setLimits({})).status).toBe(200);
});
