/**
 * The budgetWindow entity under the time-skipping test server, with its real activities on a
 * real database: windows close exactly at their UTC boundaries (midnight; the month boundary
 * after a 30-day, a 31-day and a February month), unsettled reservations expire, and each
 * window's alert fires once (stored and posted to the webhook once). None of it waits in real time.
 */
import { recordHistory } from '../support/histories';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Db } from '../../src/db';
import { reserve, settle } from '../../src/db/budgetLedger';
import { applicableWindows, tenantScope, userScope, windowEnd } from '../../src/domain/budget';
import { CatalogSchema } from '../../src/domain/catalog';
import { AdapterRegistry } from '../../src/providers/registry';
import { UrlPolicy } from '../../src/services/urlPolicy';
import { ensureBinary, TEMPORAL_TEST_SERVER } from '../../src/temporal/binaries';
import { buildWorkflowBundle, installRuntime, startWorkers, type RunningWorkers } from '../../src/start/worker';
import { budgetWindow, refreshSignal, usageQuery } from '../../workflows/budgetWindow';
import { fixedConfig } from '../support/config';
import { openTestDb, uniqueId } from '../support/db';

const TQ = 'budget-ts-test';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let env: TestWorkflowEnvironment;
let db: Db;
let workers: RunningWorkers;
let webhook: http.Server;
const posted: Array<Record<string, unknown>> = [];

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
const ROLL = uniqueId('roll');
const EXPIRE = uniqueId('expire');
const ALERT = uniqueId('alert');

beforeAll(async () => {
  installRuntime('ERROR');
  webhook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      posted.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/alerts`;
  let bundle;
  [bundle, db] = await Promise.all([buildWorkflowBundle(), openTestDb()]);
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_TEST_SERVER) } },
  });
  const config = fixedConfig({
    catalog,
    tenants: {
      [ROLL]: { budget: { dailyUsd: 1, monthlyUsd: 20, users: { alice: { dailyUsd: 0.5 } } } },
      [EXPIRE]: { budget: { dailyUsd: 1 } },
      [ALERT]: { budget: { dailyUsd: 1, alertThreshold: 0.5, webhookUrl: hook } },
    },
  });
  workers = await startWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: TQ,
    workflowBundle: bundle,
    // The alert's webhook listens on 127.0.0.1, which a worker calls only when allowlisted.
    deps: { db, config, adapters: new AdapterRegistry({}, 5000), urlPolicy: new UrlPolicy(['127.0.0.1']) },
  });
});

afterAll(async () => {
  await workers?.shutdown();
  await env?.teardown();
  await db?.close();
  webhook?.close();
});

const start = (tenantId: string, opts: { sweepIntervalMs: number; maxTicks?: number }) =>
  env.client.workflow.start(budgetWindow, {
    taskQueue: TQ,
    workflowId: `budget-window:${tenantId}`,
    args: [{ tenantId, ...opts }],
  });
const now = () => env.currentTimeMs();
/** Sleeps (skipped time) until just after `at`. */
async function sleepUntil(at: number, after = 1_000) {
  await env.sleep(Math.max(1, at + after - (await now())));
}
async function closedRows(tenantId: string, period: string) {
  const res = await db.query<{ scope: string; window_start: Date; window_end: Date; closed_at: Date }>(
    `select scope, window_start, window_end, closed_at from budget_windows where tenant_id = $1 and period = $2 and closed_at is not null order by window_start, scope`,
    [tenantId, period],
  );
  return res.rows.map((r) => ({
    scope: r.scope,
    start: new Date(r.window_start).toISOString(),
    end: new Date(r.window_end).toISOString(),
    closedAt: new Date(r.closed_at).getTime(),
  }));
}

it('closes the daily window at midnight UTC and the monthly one at the month boundary (30 → 1, 31 → 1, February), across continue-as-new', async () => {
  const h = await start(ROLL, { sweepIntervalMs: 8 * HOUR, maxTicks: 40 });
  const t0 = await now();
  const midnight = windowEnd('daily', t0);
  // Just before midnight nothing has closed and today's windows are open, the user's too.
  await sleepUntil(midnight, -1_000);
  expect(await closedRows(ROLL, 'daily')).toEqual([]);
  const before = await h.query(usageQuery);
  expect(before.windows.map((w) => `${w.scope} ${w.period}`).sort()).toEqual(
    [`${tenantScope(ROLL)} daily`, `${tenantScope(ROLL)} monthly`, `${userScope(ROLL, 'alice')} daily`].sort(),
  );

  await sleepUntil(midnight, 2_000);
  const daily = await closedRows(ROLL, 'daily');
  expect(daily.map((w) => w.end)).toEqual([new Date(midnight).toISOString(), new Date(midnight).toISOString()]);
  // Closed on the boundary's own timer, not at some later sweep.
  for (const w of daily) expect(w.closedAt - midnight).toBeGreaterThanOrEqual(0);
  for (const w of daily) expect(w.closedAt - midnight).toBeLessThan(5_000);
  const after = await h.query(usageQuery);
  expect(
    after.windows.filter((w) => w.period === 'daily').every((w) => w.windowStart === new Date(midnight).toISOString()),
  ).toBe(true);

  // On to 1 March: the month boundaries after a 30-day month (the start month when it has 30 days),
  // December (31 → 1 January) and February (28 → 1 March).
  const first = new Date(t0);
  const march = Date.UTC(first.getUTCFullYear() + (first.getUTCMonth() >= 2 ? 1 : 0), 2, 1);
  await sleepUntil(march, 60_000);
  const monthly = await closedRows(ROLL, 'monthly');
  const ends = monthly.map((w) => w.end);
  const year = new Date(march).getUTCFullYear();
  expect(ends[0]).toBe(new Date(windowEnd('monthly', t0)).toISOString()); // the first boundary after the start
  expect(ends).toContain(new Date(Date.UTC(year, 0, 1)).toISOString()); // December: 31 → 1
  expect(ends).toContain(new Date(Date.UTC(year, 2, 1)).toISOString()); // February: 28 → 1
  const feb = monthly.find((w) => w.end === new Date(Date.UTC(year, 2, 1)).toISOString())!;
  expect(feb.start).toBe(new Date(Date.UTC(year, 1, 1)).toISOString());
  for (const w of monthly) {
    expect(w.closedAt - Date.parse(w.end)).toBeGreaterThanOrEqual(0);
    expect(w.closedAt - Date.parse(w.end)).toBeLessThan(5_000);
  }
  // Each monthly window ends where the next begins: no gap, no overlap.
  for (let i = 1; i < monthly.length; i++) expect(monthly[i]!.start).toBe(monthly[i - 1]!.end);
  // Every day in between was closed once, for the tenant and for the user.
  const days = Math.round((march - midnight) / DAY) + 1;
  expect(await closedRows(ROLL, 'daily')).toHaveLength(2 * days);

  const usage = await h.query(usageQuery);
  expect(usage.active).toBe(true);
  expect(usage.windows.find((w) => w.period === 'monthly')!.windowStart).toBe(
    new Date(Date.UTC(year, 2, 1)).toISOString(),
  );
  // More ticks than maxTicks happened: it continued as new and kept running.
  const desc = await h.describe();
  expect(desc.runId).not.toBe(h.firstExecutionRunId);
  await h.terminate('test done');
  await recordHistory('budget-rollover', h);
});

it('expires a reservation nobody settled, on time, and releases what it held', async () => {
  const at = await now();
  const windows = applicableWindows([{ scope: tenantScope(EXPIRE), limits: { dailyUsd: 1 } }], at);
  // A call that reserved and then crashed: no settle will ever come.
  expect(
    (
      await reserve(db, {
        id: `${EXPIRE}:crashed`,
        tenantId: EXPIRE,
        amountUsd: 0.4,
        windows,
        ttlMs: 10 * 60_000,
        now: at,
      })
    ).ok,
  ).toBe(true);
  const h = await start(EXPIRE, { sweepIntervalMs: 6 * HOUR });
  await env.sleep(5 * 60_000);
  let usage = await h.query(usageQuery);
  expect(usage.windows[0]).toMatchObject({ reservedUsd: 0.4, remainingUsd: 0.6 });
  expect(usage.expired).toBe(0);

  await env.sleep(6 * 60_000); // past the 10-minute TTL, long before the 6-hour sweep
  usage = await h.query(usageQuery);
  expect(usage.expired).toBe(1);
  expect(usage.windows[0]).toMatchObject({ reservedUsd: 0, spentUsd: 0, remainingUsd: 1 });
  const row = await db.query<{ status: string }>('select status from budget_reservations where id = $1', [
    `${EXPIRE}:crashed`,
  ]);
  expect(row.rows[0]!.status).toBe('expired');
  await h.terminate('test done');
});

it('raises the alert once per window when spend crosses the threshold, stored and posted once', async () => {
  const h = await start(ALERT, { sweepIntervalMs: HOUR });
  const spend = async (id: string, usd: number) => {
    const at = await now();
    const windows = applicableWindows([{ scope: tenantScope(ALERT), limits: { dailyUsd: 1 } }], at);
    expect((await reserve(db, { id, tenantId: ALERT, amountUsd: usd, windows, ttlMs: 60_000, now: at })).ok).toBe(true);
    await settle(db, id, usd);
  };
  await spend(`${ALERT}:a`, 0.3);
  await h.signal(refreshSignal);
  await env.sleep(1_000);
  expect((await h.query(usageQuery)).alerts).toEqual([]);

  await spend(`${ALERT}:b`, 0.3); // 0.6 ≥ 0.5 × $1
  await h.signal(refreshSignal);
  await env.sleep(1_000);
  let usage = await h.query(usageQuery);
  expect(usage.alerts).toHaveLength(1);
  expect(usage.alerts[0]).toMatchObject({
    scope: tenantScope(ALERT),
    period: 'daily',
    threshold: 0.5,
    limitUsd: 1,
    spentUsd: 0.6,
  });

  // More spend, more signals, more sweeps: still one alert for this window.
  await spend(`${ALERT}:c`, 0.2);
  for (let i = 0; i < 3; i++) await h.signal(refreshSignal);
  await env.sleep(3 * HOUR);
  usage = await h.query(usageQuery);
  expect(usage.alerts).toHaveLength(1);
  const stored = await db.query<{ n: number; delivered: number }>(
    `select count(*)::int as n, count(delivered_at)::int as delivered from budget_alerts where tenant_id = $1`,
    [ALERT],
  );
  expect(stored.rows[0]).toEqual({ n: 1, delivered: 1 });
  const mine = () => posted.filter((p) => p.tenantId === ALERT);
  expect(mine()).toHaveLength(1);
  expect(mine()[0]).toMatchObject({
    type: 'budget.threshold_crossed',
    scope: tenantScope(ALERT),
    period: 'daily',
    spentUsd: 0.6,
  });

  // The next day's window is a new window: its own alert, once.
  await sleepUntil(windowEnd('daily', await now()), 1_000);
  await spend(`${ALERT}:d`, 0.7);
  await h.signal(refreshSignal);
  await env.sleep(1_000);
  usage = await h.query(usageQuery);
  expect(usage.alerts).toHaveLength(2);
  expect(usage.alerts[1]!.windowStart).not.toBe(usage.alerts[0]!.windowStart);
  expect(mine()).toHaveLength(2);
  await h.terminate('test done');
});
