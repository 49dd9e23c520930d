/**
 * Time-skipping test (the provisioned temporal-test-server): a provider's `retry-after` becomes
 * Temporal's next retry delay, so a 429 with `retry-after: 30` waits 30 s of workflow time before
 * the next attempt — and this test does not wait for it in real time.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Db } from '../../src/db';
import { generateApiKey, upsertApiKey } from '../../src/db/apiKeys';
import { insertRequest, listAttempts } from '../../src/db/requests';
import { CatalogSchema } from '../../src/domain/catalog';
import { AdapterRegistry } from '../../src/providers/registry';
import { fixedConfig } from '../support/config';
import { ensureBinary, TEMPORAL_TEST_SERVER } from '../../src/temporal/binaries';
import { ensureSearchAttributes } from '../../src/temporal/connection';
import { buildWorkflowBundle, installRuntime, startWorkers, type RunningWorkers } from '../../src/start/worker';
import { routeRequest } from '../../workflows';
import { openTestDb, uniqueId } from '../support/db';
import { startFakeProvider, type FakeProvider } from '../support/fakeProvider';

let env: TestWorkflowEnvironment;
let db: Db;
let fake: FakeProvider;
let workers: RunningWorkers;

beforeAll(async () => {
  installRuntime('ERROR');
  let bundle;
  [bundle, fake, db] = await Promise.all([buildWorkflowBundle(), startFakeProvider('openai'), openTestDb()]);
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_TEST_SERVER) } },
  });
  await ensureSearchAttributes(env.connection, 'default');
  const cat = CatalogSchema.parse({
    providers: [{ id: 'alpha', wireFormat: 'openai', baseUrl: fake.url }],
    models: [
      {
        id: 'alpha/a',
        provider: 'alpha',
        model: 'a',
        inputPricePerMTok: 1,
        outputPricePerMTok: 1,
        contextWindow: 8000,
        maxOutputTokens: 1000,
        capabilities: ['chat'],
        qualityTier: 2,
      },
    ],
  });
  workers = await startWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: 'ts-test',
    workflowBundle: bundle,
    deps: {
      db,
      config: fixedConfig({
        catalog: cat,
        retry: {
          default: {
            maximumAttempts: 3,
            initialIntervalMs: 1000,
            backoffCoefficient: 2,
            maximumIntervalMs: 60_000,
            timeoutMs: 5000,
          },
        },
      }),
      adapters: new AdapterRegistry({}, 5000),
    },
  });
});

afterAll(async () => {
  await workers?.shutdown();
  await env?.teardown();
  await Promise.all([fake?.close(), db?.close()]);
});

it('waits the provider retry-after before the next attempt, in skipped time', async () => {
  fake.script('a', {
    kind: 'error',
    status: 429,
    message: 'Rate limit reached',
    code: 'rate_limit_exceeded',
    headers: { 'retry-after': '30' },
  });
  const tenant = uniqueId('t');
  await upsertApiKey(db, tenant, generateApiKey(), 'k');
  const requestId = uniqueId('r');
  await insertRequest(db, {
    requestId,
    workflowId: `req-${requestId}`,
    tenantId: tenant,
    operation: 'chat',
    requestedModel: 'alpha/a',
    body: { model: 'alpha/a', messages: [{ role: 'user', content: 'hi' }] },
    bodyHash: 'h',
  });

  const realStart = Date.now();
  const workflowStart = await env.currentTimeMs();
  const result = await env.client.workflow.execute(routeRequest, {
    taskQueue: 'ts-test',
    workflowId: `req-${requestId}`,
    args: [
      {
        requestId,
        tenantId: tenant,
        operation: 'chat',
        requestedModel: 'alpha/a',
        needsJson: false,
        deadlineAt: Date.now() + 3_600_000,
        context: { tenantId: tenant, compliance: [], excludeProviders: [], metadata: {} },
      },
    ],
  });
  const workflowElapsed = (await env.currentTimeMs()) - workflowStart;

  expect(result.provider).toBe('alpha');
  expect(fake.callsFor('a')).toHaveLength(2);
  expect(workflowElapsed).toBeGreaterThanOrEqual(30_000);
  // Real time stayed well under the 30 s the workflow waited: time was skipped, not slept.
  expect(Date.now() - realStart).toBeLessThan(30_000);
  const attempts = await listAttempts(db, requestId);
  expect(attempts.map((a) => [a.attempt, a.outcome, a.errorType])).toEqual([
    [1, 'error', 'RateLimited'],
    [2, 'success', undefined],
  ]);
});
