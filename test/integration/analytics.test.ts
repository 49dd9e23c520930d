/**
 * Analytics over HTTP after real traffic: `GET /v1/analytics` by model and by day (requests,
 * tokens and cost equal to the records; latency percentiles; fallback and cache-hit rates),
 * tenant-scoped (another tenant sees none of it, an operator all); `GET /v1/stats`; and a 50/50
 * weighted rule's variants compared with significance tests (one variant 400 ms slower).
 */
import { fakeCatalog, fakeModel, useTestStack } from '../support/stack';

const stack = useTestStack(
  {
    cache: { chat: 60 },
    catalog: (f) =>
      fakeCatalog(f, [fakeModel('oa', 'a', { qualityTier: 3 }), fakeModel('an', 'b', { qualityTier: 4 })]),
    config: {
      routing: { defaultStrategy: 'quality' },
      retry: { default: { maximumAttempts: 1, timeoutMs: 10_000 } },
      rules: [
        {
          id: 'split',
          when: [{ field: 'agentType', op: 'eq', value: 'creative' }],
          targets: [
            { model: 'oa/a', weight: 0.5 },
            { model: 'an/b', weight: 0.5 },
          ],
          split: 'weighted',
        },
      ],
    },
  },
  { timeout: 120_000 },
);
beforeAll(() => {
  stack.fakes.anthropic.setDefault('b', { kind: 'ok', delayMs: 400 });
});

const get = async (path: string, key = stack.apiKey) => {
  const res = await fetch(`${stack.baseURL}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as any };
};
const chat = (content: string, headers: Record<string, string> = {}) =>
  stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content }] }, headers);

it('reports usage by model and day from the records, tenant-scoped, with fallback and cache-hit rates', async () => {
  const ids: string[] = [];
  // 60 requests through the weighted rule, 3 at a time.
  for (let i = 0; i < 60; i += 3) {
    const batch = await Promise.all(
      Array.from({ length: 3 }, (_, j) => chat(`story ${i + j}`, { 'x-switchyard-agent-type': 'creative' })),
    );
    for (const r of batch) {
      expect(r.status).toBe(200);
      ids.push(r.body.switchyard.request_id);
    }
  }
  // A fallback (oa/a fails once), and a cache hit (the same request twice).
  stack.fakes.openai.script('a', { kind: 'error', status: 503, message: 'Overloaded' });
  const fellBack = await stack.post('/chat/completions', { model: 'oa/a', messages: [{ role: 'user', content: 'x' }] });
  expect(fellBack.headers.get('x-switchyard-model')).toBe('an/b');
  expect((await chat('cache me')).headers.get('x-switchyard-cache')).toBe('miss');
  expect((await chat('cache me')).headers.get('x-switchyard-cache')).toBe('hit');

  const { status, body } = await get('/analytics?group_by=model');
  expect(status).toBe(200);
  expect(body.tenant).toBe(stack.tenantId);
  const byModel = Object.fromEntries(body.data.map((r: any) => [r.model, r]));
  const records = await stack.db.query<{ model: string; n: number; cost: number; input: number }>(
    `select model, count(*)::int as n, sum(cost_usd)::float8 as cost, sum(input_tokens)::int as input
       from requests where tenant_id = $1 group by model`,
    [stack.tenantId],
  );
  for (const r of records.rows) {
    expect(byModel[r.model]).toMatchObject({ requests: r.n, input_tokens: r.input });
    expect(byModel[r.model].cost_usd).toBeCloseTo(r.cost, 10);
  }
  const b = byModel['an/b'];
  expect(b.latency_ms.p50).toBeGreaterThanOrEqual(400);
  expect(b.latency_ms.p50).toBeLessThanOrEqual(b.latency_ms.p95);
  expect(b.latency_ms.p95).toBeLessThanOrEqual(b.latency_ms.p99);
  expect(b.fallback_rate).toBeGreaterThan(0); // the request that fell back to it
  expect(byModel['oa/a'].fallback_rate + byModel['an/b'].fallback_rate).toBeGreaterThan(0);
  const cacheRates = body.data.map((r: any) => r.cache_hit_rate);
  expect(Math.max(...cacheRates)).toBeGreaterThan(0);

  const byDay = await get('/analytics?group_by=day');
  expect(byDay.body.data).toHaveLength(1);
  expect(byDay.body.data[0].day).toBe(new Date().toISOString().slice(0, 10));
  expect(byDay.body.data[0].requests).toBe(records.rows.reduce((n, r) => n + r.n, 0));

  // `none`: the window's totals in one row (percentiles of every request, not of groups).
  const totals = await get('/analytics?group_by=none');
  expect(totals.body.group_by).toEqual([]);
  expect(totals.body.data).toHaveLength(1);
  expect(totals.body.data[0]).toMatchObject({
    requests: byDay.body.data[0].requests,
    cost_usd: byDay.body.data[0].cost_usd,
  });
  expect(totals.body.data[0].latency_ms.p95).toBeGreaterThanOrEqual(totals.body.data[0].latency_ms.p50);
  expect(totals.body.data[0].model).toBeUndefined();
  expect((await get('/analytics?group_by=none,model')).status).toBe(400);

  const stats = await get('/stats');
  expect(stats.body).toMatchObject({ object: 'stats', window: 'last_24h', requests: byDay.body.data[0].requests });
  expect(stats.body.top_models.map((m: any) => m.model).sort()).toEqual(['an/b', 'oa/a']);

  // Another tenant sees none of it; an operator sees it all, or one tenant's.
  const other = await fetch(`${stack.baseURL}/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'analytics-other' }),
  });
  expect(other.status).toBe(201);
  const key = await fetch(`${stack.baseURL}/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'other', tenant_id: 'analytics-other' }),
  });
  const otherKey = ((await key.json()) as { key: string }).key;
  expect((await get('/analytics', otherKey)).body.data).toEqual([]);
  expect((await get(`/analytics?tenant=${stack.tenantId}`, otherKey)).status).toBe(404);
  const all = await get('/analytics?group_by=tenant', stack.operatorKey);
  expect(all.body.data.map((r: any) => r.tenant)).toContain(stack.tenantId);
  expect((await get('/analytics?group_by=colour')).status).toBe(400);
});

it("compares a weighted rule's variants with significance tests", async () => {
  const { status, body } = await get('/analytics/variants?rule=split');
  expect(status).toBe(200);
  expect(body.data.map((v: any) => v.variant).sort()).toEqual(['an/b', 'oa/a']);
  expect(body.data.reduce((n: number, v: any) => n + v.requests, 0)).toBe(60);
  const slow = body.data.find((v: any) => v.variant === 'an/b');
  const fast = body.data.find((v: any) => v.variant === 'oa/a');
  expect(slow.latency_ms.mean - fast.latency_ms.mean).toBeGreaterThan(200);
  const challenger = body.data.find((v: any) => v.versus_control);
  expect(challenger.versus_control.latency.significant).toBe(true);
  expect(challenger.versus_control.error_rate).toMatchObject({ significant: false });
  expect(body.control).toBe(body.data[0].variant);
});
