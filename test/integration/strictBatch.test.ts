/**
 * Batch items of a tenant whose default is no substitution, over HTTP: an item naming a model that
 * is rate limited waits (the batch says `waiting`, naming the model) and then completes with that
 * model, as a substitutable item waits out "every candidate rate limited"; so does one whose
 * model's breaker is open, until it closes; an item whose model refuses our key fails, its error
 * naming the model. The other model is never called.
 */
import { until } from '../support/chaos';
import { recordHistory } from '../support/histories';
import { fakeCatalog, fakeModel, useTestStack } from '../support/stack';

const stack = useTestStack(
  {
    breakers: true,
    catalog: (f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'primary', { capabilities: ['chat', 'json'] }),
        fakeModel('an', 'backup', { capabilities: ['chat', 'json'], inputPricePerMTok: 1, outputPricePerMTok: 4 }),
      ]),
    // One attempt per call: a 429 ends the route at once, so only the batch's deferral can retry it.
    config: { retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } } },
    // Long enough for the test to see the batch waiting, short enough to keep it quick.
    batches: { recheckMs: 3_000 },
  },
  { timeout: 120_000, resetFakes: true },
);

async function api(path: string, init: RequestInit & { key?: string } = {}) {
  const res = await fetch(`${stack.baseURL}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${init.key ?? stack.apiKey}`,
      'content-type': 'application/json',
      ...(init.headers as Record<string, string>),
    },
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : undefined, text };
}

const BATCHES = '/operations/sentiment/batches';
const batch = async (id: string) => (await api(`${BATCHES}/${id}`)).body;
const results = async (id: string) =>
  (await api(`${BATCHES}/${id}/results`)).text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

async function finished(id: string) {
  let last: any;
  await until(async () => ['completed', 'cancelled', 'failed'].includes((last = await batch(id)).status), 90_000);
  return last;
}

// The stack (and its tenant) is this file's own: nothing to restore afterwards.
beforeAll(async () => {
  const set = await api(`/admin/tenants/${stack.tenantId}`, {
    method: 'PUT',
    key: stack.adminKey,
    body: JSON.stringify({ substitution: 'none' }),
  });
  expect(set.status).toBe(200);
});
beforeEach(() => {
  stack.fakes.openai.setDefault('primary', { kind: 'ok', simulate: true });
  stack.fakes.anthropic.setDefault('backup', { kind: 'ok', simulate: true });
});

it('a strict item whose model is rate limited waits, then completes with that model; the other is never called', async () => {
  stack.fakes.openai.script('primary', { kind: 'error', status: 429, message: 'Rate limit reached for requests' });
  const sub = await api(BATCHES, {
    method: 'POST',
    body: JSON.stringify({ model: 'oa/primary', documents: [{ id: 'r1', text: 'I love this product, it is great.' }] }),
  });
  expect(sub.status).toBe(201);
  const id = sub.body.id;

  let seen: any;
  await until(async () => (seen = await batch(id)).status === 'waiting', 60_000);
  expect(seen.status_reason).toBe('oa/primary is rate limited (substitution none)');
  expect(seen.counts).toMatchObject({ failed: 0, done: 0 });

  const end = await finished(id);
  expect(end).toMatchObject({ status: 'completed', counts: { done: 1, failed: 0 } });
  const [line] = await results(id);
  expect(line).toMatchObject({ id: 'r1', error: null, models: ['oa/primary'] });
  expect(line.result.label).toBe('positive');
  // The 429, then the answer: the item ran again rather than failing or falling back.
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(2);
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);

  const handle = stack.env.client.workflow.getHandle(`batch-${id}`);
  await until(async () => (await handle.describe()).status.name === 'COMPLETED');
  await recordHistory('operation-batch-strict-deferred', handle);
}, 120_000);

it("a strict item whose model refuses our key fails at once, its error naming the model and the tenant's default", async () => {
  stack.fakes.openai.setDefault('primary', { kind: 'error', status: 401, message: 'Incorrect API key provided' });
  const sub = await api(BATCHES, {
    method: 'POST',
    body: JSON.stringify({ model: 'oa/primary', documents: [{ id: 'k1', text: 'The delivery was late.' }] }),
  });
  expect(sub.status).toBe(201);
  const end = await finished(sub.body.id);
  expect(end).toMatchObject({ status: 'completed', counts: { done: 0, failed: 1 } });
  const [line] = await results(sub.body.id);
  expect(line.error).toMatchObject({ type: 'ModelUnavailable', status: 503 });
  expect(line.error.message).toMatch(/^The model oa\/primary failed: AuthFailed/);
  expect(line.error.message).toContain("the tenant's default is no substitution");
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(1);
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
}, 120_000);

it("a strict item whose model's breaker is open waits until it closes, then completes with that model", async () => {
  const breaker = (action: 'open' | 'close') =>
    api('/providers/oa/primary/breaker', {
      method: 'POST',
      key: stack.operatorKey,
      body: JSON.stringify({ action, reason: 'strict batch test' }),
    });
  expect((await breaker('open')).status).toBe(200);
  let id: string;
  try {
    const sub = await api(BATCHES, {
      method: 'POST',
      body: JSON.stringify({
        model: 'oa/primary',
        documents: [{ id: 'b1', text: 'I love this product, it is great.' }],
      }),
    });
    expect(sub.status).toBe(201);
    id = sub.body.id;
    let seen: any;
    await until(async () => (seen = await batch(id)).status === 'waiting', 60_000);
    expect(seen.status_reason).toBe('the breaker of oa/primary is open (substitution none)');
    expect(seen.counts).toMatchObject({ failed: 0, done: 0 });
    expect(stack.fakes.openai.callsFor('primary')).toHaveLength(0);
  } finally {
    expect((await breaker('close')).status).toBe(200);
  }
  const end = await finished(id);
  expect(end).toMatchObject({ status: 'completed', counts: { done: 1, failed: 0 } });
  const [line] = await results(id);
  expect(line).toMatchObject({ id: 'b1', error: null, models: ['oa/primary'] });
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(1);
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
}, 120_000);
