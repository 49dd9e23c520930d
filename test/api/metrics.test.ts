/**
 * `/metrics` over HTTP (operator key): requests by tenant, operation, provider, model and status;
 * provider call latency by outcome; fallbacks by reason; streams and time to first token;
 * breaker state per endpoint, budget spent and remaining per tenant and window, batch items —
 * each after real traffic through the stack, in Prometheus's text format.
 */
import { fakeCatalog, fakeModel, openaiClient, startTestStack, type TestStack, setDailyBudget } from '../support/stack';
import { until } from '../support/chaos';

let stack: TestStack;
let root: string;

beforeAll(async () => {
  stack = await startTestStack({
    breakers: true,
    catalog: (f) =>
      fakeCatalog(f, [fakeModel('oa', 'primary', { qualityTier: 3 }), fakeModel('an', 'backup', { qualityTier: 4 })]),
    config: {
      routing: { defaultStrategy: 'quality' },
      retry: { default: { maximumAttempts: 1, timeoutMs: 10_000 } },
      breakers: { failureThreshold: 100, minCalls: 100 },
    },
  });
  root = stack.baseURL.replace(/\/v1$/, '');
  await setDailyBudget(stack, 10);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const scrape = async (key = stack.operatorKey) => {
  const res = await fetch(`${root}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};
/** The value of one series (labels in any order), or undefined. */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

it('needs an operator key', async () => {
  expect((await fetch(`${root}/metrics`)).status).toBe(401);
  expect((await scrape(stack.apiKey)).status).toBe(403);
});

it('counts requests, provider calls, fallbacks, streams, breakers, budgets and batches', async () => {
  stack.fakes.openai.script('primary', { kind: 'error', status: 503, message: 'Overloaded' });
  const client = openaiClient(stack);
  const answered = await client.chat.completions
    .create({ model: 'oa/primary', messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  expect(answered.response.headers.get('x-switchyard-model')).toBe('an/backup');
  const stream = await client.chat.completions.create({
    model: 'oa/primary',
    messages: [{ role: 'user', content: 'count' }],
    stream: true,
  });
  for await (const chunk of stream) void chunk;
  const batch = await fetch(`${stack.baseURL}/operations/sentiment/batches`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ documents: [{ id: 'a', text: 'great' }] }),
  });
  expect(batch.status).toBeLessThan(300);

  const { status, type, text } = await scrape();
  expect(status).toBe(200);
  expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
  const tenant = stack.tenantId;
  expect(
    valueOf(text, 'switchyard_requests_total', {
      tenant,
      operation: 'chat',
      provider: 'an',
      model: 'an/backup',
      status: 'succeeded',
    }),
  ).toBe(1);
  expect(
    valueOf(text, 'switchyard_requests_total', { tenant, provider: 'oa', model: 'oa/primary', status: 'succeeded' }),
  ).toBe(1);
  expect(valueOf(text, 'switchyard_fallbacks_total', { reason: 'Overloaded' })).toBe(1);
  expect(
    valueOf(text, 'switchyard_provider_call_duration_seconds_count', { model: 'oa/primary', outcome: 'Overloaded' }),
  ).toBe(1);
  expect(
    valueOf(text, 'switchyard_provider_call_duration_seconds_count', { model: 'an/backup', outcome: 'success' }),
  ).toBe(1);
  expect(valueOf(text, 'switchyard_request_duration_seconds_count', { operation: 'chat', status: 'succeeded' })).toBe(
    2,
  );
  expect(valueOf(text, 'switchyard_streams_total', { outcome: 'completed' })).toBe(1);
  expect(valueOf(text, 'switchyard_stream_first_token_seconds_count')).toBe(1);
  expect(valueOf(text, 'switchyard_budget_spent_usd', { scope: `tenant:${tenant}`, window: 'daily' })).toBeGreaterThan(
    0,
  );
  expect(valueOf(text, 'switchyard_budget_remaining_usd', { scope: `tenant:${tenant}`, window: 'daily' })).toBeLessThan(
    10,
  );
  expect(valueOf(text, 'switchyard_batch_items', { state: 'pending' })).toBeDefined();
  expect(valueOf(text, 'switchyard_process_resident_memory_bytes')).toBeGreaterThan(0);
  // The breaker's state per endpoint (its projection is written as the entity hears outcomes).
  await until(async () => valueOf((await scrape()).text, 'switchyard_breaker_state', { endpoint: 'oa/primary' }) === 0);
});
