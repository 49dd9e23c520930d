/**
 * routeRequest against a real Temporal dev server (the provisioned CLI binary), real activities,
 * a real database, and fake providers of both wire formats reached through the official SDKs.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure, type ApplicationFailure } from '@temporalio/common';
import type { Db } from '../../src/db';
import { ensureTenant, generateApiKey, upsertApiKey } from '../../src/db/apiKeys';
import { tenantWindows } from '../../src/db/budgetLedger';
import { getRequest, listAttempts } from '../../src/db/requests';
import type { RouteFailureDetails, RouteRequestInput } from '../../src/domain/request';
import { fixedConfig } from '../support/config';
import { SA_FALLBACKS, SA_MODEL, SA_PROVIDER, SA_STATUS, SA_TENANT } from '../../src/temporal/searchAttributes';
import { recordHistory } from '../support/histories';
import type { RunningWorkers } from '../../src/start/worker';
import { uniqueId } from '../support/db';
import type { FakeProvider } from '../support/fakeProvider';
import {
  alphaBetaCatalog,
  startAlphaBetaWorkers,
  QUICK_RETRIES,
  startChatRoute,
  startWorkflowTestEnv,
  type WorkflowTestEnv,
} from '../support/workflowEnv';
import { until } from '../support/rawUpload';

const TASK_QUEUE = 'route-test';

let db: Db;
let alpha: FakeProvider; // OpenAI wire format
let beta: FakeProvider; // Anthropic wire format
let workers: RunningWorkers;
let tenant: string;
// A tenant with a daily budget: its calls hold reservations.
const budgeted = uniqueId('budgeted');

let setup: WorkflowTestEnv;

beforeAll(async () => {
  setup = await startWorkflowTestEnv();
  ({ db, openai: alpha, anthropic: beta } = setup);
  workers = await startAlphaBetaWorkers(
    setup,
    TASK_QUEUE,
    fixedConfig({
      catalog: alphaBetaCatalog(alpha, beta),
      // These histories are the regular path's (calls as activities): the fast path's are fastPath.test.ts's.
      routing: { fastPath: { enabled: false } },
      tenants: { [budgeted]: { budget: { dailyUsd: 10 } } },
      retry: QUICK_RETRIES,
    }),
  );
  tenant = uniqueId('tenant');
  await upsertApiKey(db, tenant, generateApiKey(), 'test');
  await ensureTenant(db, budgeted);
});

afterAll(async () => {
  await workers?.shutdown();
  await setup?.close();
});

beforeEach(() => {
  alpha.reset();
  beta.reset();
});

function run(
  requestedModel: string,
  content = 'Hello',
  tenantId = tenant,
  extra: Partial<RouteRequestInput['context']> = {},
) {
  return startChatRoute(setup, TASK_QUEUE, { requestedModel, content, tenantId, context: extra });
}

it('routes to the requested model and records the request, attempts and search attributes', async () => {
  const { requestId, handle } = await run('alpha/a-small');
  const result = await handle.result();
  await recordHistory('route-plain', handle);
  expect(result).toMatchObject({ status: 'succeeded', provider: 'alpha', modelId: 'alpha/a-small' });
  expect(result.costUsd).toBeGreaterThan(0);
  expect(alpha.callsFor('a-small')).toHaveLength(1);
  expect(alpha.calls[0]!.headers.authorization).toBe('Bearer k-alpha');

  const row = await getRequest(db, requestId);
  expect(row).toMatchObject({ status: 'succeeded', provider: 'alpha', model: 'alpha/a-small' });
  expect(row!.response).toMatchObject({ content: 'fake answer from a-small' });
  expect(await listAttempts(db, requestId)).toEqual([
    expect.objectContaining({ attempt: 1, outcome: 'success', provider: 'alpha' }),
  ]);

  const sa = (await handle.describe()).typedSearchAttributes;
  expect(sa.get(SA_TENANT)).toBe(tenant);
  expect(sa.get(SA_PROVIDER)).toBe('alpha');
  expect(sa.get(SA_MODEL)).toBe('alpha/a-small');
  expect(sa.get(SA_STATUS)).toBe('succeeded');
});

it('retries a 5xx per the candidate policy, then falls back to the other provider (Anthropic format)', async () => {
  alpha.setDefault('a-small', { kind: 'error', status: 503, message: 'The engine is currently overloaded' });
  const { requestId, handle } = await run('alpha/a-small');
  const result = await handle.result();
  await recordHistory('route-fallback', handle);
  expect(result).toMatchObject({ provider: 'beta', modelId: 'beta/b-large' });
  expect(result.candidates.map((c) => [c.modelId, c.outcome, c.errorType])).toEqual([
    ['alpha/a-small', 'error', 'Overloaded'],
    ['beta/b-large', 'success', undefined],
  ]);
  expect(alpha.callsFor('a-small')).toHaveLength(3);
  expect(beta.callsFor('b-large')).toHaveLength(1);
  // @anthropic-ai/sdk 1.x sends the key as a bearer token (older versions used x-api-key).
  expect(`${beta.calls[0]!.headers.authorization ?? ''} ${beta.calls[0]!.headers['x-api-key'] ?? ''}`).toContain(
    'k-beta',
  );

  expect((await listAttempts(db, requestId)).map((a) => [a.outcome, a.errorType, a.status])).toEqual([
    ['error', 'Overloaded', 503],
    ['error', 'Overloaded', 503],
    ['error', 'Overloaded', 503],
    ['success', undefined, undefined],
  ]);
  expect((await handle.describe()).typedSearchAttributes.get(SA_FALLBACKS)).toBe(1);
});

it('stops at once on an invalid request: no retry, no second provider', async () => {
  alpha.script('a-small', {
    kind: 'error',
    status: 400,
    message: "Invalid value: 'wizard'. Supported values are: 'system', 'user'.",
    code: 'invalid_value',
  });
  const { requestId, handle } = await run('alpha/a-small');
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe('InvalidRequest');
  expect((cause.details![0] as RouteFailureDetails).httpStatus).toBe(400);
  expect(alpha.callsFor('a-small')).toHaveLength(1);
  expect(beta.calls).toHaveLength(0);
  expect(await getRequest(db, requestId)).toMatchObject({ status: 'failed' });
  expect((await handle.describe()).typedSearchAttributes.get(SA_STATUS)).toBe('failed');
});

it('no substitution (from its input): the named model fails, the request ends naming it, the other is never called', async () => {
  alpha.setDefault('a-small', { kind: 'error', status: 401, message: 'Incorrect API key provided' });
  const { requestId, handle } = await run('alpha/a-small', 'Hello', tenant, { substitution: 'none' });
  const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
  await recordHistory('route-strict', handle);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = err.cause as ApplicationFailure;
  expect(cause.type).toBe('ModelUnavailable');
  expect(cause.message).toMatch(/^The model alpha\/a-small failed: AuthFailed/);
  const details = cause.details![0] as RouteFailureDetails;
  expect(details.httpStatus).toBe(503);
  expect(details.candidates.map((c) => [c.modelId, c.errorType])).toEqual([['alpha/a-small', 'AuthFailed']]);
  expect(alpha.callsFor('a-small')).toHaveLength(1);
  expect(beta.calls).toHaveLength(0);
  const row = await getRequest(db, requestId);
  expect(row).toMatchObject({ status: 'failed', error: { type: 'ModelUnavailable' } });
  expect(row!.decision).toMatchObject({ substitution: { mode: 'none', source: 'request', modelId: 'alpha/a-small' } });
});

it('fails with every attempt listed when all candidates fail', async () => {
  alpha.setDefault('a-small', { kind: 'error', status: 500 });
  beta.setDefault('b-large', { kind: 'error', status: 529, message: 'Overloaded' });
  const { handle } = await run('auto');
  const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
  await recordHistory('route-all-failed', handle);
  const details = (err.cause as ApplicationFailure).details![0] as RouteFailureDetails;
  expect(details.errorType).toBe('AllCandidatesFailed');
  expect(details.httpStatus).toBe(503);
  expect(details.candidates.map((c) => c.errorType)).toEqual(['Overloaded', 'Overloaded']);
});

it('a cancel records the request as failed (Cancelled), settles its reservation and ends the execution cancelled', async () => {
  alpha.script('a-small', { kind: 'hang' });
  const { requestId, handle } = await run('alpha/a-small', 'Hello', budgeted);
  const reserved = async () =>
    (await tenantWindows(db, budgeted, Date.now())).reduce((sum, w) => sum + w.reservedUsd, 0);
  await until(30_000, 'the call reaches the provider', () => alpha.callsFor('a-small').length === 1);
  expect(await reserved()).toBeGreaterThan(0);

  await handle.cancel();
  const err = await handle.result().catch((e: unknown) => e);
  await recordHistory('route-cancelled', handle);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  expect((await handle.describe()).status.name).toBe('CANCELLED');

  // Recorded before the execution ended: the row is final, the in-flight attempt no longer started.
  const row = await getRequest(db, requestId);
  expect(row).toMatchObject({
    status: 'failed',
    error: { type: 'Cancelled', message: 'cancelled by the client', candidates: [] },
  });
  expect(row!.completed_at).toBeInstanceOf(Date);
  const attempts = await listAttempts(db, requestId);
  expect(attempts).toHaveLength(1);
  expect(attempts[0]!.outcome).not.toBe('started');
  expect(await reserved()).toBe(0);
  expect(beta.calls).toHaveLength(0);
});
