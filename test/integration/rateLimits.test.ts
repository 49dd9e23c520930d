/**
 * Provider rate limits over real HTTP: an `rpm` provider's calls wait their turn in its task
 * queue (Temporal's server-side rate limit, shared by every worker) and the wait shows in the
 * attempt list; past its bound a call falls back; a `tpm` provider refuses what does not fit this
 * minute's tokens (counted in Postgres) and the request falls back, named as rate limited. The
 * wait shows in the timing breakdown (response, Server-Timing header, record).
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { until } from '../support/chaos';
import { fakeModel, useTestStack } from '../support/stack';

const stack = useTestStack(
  {
    catalog: (f) =>
      CatalogSchema.parse({
        providers: [
          { id: 'oa', wireFormat: 'openai', baseUrl: f.openai.url, rpm: 60 },
          { id: 'ob', wireFormat: 'openai', baseUrl: f.openai.url, rpm: 6, rateLimitWaitMs: 300 },
          { id: 'oc', wireFormat: 'openai', baseUrl: f.openai.url, tpm: 90, rateLimitWaitMs: 500 },
          { id: 'an', wireFormat: 'anthropic', baseUrl: f.anthropic.url },
        ],
        models: [
          fakeModel('oa', 'rpm', { qualityTier: 3 }),
          fakeModel('ob', 'slowq', { qualityTier: 3 }),
          fakeModel('oc', 'tpm', { qualityTier: 3, maxOutputTokens: 70 }),
          fakeModel('an', 'backup', { qualityTier: 4 }),
        ],
      }),
    config: { routing: { defaultStrategy: 'quality' }, retry: { default: { maximumAttempts: 1, timeoutMs: 10_000 } } },
  },
  { timeout: 120_000 },
);

const ask = (model: string, content: string) =>
  stack.post('/chat/completions', { model, messages: [{ role: 'user', content }] });

it('an rpm provider serves a burst at its rate: calls wait their turn, and the wait is on record', async () => {
  const res = await Promise.all(Array.from({ length: 5 }, (_, i) => ask('oa/rpm', `burst ${i}`)));
  expect(res.map((r) => r.status)).toEqual(Array(5).fill(200));
  expect(new Set(res.map((r) => r.headers.get('x-switchyard-model')))).toEqual(new Set(['oa/rpm']));
  // 1 per second, server-side (its limiter lets a small burst through): the provider saw them spread out.
  const at = stack.fakes.openai.callsFor('rpm').map((c) => c.at);
  expect(Math.max(...at) - Math.min(...at)).toBeGreaterThanOrEqual(2_500);
  const waits = res.map((r) => (r.body.switchyard.attempts[0] as { queuedMs?: number }).queuedMs ?? -1);
  expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
  expect(Math.max(...waits)).toBeGreaterThanOrEqual(2_000);
  // The timing breakdown (seed 004), in the response, its Server-Timing header and the record.
  const slowest = res[waits.indexOf(Math.max(...waits))]!;
  const timing = slowest.body.switchyard.timing_ms as Record<'queued' | 'routing' | 'provider' | 'total', number>;
  expect(timing.queued).toBeGreaterThanOrEqual(Math.max(...waits));
  expect(timing.provider).toBeGreaterThan(0);
  expect(timing.total).toBeGreaterThanOrEqual(timing.queued + timing.provider);
  expect(slowest.headers.get('server-timing')).toBe(
    `queued;dur=${timing.queued}, routing;dur=${timing.routing}, provider;dur=${timing.provider}, total;dur=${timing.total}`,
  );
  const record = (await (
    await fetch(`${stack.baseURL}/requests/${slowest.body.switchyard.request_id}`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
    })
  ).json()) as { timing_ms: Record<string, number> };
  expect(record.timing_ms.queued).toBe(Math.max(...waits));
  expect(record.timing_ms.provider).toBe(timing.provider);
});

it('past its wait bound a call falls back instead of waiting on', async () => {
  const res = await Promise.all(Array.from({ length: 3 }, (_, i) => ask('ob/slowq', `wait ${i}`)));
  expect(res.map((r) => r.status)).toEqual(Array(3).fill(200));
  const served = res.map((r) => r.headers.get('x-switchyard-model'));
  expect(served).toContain('an/backup');
  const fellBack = res.find((r) => r.headers.get('x-switchyard-model') === 'an/backup')!;
  expect(fellBack.body.switchyard.candidates[0]).toMatchObject({ modelId: 'ob/slowq', errorType: 'Timeout' });
});

it('a tpm provider refuses what does not fit this minute; the request falls back, named rate limited', async () => {
  // Not in the last seconds of a minute: the refusal must not be a wait into the next one.
  await until(() => Date.now() % 60_000 < 50_000, 15_000);
  // A long answer: after it, this minute's count (settled on its usage) leaves no room for another.
  stack.fakes.openai.script('tpm', { kind: 'ok', content: 'word '.repeat(40) });
  const first = await ask('oc/tpm', 'first');
  expect(first.headers.get('x-switchyard-model')).toBe('oc/tpm');
  const second = await ask('oc/tpm', 'second');
  expect(second.status).toBe(200);
  expect(second.headers.get('x-switchyard-model')).toBe('an/backup');
  expect(second.body.switchyard.candidates[0]).toMatchObject({
    modelId: 'oc/tpm',
    errorType: 'RateLimited',
    message: expect.stringMatching(/tpm limit \(90\) has no room/),
  });
  expect(stack.fakes.openai.callsFor('tpm')).toHaveLength(1);
  // The minute's count settles on what the first call used (its estimate was the output cap).
  const used = first.body.usage.total_tokens as number;
  await until(async () => {
    const rows = await stack.db.query<{ tokens: string }>(
      `select tokens::text from provider_tokens where provider = 'oc'`,
    );
    return rows.rows.length === 1 && Number(rows.rows[0]!.tokens) === used;
  }, 10_000);
});
