/**
 * The alertMonitor entity under the time-skipping test server, with its real activities on a real
 * database and webhook receivers on 127.0.0.1: a breaker that opens raises one episode, posted
 * once however many evaluations follow, and resolved (posted once more) when it closes; a webhook
 * that keeps failing is retried with backoff, every attempt recorded, then given up on while the
 * monitor goes on; the monitor continues as new and keeps its episodes. No real waiting.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Db } from '../../src/db';
import { deliveriesOf, listAlertRows } from '../../src/db/alerts';
import { publishBreakerState } from '../../src/db/breakerStates';
import { CatalogSchema } from '../../src/domain/catalog';
import { AdapterRegistry } from '../../src/providers/registry';
import { UrlPolicy } from '../../src/services/urlPolicy';
import { ensureBinary, TEMPORAL_TEST_SERVER } from '../../src/temporal/binaries';
import { buildWorkflowBundle, installRuntime, startWorkers, type RunningWorkers } from '../../src/start/worker';
import { alertMonitor } from '../../workflows/alertMonitor';
import { fixedConfig } from '../support/config';
import { openTestDb } from '../support/db';
import { recordHistory } from '../support/histories';

const TQ = 'alert-monitor-ts-test';
let env: TestWorkflowEnvironment;
let db: Db;
let workers: RunningWorkers;
const servers: http.Server[] = [];
const good: Array<{ type: string; event_id: string }> = [];
let badCalls = 0;

const listen = async (handler: http.RequestListener) => {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`;
};

beforeAll(async () => {
  installRuntime('ERROR');
  const goodUrl = await listen((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      good.push(JSON.parse(body) as { type: string; event_id: string });
      res.writeHead(204).end();
    });
  });
  const badUrl = await listen((req, res) => {
    badCalls++;
    req.resume();
    res.writeHead(500).end();
  });
  let bundle;
  [bundle, db] = await Promise.all([buildWorkflowBundle(), openTestDb()]);
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_TEST_SERVER) } },
  });
  const catalog = CatalogSchema.parse({
    providers: [{ id: 'alpha', wireFormat: 'openai', baseUrl: 'http://127.0.0.1:9' }],
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
  const config = fixedConfig({
    catalog,
    alerts: { evaluateEverySeconds: 30, webhooks: [{ url: goodUrl }, { url: badUrl }] },
  });
  workers = await startWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: TQ,
    workflowBundle: bundle,
    deps: { db, config, adapters: new AdapterRegistry({}, 5000), urlPolicy: new UrlPolicy(['127.0.0.1']) },
  });
}, 120_000);

afterAll(async () => {
  await workers?.shutdown();
  await env?.teardown();
  await db?.close();
  for (const s of servers) s.close();
});

const snapshot = (status: 'open' | 'closed') => ({
  endpoint: 'alpha/a',
  status,
  tripCount: 1,
  consecutiveTrips: 1,
  errorRate: status === 'open' ? 1 : 0,
});

it('raises a breaker episode once, resolves it once, gives up on a failing webhook, across continue-as-new', async () => {
  await publishBreakerState(db, snapshot('open'), await env.currentTimeMs());
  const h = await env.client.workflow.start(alertMonitor, {
    taskQueue: TQ,
    workflowId: 'alert-monitor-test',
    args: [{ maxTicks: 5 }],
  });
  // Ten minutes of skipped time: ~20 evaluations, four continue-as-new, and the failing webhook's
  // seven attempts (2 s, 4 s, … backoff) have all run.
  await env.sleep(10 * 60_000);
  const [open] = await listAlertRows(db, { status: 'all', kinds: ['provider_down'], limit: 10 });
  expect(open).toMatchObject({ subject: 'alpha/a', resolved_at: null });
  expect(good.map((g) => g.event_id)).toEqual([`${open!.id}:opened`]);
  expect(badCalls).toBe(7);
  const deliveries = await deliveriesOf(db, [open!.id]);
  expect(
    deliveries.map((d) => ({ status: d.status, attempts: d.attempts })).sort((a, b) => a.attempts - b.attempts),
  ).toEqual([
    { status: 'delivered', attempts: 1 },
    { status: 'failed', attempts: 7 },
  ]);
  expect(deliveries.find((d) => d.status === 'failed')!.error).toMatch(/HTTP 500/);
  expect((await h.describe()).runId).not.toBe(h.firstExecutionRunId);

  await publishBreakerState(db, snapshot('closed'), (await env.currentTimeMs()) + 1);
  await env.sleep(60_000);
  const rows = await listAlertRows(db, { status: 'all', kinds: ['provider_down'], limit: 10 });
  expect(rows).toHaveLength(1);
  expect(rows[0]!.resolved_at).not.toBeNull();
  expect(good.map((g) => g.type)).toEqual(['alert.opened', 'alert.resolved']);
  await recordHistory('alert-monitor', env.client.workflow.getHandle('alert-monitor-test'));
}, 120_000);
