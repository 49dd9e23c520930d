/**
 * The fast path (issue 24): a short, non-streamed call runs as a local activity inside the
 * workflow task. Against a real Temporal dev server, real activities, a real database and fake
 * providers: what the regular path guarantees holds (the attempt on record before the call, the
 * budget reserved and settled, retries and fallback, the deadline), the decision and the result
 * say which path each call took, and history holds a marker where it held three activity events.
 * The regular path's histories are routeRequest.test.ts's; this one records `route-fast-path`.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Db } from '../../src/db';
import { ensureTenant } from '../../src/db/apiKeys';
import { tenantWindows } from '../../src/db/budgetLedger';
import { getRequest, listAttempts } from '../../src/db/requests';
import type { RouteFailureDetails, RoutedCandidate } from '../../src/domain/request';
import { validateConfig, type VersionedConfig } from '../../src/services/configStore';
import type { RunningWorkers } from '../../src/start/worker';
import type { routeRequest } from '../../workflows';
import { recordHistory } from '../support/histories';
import { uniqueId } from '../support/db';
import type { FakeProvider } from '../support/fakeProvider';
import { until } from '../support/rawUpload';
import {
  alphaBetaCatalog,
  startAlphaBetaWorkers,
  QUICK_RETRIES,
  startChatRoute,
  startWorkflowTestEnv,
  type WorkflowTestEnv,
} from '../support/workflowEnv';

const TASK_QUEUE = 'fast-path-test';
const EventType = temporal.api.enums.v1.EventType;

let db: Db;
let alpha: FakeProvider; // OpenAI wire format
let beta: FakeProvider; // Anthropic wire format
let workers: RunningWorkers;
const tenant = uniqueId('tenant');
const budgeted = uniqueId('budgeted');
// The deployment's configuration, switched by the tests: the fast path on (the default) or off.
let fastPath = true;
let configs: { on: VersionedConfig; off: VersionedConfig };

function configWith(fast: boolean): VersionedConfig {
  const config = validateConfig({
    catalog: alphaBetaCatalog(alpha, beta),
    ...(!fast && { routing: { fastPath: { enabled: false } } }),
    tenants: { [budgeted]: { budget: { dailyUsd: 10 } } },
    retry: QUICK_RETRIES,
  });
  return { version: fast ? 1 : 2, config, source: 'test' };
}

let setup: WorkflowTestEnv;

beforeAll(async () => {
  setup = await startWorkflowTestEnv();
  ({ db, openai: alpha, anthropic: beta } = setup);
  configs = { on: configWith(true), off: configWith(false) };
  workers = await startAlphaBetaWorkers(setup, TASK_QUEUE, () => (fastPath ? configs.on : configs.off));
  await ensureTenant(db, tenant);
  await ensureTenant(db, budgeted);
});

afterAll(async () => {
  await workers?.shutdown();
  await setup?.close();
});

beforeEach(() => {
  alpha.reset();
  beta.reset();
  fastPath = true;
});

function run(requestedModel: string, opts: { tenantId?: string; deadlineMs?: number } = {}) {
  return startChatRoute(setup, TASK_QUEUE, {
    requestedModel,
    tenantId: opts.tenantId ?? tenant,
    content: 'a secret prompt',
    deadlineMs: opts.deadlineMs,
    workflowTaskTimeout: '10 seconds',
  });
}

type Handle = WorkflowHandle<typeof routeRequest>;

async function historyOf(handle: Handle) {
  const events = (await handle.fetchHistory()).events ?? [];
  const count = (t: temporal.api.enums.v1.EventType) => events.filter((e) => e.eventType === t).length;
  const scheduled = events
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
    .filter((n): n is string => !!n);
  const markers = events.map((e) => e.markerRecordedEventAttributes?.markerName).filter((n): n is string => !!n);
  return {
    events: events.length,
    workflowTasks: count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    scheduled,
    markers,
    json: JSON.stringify(events),
  };
}

const pathsOf = (decision: unknown) =>
  ((decision as { candidates: RoutedCandidate[] }).candidates ?? []).map((c) => [c.modelId, c.path]);

it('a plain request: its call is a local activity, on record, and history has a marker instead of an activity', async () => {
  const { requestId, handle } = await run('alpha/a-small');
  const result = await handle.result();
  await recordHistory('route-fast-path', handle);
  expect(result).toMatchObject({ status: 'succeeded', provider: 'alpha', modelId: 'alpha/a-small' });
  expect(result.candidates).toEqual([
    expect.objectContaining({ modelId: 'alpha/a-small', outcome: 'success', path: 'local' }),
  ]);
  expect(alpha.callsFor('a-small')).toHaveLength(1);
  const row = await getRequest(db, requestId);
  expect(row).toMatchObject({ status: 'succeeded', provider: 'alpha' });
  expect(row!.response).toMatchObject({ content: 'fake answer from a-small' });
  expect(pathsOf(row!.decision)[0]).toEqual(['alpha/a-small', 'local']);
  expect(await listAttempts(db, requestId)).toEqual([expect.objectContaining({ attempt: 1, outcome: 'success' })]);

  const h = await historyOf(handle);
  expect(h.scheduled).toEqual([]); // no ActivityTaskScheduled: decideRoute and callModel are both markers
  expect(h.markers.filter((m) => m === 'core_local_activity')).toHaveLength(2);
  expect(h.markers).toContain('core_patch');
  // Nothing of the prompt or the answer in history.
  expect(h.json).not.toContain('a secret prompt');
  expect(h.json).not.toContain('fake answer from a-small');
  console.log(`fast path: ${h.events} history events, ${h.workflowTasks} workflow tasks`);

  // Turned off for the deployment: the same request's call is a regular activity again.
  fastPath = false;
  const off = await run('alpha/a-small');
  const offResult = await off.handle.result();
  expect(offResult.candidates[0]).toMatchObject({ outcome: 'success', path: 'activity' });
  expect(pathsOf((await getRequest(db, off.requestId))!.decision)[0]).toEqual(['alpha/a-small', 'activity']);
  const regular = await historyOf(off.handle);
  expect(regular.scheduled).toEqual(['callModel']);
  expect(regular.markers).not.toContain('core_patch');
  console.log(`regular path: ${regular.events} history events, ${regular.workflowTasks} workflow tasks`);
  expect(h.events).toBeLessThan(regular.events);
  expect(h.workflowTasks).toBeLessThan(regular.workflowTasks);
});

it('retries a 5xx per the candidate policy as local attempts, then falls back to the other provider', async () => {
  alpha.setDefault('a-small', { kind: 'error', status: 503, message: 'The engine is currently overloaded' });
  const { requestId, handle } = await run('alpha/a-small');
  const result = await handle.result();
  expect(result).toMatchObject({ provider: 'beta', modelId: 'beta/b-large' });
  expect(result.candidates.map((c) => [c.modelId, c.outcome, c.errorType, c.path])).toEqual([
    ['alpha/a-small', 'error', 'Overloaded', 'local'],
    ['beta/b-large', 'success', undefined, 'local'],
  ]);
  expect(alpha.callsFor('a-small')).toHaveLength(3);
  expect(beta.callsFor('b-large')).toHaveLength(1);
  expect((await listAttempts(db, requestId)).map((a) => [a.candidateIndex, a.attempt, a.outcome, a.status])).toEqual([
    [0, 1, 'error', 503],
    [0, 2, 'error', 503],
    [0, 3, 'error', 503],
    [1, 1, 'success', undefined],
  ]);
  expect((await historyOf(handle)).scheduled).toEqual([]);
});

it('stops at once on an invalid request: no retry, no second provider', async () => {
  alpha.script('a-small', { kind: 'error', status: 400, message: "Invalid value: 'wizard'.", code: 'invalid_value' });
  const { handle } = await run('alpha/a-small');
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe('InvalidRequest');
  expect((cause.details![0] as RouteFailureDetails).candidates[0]).toMatchObject({ path: 'local' });
  expect(alpha.callsFor('a-small')).toHaveLength(1);
  expect(beta.calls).toHaveLength(0);
});

it('the deadline cancels a hanging local call: a 504, the attempt settled, its reservation closed', async () => {
  alpha.script('a-small', { kind: 'hang' });
  const { requestId, handle } = await run('alpha/a-small', { tenantId: budgeted, deadlineMs: 3_000 });
  const reserved = async () =>
    (await tenantWindows(db, budgeted, Date.now())).reduce((sum, w) => sum + w.reservedUsd, 0);
  await until(30_000, 'the call reaches the provider', () => alpha.callsFor('a-small').length === 1);
  const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = err.cause as ApplicationFailure;
  expect(cause.type).toBe('DeadlineExceeded');
  expect((cause.details![0] as RouteFailureDetails).httpStatus).toBe(504);
  expect(beta.calls).toHaveLength(0);
  expect(await getRequest(db, requestId)).toMatchObject({ status: 'failed' });
  // The cancelled call ends its attempt (an error, or abandoned by the outcome) and its reservation.
  await until(10_000, 'the attempt is no longer started', async () =>
    (await listAttempts(db, requestId)).every((a) => a.outcome !== 'started'),
  );
  await until(10_000, 'nothing is reserved', async () => (await reserved()) === 0);
  expect(await listAttempts(db, requestId)).toHaveLength(1);
});

it('a budgeted request on the fast path reserves before the call and settles after it', async () => {
  const before = await tenantWindows(db, budgeted, Date.now());
  const spentBefore = before.reduce((s, w) => s + w.spentUsd, 0);
  const { handle } = await run('alpha/a-small', { tenantId: budgeted });
  const result = await handle.result();
  expect(result.candidates[0]).toMatchObject({ path: 'local', outcome: 'success' });
  const after = await tenantWindows(db, budgeted, Date.now());
  expect(after.reduce((s, w) => s + w.reservedUsd, 0)).toBe(0);
  expect(after.reduce((s, w) => s + w.spentUsd, 0)).toBeGreaterThan(spentBefore);
});

it('a deadline shorter than a slow call ends the request with a 504, not a provider failure', async () => {
  alpha.setDefault('a-small', { kind: 'ok', delayMs: 5_000 });
  const { requestId, handle } = await run('alpha/a-small', { deadlineMs: 300 });
  const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const details = (err.cause as ApplicationFailure).details![0] as RouteFailureDetails;
  expect([details.errorType, details.httpStatus, details.candidates]).toEqual(['DeadlineExceeded', 504, []]);
  expect(beta.calls).toHaveLength(0);
  await until(10_000, 'the cancelled attempt is recorded', async () =>
    (await listAttempts(db, requestId)).every((a) => a.outcome !== 'started'),
  );
});

it('a cancel reaches a running fast-path call: the request recorded as Cancelled, its reservation settled', async () => {
  alpha.script('a-small', { kind: 'hang' });
  const { requestId, handle } = await run('alpha/a-small', { tenantId: budgeted });
  const reserved = async () =>
    (await tenantWindows(db, budgeted, Date.now())).reduce((sum, w) => sum + w.reservedUsd, 0);
  await until(30_000, 'the call reaches the provider', () => alpha.callsFor('a-small').length === 1);
  expect(await reserved()).toBeGreaterThan(0);

  const cancelledAt = Date.now();
  await handle.cancel();
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((await handle.describe()).status.name).toBe('CANCELLED');
  // The cancel waits for the workflow task the call holds open: at most its heartbeat (8 s of 10).
  expect(Date.now() - cancelledAt).toBeLessThan(10_000);
  expect(await getRequest(db, requestId)).toMatchObject({ status: 'failed', error: { type: 'Cancelled' } });
  await until(10_000, 'the attempt is no longer started', async () =>
    (await listAttempts(db, requestId)).every((a) => a.outcome !== 'started'),
  );
  await until(10_000, 'nothing is reserved', async () => (await reserved()) === 0);
  expect(beta.calls).toHaveLength(0);
});
