/**
 * A request's own deadline, over HTTP: a zero deadline ends it at once with 504 (no provider
 * call), and calls cancelled because the deadline passed are not provider failures, so one
 * client's short deadlines cannot open a breaker everyone shares.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, fakeModel, useTestStack } from '../support/stack';

const THRESHOLD = 2;
const stack = useTestStack({
  breakers: true,
  catalog: (f) =>
    CatalogSchema.parse({
      providers: fakeCatalogProviders(f),
      models: [fakeModel('oa', 'slow')],
    }),
  config: {
    retry: { default: { maximumAttempts: 1, timeoutMs: 30_000 } },
    breakers: { failureThreshold: THRESHOLD, windowMs: 60_000, cooldownMs: 60_000 },
  },
});

const chat = (headers: Record<string, string>) =>
  stack.post('/chat/completions', { model: 'oa/slow', messages: [{ role: 'user', content: 'hi' }] }, headers);

async function until(check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !(await check());) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('X-Switchyard-Timeout-Ms: 0 ends the request at once with 504 and calls no provider', async () => {
  const calls = stack.fakes.openai.calls.length;
  const res = await chat({ 'X-Switchyard-Timeout-Ms': '0' });
  expect(res.status).toBe(504);
  expect(res.body.error).toMatchObject({ type: 'timeout_error', code: 'DeadlineExceeded' });
  expect(stack.fakes.openai.calls.length).toBe(calls);
  const row = await stack.db.query<{ status: string }>('select status from requests where request_id = $1', [
    res.body.error.request_id,
  ]);
  expect(row.rows[0]?.status).toBe('failed');
});

it('a negative deadline is the client’s mistake: 400 naming the header', async () => {
  const res = await chat({ 'X-Switchyard-Timeout-Ms': '-5' });
  expect(res.status).toBe(400);
  expect(res.body.error.param).toBe('X-Switchyard-Timeout-Ms');
});

it('calls cancelled by the request deadline do not count against the breaker', async () => {
  // The provider answers after 5 s; each request allows 1.5 s, so its call has begun (on a loaded
  // machine a shorter deadline could pass before the call starts, and then nothing is cancelled).
  // The call notices the cancellation (at its next heartbeat, or the local activity's timeout) and aborts.
  stack.fakes.openai.setDefault('slow', { kind: 'ok', delayMs: 5_000 });
  const ids: string[] = [];
  for (let i = 0; i < THRESHOLD + 1; i++) {
    const res = await chat({ 'X-Switchyard-Timeout-Ms': '1500' });
    expect([res.status, res.body.error.code]).toEqual([504, 'DeadlineExceeded']);
    ids.push(res.body.error.request_id as string);
  }
  // Every cancelled call is recorded as such once its activity has ended.
  const cancelled = async () =>
    (
      await stack.db.query<{ n: string }>(
        `select count(*) as n from request_attempts where request_id = any($1::text[]) and error_type = 'Cancelled'`,
        [ids],
      )
    ).rows[0]!.n;
  await until(async () => Number(await cancelled()) === ids.length);
  // Give the breaker's batched failure flush (200 ms) its chance to have happened, then look.
  await stack.health!.stop();
  expect((await stack.health!.query('oa/slow'))?.status ?? 'closed').toBe('closed');
  expect((await stack.health!.snapshot('oa/slow', 0))?.status ?? 'closed').toBe('closed');
});
