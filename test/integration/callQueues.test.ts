/**
 * Where provider calls run. `shared` (the default): on the request workflow's own task queue, so
 * the server hands the call to the worker with the workflow task's completion; each provider's
 * calls in one worker are capped (the bulkhead), and a call over the cap falls back instead of
 * waiting for a slot. `per-provider`: on the provider's own queue.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, fakeModel, useTestStack, type TestStack } from '../support/stack';

const catalog = (f: TestStack['fakes']) =>
  CatalogSchema.parse({
    providers: fakeCatalogProviders(f),
    models: [fakeModel('oa', 'primary', { qualityTier: 4 }), fakeModel('an', 'backup')],
  });
const config = {
  routing: { defaultStrategy: 'quality' as const },
  retry: { default: { maximumAttempts: 2, initialIntervalMs: 100, timeoutMs: 30_000 } },
};
const ask = (stack: TestStack, i: number) =>
  stack.post('/chat/completions', { model: 'auto', messages: [{ role: 'user', content: `call ${i}` }] });

async function callQueueOf(stack: TestStack, workflowId: string): Promise<string | null | undefined> {
  const history = await stack.env.client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = history.events!.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'callModel',
  );
  return scheduled?.activityTaskScheduledEventAttributes?.taskQueue?.name;
}

/**
 * With a cap of two calls per provider: two calls of `oa/primary` held at the provider, a third
 * falls back to `an/backup` at once (its first candidate `ProviderBusy`, and `also` of it), never
 * reaching the provider nor leaving an attempt; the held two then finish on `oa/primary`.
 */
async function capsOneProvider(stack: TestStack, also: Record<string, unknown>): Promise<void> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  stack.fakes.openai.reset();
  stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'held', waitFor: held });
  const first = [ask(stack, 1), ask(stack, 2)];
  for (const end = Date.now() + 30_000; stack.fakes.openai.callsFor('primary').length < 2;) {
    if (Date.now() > end) throw new Error('the two calls never reached the provider');
    await new Promise((r) => setTimeout(r, 20));
  }
  const third = await ask(stack, 3);
  expect(third.status).toBe(200);
  expect(third.headers.get('x-switchyard-model')).toBe('an/backup');
  expect(third.body.switchyard.candidates[0]).toMatchObject({
    modelId: 'oa/primary',
    errorType: 'ProviderBusy',
    ...also,
  });
  // The refused calls never reached the provider, and left no attempt.
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(2);
  expect(third.body.switchyard.attempts.map((a: { model: string }) => a.model)).toEqual(['backup']);
  release();
  expect((await Promise.all(first)).map((r) => r.headers.get('x-switchyard-model'))).toEqual([
    'oa/primary',
    'oa/primary',
  ]);
}

describe('shared (default)', () => {
  // The regular path's placement (the fast path has no activity task to place): its own describe below.
  const stack = useTestStack({
    catalog,
    config: { ...config, routing: { ...config.routing, fastPath: { enabled: false } } },
    maxConcurrentCalls: 2,
  });

  it("runs the call on the workflow's own task queue", async () => {
    const res = await ask(stack, 0);
    expect(res.status).toBe(200);
    expect(await callQueueOf(stack, res.headers.get('x-switchyard-workflow-id')!)).toBe(stack.taskQueue);
  });

  it('caps one provider at its limit per worker: a call over it falls back at once', async () => {
    await capsOneProvider(stack, {});
  });
});

describe('shared, on the fast path (issue 24)', () => {
  const stack = useTestStack({
    catalog,
    config: { ...config, retry: { default: { ...config.retry.default, timeoutMs: 20_000 } } },
    maxConcurrentCalls: 2,
  });

  it('runs the call as a local activity in its workflow task: no activity task scheduled', async () => {
    const res = await ask(stack, 0);
    expect(res.status).toBe(200);
    expect(res.body.switchyard.candidates[0]).toMatchObject({ outcome: 'success', path: 'local' });
    expect(await callQueueOf(stack, res.headers.get('x-switchyard-workflow-id')!)).toBeUndefined();
  });

  it('caps one provider at its limit per worker: a call over it falls back at once', async () => {
    await capsOneProvider(stack, { path: 'local' });
  });
});

describe('per-provider', () => {
  const stack = useTestStack({ catalog, config, callQueues: 'per-provider' });

  it("runs the call on its provider's task queue", async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'hi' });
    const res = await ask(stack, 0);
    expect(res.status).toBe(200);
    expect(await callQueueOf(stack, res.headers.get('x-switchyard-workflow-id')!)).toBe('llm-oa');
  });
});
