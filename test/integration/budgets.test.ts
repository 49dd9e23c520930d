/**
 * Budgets over real HTTP: limits set through the admin API, 200 concurrent requests against a
 * daily budget that fits exactly 20 worst cases (at most 20 reach the provider, the rest get 429
 * budget_exceeded naming the window), spent in Postgres within the limit and equal to the
 * responses' costs; GET /v1/budgets; budget-aware routing near the limit; per-user and
 * per-request limits.
 */
import OpenAI from 'openai';
import { classify } from '../../src/domain/classify';
import { reserve, settle } from '../../src/db/budgetLedger';
import { applicableWindows, reservationUsd, tenantScope, userScope } from '../../src/domain/budget';
import { CatalogSchema, type Model } from '../../src/domain/catalog';
import { fakeCatalogProviders, useTestStack } from '../support/stack';

const SMALL = {
  id: 'oa/small',
  provider: 'oa',
  model: 'small',
  inputPricePerMTok: 0.5,
  outputPricePerMTok: 1.5,
  contextWindow: 16_000,
  maxOutputTokens: 4_000,
  capabilities: ['chat'],
  qualityTier: 2,
};
const LARGE = {
  id: 'an/large',
  provider: 'an',
  model: 'large',
  inputPricePerMTok: 3,
  outputPricePerMTok: 15,
  contextWindow: 16_000,
  maxOutputTokens: 4_000,
  capabilities: ['chat'],
  qualityTier: 4,
};
const messages = [{ role: 'user' as const, content: 'Say hi to the budget test.' }];
const MAX_TOKENS = 200;
const worstCase = (m: Pick<Model, 'inputPricePerMTok' | 'outputPricePerMTok' | 'maxOutputTokens'>) =>
  reservationUsd(m, classify({ operation: 'chat', messages, maxOutputTokens: MAX_TOKENS }).inputTokens, MAX_TOKENS);

const stack = useTestStack({
  catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [SMALL, LARGE] }),
  config: {
    // The regular path: every call here is held open until the race is over, and a local activity held
    // that long on a loaded machine can be run a second time when its workflow task times out (the
    // fast path's at-least-once call; 25 calls for 20 requests in one CI run here). This test is about
    // the budget's reservations; the fast path's long-held calls are an open problem of their own.
    routing: { defaultStrategy: 'quality', fastPath: { enabled: false } },
    retry: { default: { maximumAttempts: 1, timeoutMs: 30_000 } },
  },
});

const admin = (method: string, path: string, body?: unknown) =>
  fetch(`${stack.baseURL}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
const budgets = async (query = '') =>
  (
    await fetch(`${stack.baseURL}/budgets${query}`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
  ).json() as Promise<any>;
/** Spends `usd` in the tenant's current daily window through the ledger itself (reserve, settle). */
async function spendDirectly(usd: number, dailyUsd: number) {
  const id = `direct-${Date.now()}-${Math.random()}`;
  const windows = applicableWindows([{ scope: tenantScope(stack.tenantId), limits: { dailyUsd } }], Date.now());
  expect(
    (
      await reserve(stack.db, {
        id,
        tenantId: stack.tenantId,
        amountUsd: Number(usd.toFixed(10)),
        windows,
        ttlMs: 60_000,
        now: Date.now(),
      })
    ).ok,
  ).toBe(true);
  await settle(stack.db, id, Number(usd.toFixed(10)));
}
const until = async (check: () => boolean | Promise<boolean>, ms = 60_000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
};

it('200 concurrent requests against a daily budget that fits exactly 20: at most 20 reach the provider, spent ≤ limit, ledger = responses to the cent', async () => {
  const amount = worstCase(SMALL);
  const limit = Number((amount * 20).toFixed(10));
  const set = await admin('PUT', `/admin/tenants/${stack.tenantId}/budget`, { dailyUsd: limit });
  expect(set.status).toBe(200);
  // Only the small model is allowed, so every request wants the same worst case.
  await stack.configStore.update((c) => ({
    ...c,
    tenants: { ...c.tenants, [stack.tenantId]: { ...c.tenants[stack.tenantId]!, allowedModels: ['oa/small'] } },
  }));

  // The provider holds every call until released: nothing settles while the 200 race.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  stack.fakes.openai.setDefault('small', { kind: 'ok', content: 'hi', waitFor: gate });
  const done: Array<{ status: number; body: any; headers: Headers }> = [];
  const all = Array.from({ length: 200 }, (_, i) =>
    stack
      .post(
        '/chat/completions',
        { model: 'auto', messages, max_tokens: MAX_TOKENS },
        { 'idempotency-key': `budget-200-${i}` },
      )
      .then((r) => {
        done.push(r);
        return r;
      }),
  );
  await until(() => done.length >= 180);
  expect(stack.fakes.openai.callsFor('small').length).toBeLessThanOrEqual(20);
  release();
  const results = await Promise.all(all);

  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 429);
  expect(ok.length + refused.length).toBe(200);
  expect(ok.length).toBe(20);
  expect(stack.fakes.openai.callsFor('small')).toHaveLength(20);
  // Every refusal names the window, what is left and when it resets; SDKs are told not to retry.
  for (const r of refused) {
    expect(r.body.error).toMatchObject({
      type: 'budget_exceeded',
      code: 'budget_exceeded',
      budget: { scope: tenantScope(stack.tenantId), window: 'daily', limit_usd: limit },
    });
    expect(r.body.error.budget.remaining_usd).toBeLessThan(amount);
    expect(Date.parse(r.body.error.budget.resets_at)).toBe(
      Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1),
    );
    expect(r.headers.get('x-should-retry')).toBe('false');
  }

  const responsesCost = ok.reduce((s, r) => s + r.body.switchyard.cost_usd, 0);
  const window = await stack.db.query<{ spent_usd: string; reserved_usd: string; limit_usd: string }>(
    `select spent_usd::text, reserved_usd::text, limit_usd::text from budget_windows where scope = $1 and period = 'daily'`,
    [tenantScope(stack.tenantId)],
  );
  const w = window.rows[0]!;
  expect(Number(w.reserved_usd)).toBe(0);
  expect(Number(w.spent_usd)).toBeLessThanOrEqual(Number(w.limit_usd));
  expect(Math.round(Number(w.spent_usd) * 100)).toBe(Math.round(responsesCost * 100));
  expect(Number(w.spent_usd)).toBeCloseTo(responsesCost, 9);
  const ledger = await stack.db.query<{ total: string; n: number }>(
    `select sum(actual_usd)::text as total, count(*)::int as n from budget_reservations where tenant_id = $1 and status = 'settled'`,
    [stack.tenantId],
  );
  expect(ledger.rows[0]!.n).toBe(20);
  expect(Number(ledger.rows[0]!.total)).toBeCloseTo(responsesCost, 9);

  // The same numbers through the API.
  const b = await budgets();
  expect(b.windows).toHaveLength(1);
  expect(b.windows[0]).toMatchObject({
    scope: tenantScope(stack.tenantId),
    window: 'daily',
    limit_usd: limit,
    reserved_usd: 0,
  });
  expect(b.windows[0].spent_usd).toBeCloseTo(responsesCost, 9);
  expect(b.windows[0].remaining_usd).toBeCloseTo(limit - responsesCost, 9);
}, 180_000);

it('the official openai client raises RateLimitError with type budget_exceeded and does not retry it', async () => {
  const client = new OpenAI({ apiKey: stack.apiKey, baseURL: stack.baseURL, maxRetries: 2 });
  const before = stack.fakes.openai.calls.length;
  const requestsSoFar = async () =>
    (
      await stack.db.query<{ n: number }>('select count(*)::int as n from requests where tenant_id = $1', [
        stack.tenantId,
      ])
    ).rows[0]!.n;
  const requestsBefore = await requestsSoFar();
  // Spend the rest of the window through the admin API: a limit below what is already spent.
  await admin('PUT', `/admin/tenants/${stack.tenantId}/budget`, { dailyUsd: 0.000001 });
  const err = await client.chat.completions
    .create({ model: 'auto', messages, max_tokens: MAX_TOKENS })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.RateLimitError);
  expect((err as InstanceType<typeof OpenAI.RateLimitError>).type).toBe('budget_exceeded');
  expect(stack.fakes.openai.calls.length).toBe(before);
  // One request reached Switchyard: the client did not retry (it would have, twice, on a plain 429).
  expect(await requestsSoFar()).toBe(requestsBefore + 1);
});

it('near the limit prefers a cheaper model that fits; per-user and per-request limits apply', async () => {
  await stack.configStore.update((c) => ({
    ...c,
    tenants: { ...c.tenants, [stack.tenantId]: { ...c.tenants[stack.tenantId]!, allowedModels: undefined } },
  }));
  stack.fakes.openai.setDefault('small', { kind: 'ok', content: 'hi' });
  stack.fakes.anthropic.setDefault('large', { kind: 'ok', content: 'hi' });
  const ask = (headers: Record<string, string> = {}) =>
    stack.post('/chat/completions', { model: 'auto', messages, max_tokens: MAX_TOKENS }, headers);

  // Plenty of budget: the quality strategy picks the large model.
  await admin('PUT', `/admin/tenants/${stack.tenantId}/budget`, { dailyUsd: 1 });
  const spent = (await budgets()).windows[0].spent_usd as number;
  await admin('PUT', `/admin/tenants/${stack.tenantId}/budget`, {
    dailyUsd: Number((spent + 100 * worstCase(LARGE)).toFixed(10)),
  });
  expect((await ask()).headers.get('x-switchyard-model')).toBe('an/large');

  // Past the alert threshold (80 %) with the large one still fitting: cheaper first.
  const limit2 = (await budgets()).windows[0].spent_usd + 10 * worstCase(LARGE);
  await admin('PUT', `/admin/tenants/${stack.tenantId}/budget`, { dailyUsd: Number(limit2.toFixed(10)) });
  const spent2 = (await budgets()).windows[0].spent_usd as number;
  await spendDirectly(0.85 * limit2 - spent2, limit2);
  const near = await ask();
  expect(near.status).toBe(200);
  expect(near.headers.get('x-switchyard-model')).toBe('oa/small');
  expect(near.body.switchyard.route.strategy).toBe('cost');

  // Room for the small worst case only: the large one is filtered by the budget, the small one answers.
  const spent3 = (await budgets()).windows[0].spent_usd as number;
  await admin('PUT', `/admin/tenants/${stack.tenantId}/budget`, {
    dailyUsd: Number((spent3 + worstCase(SMALL) * 1.5).toFixed(10)),
  });
  const tight = await ask();
  expect(tight.status).toBe(200);
  expect(tight.headers.get('x-switchyard-model')).toBe('oa/small');

  // A user's own cap, under a roomy tenant budget; and a per-request cap below any worst case.
  await admin('PUT', `/admin/tenants/${stack.tenantId}/budget`, {
    dailyUsd: 100,
    perUser: { dailyUsd: Number((worstCase(LARGE) * 1.01).toFixed(10)) },
  });
  const alice = await ask({ 'x-switchyard-user': 'alice' });
  expect(alice.headers.get('x-switchyard-model')).toBe('an/large');
  const again = await ask({ 'x-switchyard-user': 'alice' });
  expect(again.headers.get('x-switchyard-model')).toBe('oa/small');
  const mine = await budgets('?user=alice');
  expect(mine.windows.map((w: any) => w.scope)).toEqual([
    tenantScope(stack.tenantId),
    userScope(stack.tenantId, 'alice'),
  ]);
  expect(mine.limits).toEqual({
    [tenantScope(stack.tenantId)]: { per_request_usd: null, daily_usd: 100, weekly_usd: null, monthly_usd: null },
    [userScope(stack.tenantId, 'alice')]: {
      per_request_usd: null,
      daily_usd: Number((worstCase(LARGE) * 1.01).toFixed(10)),
      weekly_usd: null,
      monthly_usd: null,
    },
  });
  expect((await ask({ 'x-switchyard-user': 'bob' })).headers.get('x-switchyard-model')).toBe('an/large');

  await admin('PUT', `/admin/tenants/${stack.tenantId}/budget`, { dailyUsd: 100, perRequestUsd: worstCase(SMALL) / 2 });
  const perRequest = await ask();
  expect(perRequest.status).toBe(429);
  expect(perRequest.body.error.type).toBe('budget_exceeded');
  expect(perRequest.body.error.message).toMatch(/per-request limit/);
}, 120_000);

it('rejects bad budgets with the field path, and DELETE removes the budget', async () => {
  const bad = await admin('PUT', `/admin/tenants/${stack.tenantId}/budget`, { dailyUsd: -1, alertThreshold: 2 });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as any).error.param).toBe('dailyUsd');
  const member = await fetch(`${stack.baseURL}/admin/tenants/${stack.tenantId}/budget`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(member.status).toBe(403);
  expect((await admin('DELETE', `/admin/tenants/${stack.tenantId}/budget`)).status).toBe(200);
  expect((await budgets()).windows).toEqual([]);
  expect((await admin('DELETE', `/admin/tenants/${stack.tenantId}/budget`)).status).toBe(404);
});
