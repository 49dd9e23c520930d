/**
 * Breakers over real HTTP: a provider goes hard down; a few requests attempt it before its
 * breaker opens; then every request goes straight to the fallback (zero attempts on the open
 * endpoint, from the attempt lists); when the provider recovers and the cooldown passes, one
 * probe closes the breaker and traffic returns. Two worker sets share the breaker state.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, fakeModel, useTestStack } from '../support/stack';

const THRESHOLD = 3;
// Long enough that the "open" phase's requests all finish inside it on a loaded machine.
const COOLDOWN_MS = 8_000;

const stack = useTestStack({
  breakers: true,
  catalog: (f) =>
    CatalogSchema.parse({
      providers: fakeCatalogProviders(f),
      models: [fakeModel('oa', 'primary'), fakeModel('an', 'backup', { inputPricePerMTok: 1, outputPricePerMTok: 4 })],
    }),
  config: {
    routing: { defaultStrategy: 'cost' },
    retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } },
    breakers: { failureThreshold: THRESHOLD, windowMs: 60_000, cooldownMs: COOLDOWN_MS },
  },
});

type Attempt = { provider: string; model: string; outcome: string };
const ask = async () => {
  const res = await stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: 'hi' }] });
  expect(res.status).toBe(200);
  return { model: res.headers.get('x-switchyard-model'), attempts: res.body.switchyard.attempts as Attempt[] };
};
const onPrimary = (attempts: Attempt[]) => attempts.filter((a) => a.model === 'primary').length;
const breaker = async () => {
  const res = await fetch(`${stack.baseURL}/providers`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
  return (
    (await res.json()) as {
      data: Array<{
        id: string;
        breaker: { status: string; openUntil?: string; lastError?: { type: string }; errorRate: number };
      }>;
    }
  ).data.find((d) => d.id === 'oa/primary')!.breaker;
};
const until = async (check: () => Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
};

it('opens after the threshold, routes around the open endpoint, and closes after one probe once the provider recovers', async () => {
  const second = await stack.addWorkers();
  stack.fakes.openai.setDefault('primary', {
    kind: 'error',
    status: 503,
    message: 'The engine is currently overloaded',
  });

  // Hard down: requests fall back while failures accumulate, until the breaker opens.
  let attemptsBeforeOpen = 0;
  for (let i = 0; i < 20 && (await breaker()).status !== 'open'; i++) {
    const r = await ask();
    expect(r.model).toBe('an/backup');
    attemptsBeforeOpen += onPrimary(r.attempts);
  }
  const opened = await breaker();
  expect(opened).toMatchObject({ status: 'open', lastError: { type: 'Overloaded' } });
  expect(attemptsBeforeOpen).toBeGreaterThanOrEqual(THRESHOLD);
  expect(attemptsBeforeOpen).toBeLessThanOrEqual(THRESHOLD + 2); // at most a couple more in flight before the news arrives
  const callsAtOpen = stack.fakes.openai.callsFor('primary').length;

  // Both worker sets see the same breaker (it lives in Temporal and its projection, not in a
  // worker's memory); the projection follows the entity within a workflow task.
  await until(async () => (await stack.health!.snapshot('oa/primary', 0))?.status === 'open');
  await until(async () => (await second.health.snapshot('oa/primary', 0))?.status === 'open');

  // Open: straight to the fallback, zero attempts on the open endpoint, whichever worker decides
  // (asked while the cooldown surely runs: after it, a half-open breaker rightly admits a probe).
  let askedWhileOpen = 0;
  while (askedWhileOpen < 8 && Date.now() < Date.parse(opened.openUntil!) - 1_500) {
    const r = await ask();
    expect(r.model).toBe('an/backup');
    expect(onPrimary(r.attempts)).toBe(0);
    askedWhileOpen++;
  }
  expect(askedWhileOpen).toBeGreaterThanOrEqual(3);
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(callsAtOpen);

  // Dry runs say why.
  const dry = await stack.post('/route', { model: 'auto', messages: [{ role: 'user', content: 'hi' }] });
  expect(dry.body.decision.rejected).toEqual([
    expect.objectContaining({
      modelId: 'oa/primary',
      filter: 'breaker-open',
      reason: `breaker open until ${opened.openUntil}`,
    }),
  ]);

  // The provider recovers; after the cooldown, one probe closes the breaker and traffic returns.
  stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'back' });
  await until(async () => (await breaker()).status === 'half-open', COOLDOWN_MS + 5_000);
  const probe = await ask();
  expect(probe.model).toBe('oa/primary');
  await until(async () => (await breaker()).status === 'closed');
  for (let i = 0; i < 3; i++) expect((await ask()).model).toBe('oa/primary');
  await second.stop();
});

it('lets an operator force a breaker open and closed, with a reason', async () => {
  stack.fakes.openai.setDefault('primary', { kind: 'ok' });
  const operator = (body: unknown, key = stack.operatorKey) =>
    fetch(`${stack.baseURL}/providers/oa/primary/breaker`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  expect((await operator({ action: 'open', reason: 'vendor incident' }, stack.apiKey)).status).toBe(403);
  expect((await operator({ action: 'open', reason: 'vendor incident' }, stack.adminKey)).status).toBe(403);
  expect((await operator({ action: 'open' })).status).toBe(400);
  const forced = await operator({ action: 'open', reason: 'vendor incident' });
  expect(forced.status).toBe(200);
  expect(((await forced.json()) as { breaker: { status: string; forced: { reason: string } } }).breaker).toMatchObject({
    status: 'open',
    forced: { reason: 'vendor incident' },
  });
  // Forced open has no end: no cooldown time is shown (it would be stale).
  expect((await breaker()).openUntil).toBeUndefined();
  await until(async () => (await ask()).model === 'an/backup');
  // Asked for by name, the forced-open model is replaced, and the response says so.
  const named = await stack.post('/chat/completions', {
    model: 'oa/primary',
    messages: [{ role: 'user', content: 'hi' }],
  });
  expect(named.status).toBe(200);
  expect(named.headers.get('x-switchyard-model')).toBe('an/backup');
  expect(named.headers.get('x-switchyard-model-substituted')).toBe('oa/primary');
  expect(named.body.switchyard.model_substituted).toEqual({
    requested: 'oa/primary',
    served: 'an/backup',
    reason: expect.stringMatching(
      /^requested oa\/primary removed by breaker-open \(breaker forced open: vendor incident\)/,
    ),
  });
  // Closing needs no reason (as docs/configuration.md shows it).
  expect((await operator({ action: 'close' })).status).toBe(200);
  await until(async () => (await ask()).model === 'oa/primary');
  const plain = await stack.post('/chat/completions', {
    model: 'oa/primary',
    messages: [{ role: 'user', content: 'hi' }],
  });
  expect(plain.headers.get('x-switchyard-model-substituted')).toBeNull();
  expect(plain.body.switchyard.model_substituted).toBeNull();
});

it('a caller that allows waiting waits durably for the first breaker to reopen instead of failing', async () => {
  // Both endpoints go down until both breakers are open.
  stack.fakes.openai.setDefault('primary', { kind: 'error', status: 503 });
  stack.fakes.anthropic.setDefault('backup', { kind: 'error', status: 529, message: 'Overloaded' });
  const status = async (id: string) => (await stack.health!.snapshot(id, 0))?.status;
  await until(async () => {
    await stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: 'hi' }] });
    return (await status('oa/primary')) === 'open' && (await status('an/backup')) === 'open';
  }, 30_000);
  stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'recovered' });
  stack.fakes.anthropic.setDefault('backup', { kind: 'ok', content: 'recovered' });

  // Without waiting: no candidate, 503 naming the breakers.
  const refused = await stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: 'hi' }] });
  expect(refused.status).toBe(503);
  expect(refused.body.error.message).toMatch(/breaker open until/);
  // With waiting: the workflow sleeps until the first cooldown ends, then its probe succeeds.
  const waited = await stack.post(
    '/chat/completions',
    { model: 'auto', messages: [{ role: 'user', content: 'hi' }] },
    { 'X-Switchyard-Wait-For-Recovery': 'true' },
  );
  expect(waited.status).toBe(200);
  expect(waited.body.choices[0].message.content).toBe('recovered');
});
