/**
 * The take-over path of continuation (issue 29, patched('stream-continuation-takeover')), through
 * the `routeRequest` workflow against a real Temporal dev server with the real activities, except
 * the first candidate's call: it sends pieces into the relay as a streaming call does, then its
 * worker "dies" (it never heartbeats or returns again) on its LAST attempt. Temporal reports a
 * heartbeat Timeout, not a StreamInterrupted with a count; the next candidate that can continue
 * finds the stream the earlier call began and continues it (the real call, prefilled from the relay,
 * against a fake Anthropic-format provider). Records `route-stream-takeover` for the replay test.
 */
import { Context } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { StreamOut } from '../../activities/streamOut';
import type { Db } from '../../src/db';
import { ensureTenant } from '../../src/db/apiKeys';
import { insertRequest, listAttempts } from '../../src/db/requests';
import { CatalogSchema } from '../../src/domain/catalog';
import type { CallModelInput, RouteRequestInput } from '../../src/domain/request';
import { senderOf } from '../../src/domain/stream';
import { AdapterRegistry } from '../../src/providers/registry';
import { MemoryRelay } from '../../src/services/streamRelay';
import { SA_TENANT } from '../../src/temporal/searchAttributes';
import { routeRequest } from '../../workflows';
import { fixedConfig } from '../support/config';
import { ONE_ATTEMPT_RETRIES } from '../support/continuation';
import { uniqueId } from '../support/db';
import type { FakeProvider } from '../support/fakeProvider';
import { recordHistory } from '../support/histories';
import { startWorkflowTestEnv, type WorkflowTestEnv } from '../support/workflowEnv';

const TASK_QUEUE = 'route-takeover-test';
const PROMPT = 'Count to ten.';
const SENT = ['one', ' two', ' three'];

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let db: Db;
let oa: FakeProvider;
let an: FakeProvider;
let worker: Worker;
let running: Promise<void>;
let relay: MemoryRelay;
// The dead worker's call: it hangs until the test ends (its result would be ignored anyway).
const dead = new AbortController();
const firstCalls: CallModelInput[] = [];

let setup: WorkflowTestEnv;

beforeAll(async () => {
  setup = await startWorkflowTestEnv();
  ({ env, bundle, db, openai: oa, anthropic: an } = setup);
  const catalog = CatalogSchema.parse({
    providers: [
      { id: 'oa', wireFormat: 'openai', baseUrl: oa.url },
      { id: 'an', wireFormat: 'anthropic', baseUrl: an.url },
    ],
    models: ['oa/primary', 'an/backup'].map((id, i) => ({
      id,
      provider: id.split('/')[0],
      model: id.split('/')[1],
      inputPricePerMTok: 0.1,
      outputPricePerMTok: 0.4,
      contextWindow: 16_000,
      maxOutputTokens: 2_000,
      capabilities: i === 0 ? ['chat'] : ['chat', 'continuation'],
      qualityTier: 4 - i,
    })),
  });
  relay = new MemoryRelay();
  const activities = createActivities({
    db,
    config: fixedConfig({
      catalog,
      routing: { defaultStrategy: 'quality' },
      // One attempt each: the dead worker's call was its candidate's last.
      retry: ONE_ATTEMPT_RETRIES,
    }),
    adapters: new AdapterRegistry({ oa: 'k-oa-0123456789', an: 'k-an-0123456789' }, 20_000),
    relay,
  });
  worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: TASK_QUEUE,
    workflowBundle: bundle,
    activities: {
      ...activities,
      async callModel(input: CallModelInput) {
        if (input.modelId !== 'oa/primary') return activities.callModel(input);
        // The first candidate's call streams three pieces, then its worker dies: no heartbeat, no end.
        firstCalls.push(input);
        const out = new StreamOut(
          relay,
          input.requestId,
          'primary',
          senderOf(input.candidateIndex, Context.current().info.attempt),
        );
        for (const content of SENT) out.delta({ content });
        await out.flush();
        await new Promise((resolve) => dead.signal.addEventListener('abort', resolve));
        throw new Error('the worker is gone');
      },
    },
  });
  running = worker.run();
}, 60_000);

afterAll(async () => {
  dead.abort();
  worker?.shutdown();
  await running;
  await setup?.close();
  await relay?.close();
});

it('a worker dies on the last attempt mid-stream: the next capable candidate finds the stream and continues it', async () => {
  an.script('backup', { kind: 'ok', content: ' four five six seven eight nine ten' });
  const requestId = uniqueId('r');
  const tenantId = uniqueId('tenant');
  await ensureTenant(db, tenantId);
  await insertRequest(db, {
    requestId,
    workflowId: `req-${requestId}`,
    tenantId,
    operation: 'chat',
    requestedModel: 'oa/primary',
    body: { model: 'oa/primary', messages: [{ role: 'user', content: PROMPT }], stream: true },
    bodyHash: 'h',
  });
  const input: RouteRequestInput = {
    requestId,
    tenantId,
    operation: 'chat',
    requestedModel: 'oa/primary',
    needsJson: false,
    stream: true,
    deadlineAt: Date.now() + 90_000,
    context: { tenantId, compliance: [], excludeProviders: [], metadata: {} },
  };
  const handle = await env.client.workflow.start(routeRequest, {
    taskQueue: TASK_QUEUE,
    workflowId: `req-${requestId}`,
    args: [input],
    typedSearchAttributes: [{ key: SA_TENANT, value: tenantId }],
  });
  const result = await handle.result();

  // The dead call ran once: its last attempt.
  expect(firstCalls).toHaveLength(1);
  expect(result.status).toBe('succeeded');
  expect(result.modelId).toBe('an/backup');
  expect(result.candidates.map((c) => [c.modelId, c.outcome, c.errorType, c.action])).toEqual([
    ['oa/primary', 'error', 'Timeout', expect.any(String)],
    ['an/backup', 'error', 'StreamInterrupted', 'found the stream an earlier call began: continue it here'],
    ['an/backup', 'success', undefined, 'continued after 3 pieces on an/backup'],
  ]);
  expect(result.notes).toContain('continued after 3 pieces on an/backup');
  // The backup got the answer so far as the assistant's last message, once.
  const calls = an.callsFor('backup');
  expect(calls).toHaveLength(1);
  expect((calls[0]!.body.messages as unknown[]).at(-1)).toEqual({ role: 'assistant', content: 'one two three' });
  // The client's stream: the three pieces, the hand-over, the continuation and one end.
  const events = await relay.read(requestId);
  const text = events.map((e) => (e.type === 'delta' ? (e.content ?? '') : '')).join('');
  expect(text).toBe('one two three four five six seven eight nine ten');
  expect(events.filter((e) => e.type === 'end')).toHaveLength(1);
  expect(events.some((e) => e.type === 'error')).toBe(false);
  expect(events.find((e) => e.type === 'continued')).toMatchObject({ chunks: 3 });
  expect((await listAttempts(db, requestId)).some((a) => a.outcome === 'success')).toBe(true);

  // The path is in history (the take-over marker), and no prompt or answer text: ids and counts only.
  const bytes = Buffer.from(temporal.api.history.v1.History.encode(await handle.fetchHistory()).finish());
  expect(bytes.includes('stream-continuation-takeover')).toBe(true);
  for (const t of ['one two', 'four five', 'Count to ten']) expect(bytes.includes(t)).toBe(false);
  await recordHistory('route-stream-takeover', handle);
}, 90_000);
