/**
 * Alerts over real HTTP, with the alert monitor running in the stack's worker and a webhook
 * receiver on 127.0.0.1: a forced breaker opens one provider_down episode and one signed POST
 * (re-evaluations send nothing more), closing it resolves it (one more POST); a budget window
 * crossing its threshold then its limit raises two alerts, once each; a latency objective broken
 * raises latency_slo; a key near its rate limit raises rate_limit_near; a webhook to an address
 * the URL policy forbids is recorded as refused and never called; members see only their own
 * tenant's budget and rate-limit alerts.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CatalogSchema } from '../../src/domain/catalog';
import { upsertApiKey } from '../../src/db/apiKeys';
import { ensureAlertMonitor } from '../../src/clients/alertMonitor';
import { uniqueId } from '../support/db';
import { fakeCatalogProviders, fakeModel, setDailyBudget, useTestStack } from '../support/stack';

const SECRET_ENV = 'SY_TEST_ALERT_WEBHOOK_SECRET';
const SECRET = 'test-alert-secret-0123456789';
const RPM = 10;
const limitedTenant = uniqueId('limited');
const limitedKey = `sk-sy-${uniqueId('limited')}`;

interface Received {
  body: { type: string; event_id: string; alert: Alert };
  raw: string;
  headers: http.IncomingHttpHeaders;
}
interface Alert {
  id: string;
  kind: string;
  subject: string;
  tenant_id: string | null;
  severity: string;
  status: string;
  summary: string;
  details: Record<string, unknown>;
  deliveries: Array<{ event: string; url_host: string; status: string; error: string | null }>;
}

const received: Received[] = [];
let hookUrl = '';
const hook = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (d: Buffer) => (raw += d.toString()));
  req.on('end', () => {
    received.push({ body: JSON.parse(raw) as Received['body'], raw, headers: req.headers });
    res.writeHead(204).end();
  });
});

beforeAll(async () => {
  process.env[SECRET_ENV] = SECRET;
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
});
afterAll(async () => {
  await new Promise((r) => hook.close(r));
});

const stack = useTestStack(
  () => ({
    breakers: true,
    catalog: (f) =>
      CatalogSchema.parse({
        providers: fakeCatalogProviders(f),
        models: [fakeModel('oa', 'primary'), fakeModel('an', 'backup', { qualityTier: 2 })],
      }),
    config: {
      retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } },
      tenants: { [limitedTenant]: { limits: { requestsPerMinute: RPM } } },
      alerts: {
        evaluateEverySeconds: 1,
        // an/backup's objective is 1 ms over 2 requests: any real traffic breaks it.
        latencyObjective: { overrides: { 'an/backup': { p95Ms: 1, minRequests: 2 } } },
        webhooks: [
          { url: hookUrl, secretName: SECRET_ENV },
          // A private address: the workers' policy (127.0.0.1 only) refuses it before any connection.
          { url: 'http://10.255.255.1/alerts', kinds: ['provider_down'] },
        ],
      },
    },
  }),
  { timeout: 120_000 },
);

beforeAll(async () => {
  await upsertApiKey(stack.db, limitedTenant, limitedKey, 'limited');
  await ensureAlertMonitor(stack.env.client, stack.taskQueue);
});

const get = async (path: string, key = stack.operatorKey) => {
  const res = await fetch(`${stack.baseURL}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as { data: Alert[]; next_cursor: string | null } };
};
const alerts = async (query = '', key = stack.operatorKey) => {
  const res = await get(`/alerts?limit=200${query}`, key);
  expect(res.status).toBe(200);
  return res.body.data;
};
async function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > end) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
const postsFor = (alertId: string) => received.filter((r) => r.body.alert.id === alertId);
/** Evaluations the monitor has run since: waits for a few more of them (its own clock is 1 s). */
const afterEvaluations = () => new Promise((r) => setTimeout(r, 3_000));
const force = (action: 'open' | 'close') =>
  fetch(`${stack.baseURL}/providers/oa/primary/breaker`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action, reason: 'maintenance window' }),
  });

it('a forced breaker open: one provider_down episode, one signed webhook; closing resolves it', async () => {
  expect((await force('open')).status).toBe(200);
  const open = await until('provider_down open', async () =>
    (await alerts('&status=open&kind=provider_down')).find((a) => a.subject === 'oa/primary'),
  );
  expect(open).toMatchObject({ severity: 'critical', status: 'open', tenant_id: null });
  expect(open.summary).toMatch(/oa\/primary.*forced open/);
  const [post] = await until('opened POST', async () => postsFor(open.id).length >= 1 && postsFor(open.id));
  expect(post!.body).toMatchObject({ type: 'alert.opened', event_id: `${open.id}:opened` });
  expect(post!.headers['x-switchyard-event-id']).toBe(`${open.id}:opened`);
  expect(post!.headers['x-switchyard-signature']).toBe(
    `sha256=${createHmac('sha256', SECRET).update(post!.raw).digest('hex')}`,
  );
  // The forbidden webhook: refused and recorded, never called (only the receiver got a POST).
  const withDeliveries = await until('deliveries recorded', async () => {
    const a = (await alerts('&kind=provider_down')).find((x) => x.id === open.id)!;
    return a.deliveries.length === 2 && a;
  });
  expect(withDeliveries.deliveries).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ event: 'opened', url_host: '10.255.255.1', status: 'refused' }),
      expect.objectContaining({ event: 'opened', url_host: new URL(hookUrl).host, status: 'delivered', error: null }),
    ]),
  );
  expect(withDeliveries.deliveries.find((d) => d.status === 'refused')!.error).toMatch(/not called/);

  // Evaluations go on; the episode is neither raised again nor resent.
  await afterEvaluations();
  expect((await alerts('&kind=provider_down')).filter((a) => a.subject === 'oa/primary')).toHaveLength(1);
  expect(postsFor(open.id)).toHaveLength(1);

  expect((await force('close')).status).toBe(200);
  const resolved = await until('resolved', async () =>
    (await alerts('&status=resolved&kind=provider_down')).find((a) => a.id === open.id),
  );
  expect(resolved.status).toBe('resolved');
  await until('resolution POST', async () => postsFor(open.id).length === 2);
  expect(postsFor(open.id).map((p) => p.body.type)).toEqual(['alert.opened', 'alert.resolved']);
  expect((await alerts('&status=open&kind=provider_down')).some((a) => a.subject === 'oa/primary')).toBe(false);
});

it('latency above the objective of a provider/model with enough requests: latency_slo', async () => {
  for (let i = 0; i < 3; i++) {
    const res = await stack.post('/chat/completions', {
      model: 'an/backup',
      messages: [{ role: 'user', content: `hi ${i}` }],
    });
    expect(res.status).toBe(200);
  }
  const slo = await until('latency_slo', async () =>
    (await alerts('&kind=latency_slo')).find((a) => a.subject === 'an/backup'),
  ).catch(async (err: Error) => {
    const rows = await stack.db.query('select provider, model, latency_ms, completed_at from requests');
    throw new Error(`${err.message}; requests: ${JSON.stringify(rows.rows)}`);
  });
  expect(slo).toMatchObject({ severity: 'warning', tenant_id: null });
  expect(slo.details).toMatchObject({ objectiveMs: 1, windowMinutes: 5 });
  expect(slo.details.requests as number).toBeGreaterThanOrEqual(3);
  // oa/primary keeps the default objective (10 s): no alert for it.
  expect((await alerts('&kind=latency_slo')).some((a) => a.subject.endsWith('primary'))).toBe(false);
});

it('a budget window past its threshold, then exhausted: two alerts, each once', async () => {
  await setDailyBudget(stack, 1);
  // The window exists once the tenant's budget entity has ticked.
  const window = await until('budget window', async () => {
    const r = await stack.db.query<{ scope: string; window_start: Date }>(
      `select scope, window_start from budget_windows where tenant_id = $1 and period = 'daily' and closed_at is null`,
      [stack.tenantId],
    );
    return r.rows[0];
  });
  // Spend as settled requests would record it (a real request costs fractions of a cent here).
  const spend = (usd: number) =>
    stack.db.query(`update budget_windows set spent_usd = $3 where scope = $1 and window_start = $2`, [
      window.scope,
      window.window_start,
      usd,
    ]);
  await spend(0.85);
  const threshold = await until('budget_threshold', async () =>
    (await alerts('&kind=budget_threshold', stack.adminKey)).find((a) => a.tenant_id === stack.tenantId),
  );
  expect(threshold).toMatchObject({ severity: 'warning', status: 'open' });
  expect(threshold.summary).toMatch(/85% spent, past its 80% alert threshold/);
  await spend(1);
  const exhausted = await until('budget_exhausted', async () =>
    (await alerts('&kind=budget_exhausted', stack.adminKey)).find((a) => a.tenant_id === stack.tenantId),
  );
  expect(exhausted).toMatchObject({ severity: 'critical', subject: threshold.subject });
  await until('both sent', async () => postsFor(threshold.id).length === 1 && postsFor(exhausted.id).length === 1);
  await afterEvaluations();
  expect(postsFor(threshold.id)).toHaveLength(1);
  expect(postsFor(exhausted.id)).toHaveLength(1);
  expect((await alerts('&kind=budget_threshold')).filter((a) => a.subject === threshold.subject)).toHaveLength(1);
  // The budgets page lists each window's alerts.
  const budgets = (await fetch(`${stack.baseURL}/budgets`, {
    headers: { authorization: `Bearer ${stack.apiKey}` },
  }).then((r) => r.json())) as { windows: Array<{ window: string; alerts: Array<{ id: string; kind: string }> }> };
  const daily = budgets.windows.find((w) => w.window === 'daily')!;
  expect(daily.alerts.map((a) => a.id).sort()).toEqual([threshold.id, exhausted.id].sort());
});

it("a key near its rate limit: rate_limit_near, for its tenant's members to see; operators' alerts stay hidden", async () => {
  for (let i = 0; i < RPM - 1; i++) expect((await get('/models', limitedKey)).status).toBe(200);
  const near = await until('rate_limit_near', async () =>
    (await alerts('&kind=rate_limit_near')).find((a) => a.tenant_id === limitedTenant),
  );
  expect(near.summary).toMatch(new RegExp(`used \\d+ of its ${RPM} requests per minute`));
  // The limited tenant's member sees its own alert and nothing of the operator's or another tenant's.
  const mine = (await get('/alerts?limit=200', limitedKey)).body.data;
  expect(mine.map((a) => a.id)).toEqual([near.id]);
  const stackMember = await alerts('', stack.apiKey);
  expect(stackMember.every((a) => a.tenant_id === stack.tenantId)).toBe(true);
  expect(stackMember.some((a) => a.kind === 'provider_down' || a.kind === 'latency_slo')).toBe(false);
  // A member asking for an operator's kind gets an empty list, not someone else's alerts.
  expect(await alerts('&kind=provider_down', stack.apiKey)).toEqual([]);
});

it('pages with next_cursor and rejects bad parameters with the field named', async () => {
  const all = await alerts();
  expect(all.length).toBeGreaterThanOrEqual(4);
  const first = (await get('/alerts?limit=2')).body;
  expect(first.data).toHaveLength(2);
  const second = (await get(`/alerts?limit=2&cursor=${first.next_cursor}`)).body;
  expect(second.data.map((a) => a.id)).toEqual(all.slice(2, 4).map((a) => a.id));
  const bad = async (q: string) =>
    await fetch(`${stack.baseURL}/alerts?${q}`, {
      headers: { authorization: `Bearer ${stack.operatorKey}` },
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error: { param: string } } }));
  for (const [q, param] of [
    ['status=closed', 'status'],
    ['kind=nope', 'kind'],
    ['limit=0', 'limit'],
    ['cursor=zzz', 'cursor'],
  ] as const) {
    const r = await bad(q);
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe(param);
  }
});
