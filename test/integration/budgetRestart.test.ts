/**
 * Budgets survive a crash exactly: the Switchyard process (workers and API) is SIGKILLed while
 * requests hold reservations and calls are in flight, then started again; clients retry with their
 * Idempotency-Keys. Afterwards nothing is left reserved: the killed calls' reservations were spent
 * at their worst case when their requests completed (the provider may have answered and charged),
 * and the window's spent equals the settled ledger: the responses' costs plus those worst cases.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openDb } from '../../src/db';
import { expireStale } from '../../src/db/budgetLedger';
import { tenantScope } from '../../src/domain/budget';
import { isolatedDatabaseUrl } from '../support/db';
import { startOutside, type Outside } from '../support/outside';
import { freePort, stopStack, useProcesses } from '../support/process';

const KEY = 'sk-sy-budget-restart-key-0123456789';
const N = 12;

let outside: Outside;
// A failed test's process is killed, not stopped: it may be the one left mid-crash.
const procs = useProcesses({ leftover: 'kill' });

beforeAll(async () => {
  outside = await startOutside('sy-budget-restart-');
});

afterAll(async () => {
  await outside?.close();
});

it('killing workers and API mid-flight keeps spent and reserved exact; the orphaned reservations expire', async () => {
  const port = await freePort();
  const configFile = path.join(outside.dataDir, 'switchyard.yaml');
  fs.writeFileSync(configFile, 'tenants:\n  default:\n    budget:\n      dailyUsd: 5\n      monthlyUsd: 50\n');
  const databaseUrl = process.env.DATABASE_URL ? await isolatedDatabaseUrl() : undefined;
  const stackEnv = {
    PORT: String(port),
    TEMPORAL_ADDRESS: outside.env.address,
    SWITCHYARD_DATA_DIR: outside.dataDir,
    SWITCHYARD_CONFIG: configFile,
    SWITCHYARD_BOOTSTRAP_KEY: KEY,
    SWITCHYARD_SIMULATED_PROVIDER: 'off',
    SWITCHYARD_PROVIDER_TIMEOUT_MS: '20000',
    OPENAI_API_KEY: 'sk-fake',
    OPENAI_BASE_URL: outside.fake.url,
    ANTHROPIC_API_KEY: '',
    LOG_LEVEL: 'warn',
    ...(databaseUrl && { DATABASE_URL: databaseUrl }),
  };
  outside.fake.setDefault('gpt-4o-mini', { kind: 'ok', content: 'a durable answer', delayMs: 3_000 });

  let stack = await procs.start(stackEnv);
  const send = (i: number) =>
    fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEY}`,
        'content-type': 'application/json',
        'idempotency-key': `budget-restart-${i}`,
      },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: `Question number ${i}?` }],
        max_tokens: 300,
      }),
    });
  const firstTries = Array.from({ length: N }, (_, i) =>
    send(i).then(
      () => 'answered',
      () => 'connection lost',
    ),
  );

  // Calls in flight, each holding its reservation: crash.
  for (let i = 0; i < 400 && outside.fake.callsFor('gpt-4o-mini').length < N / 2; i++)
    await new Promise((r) => setTimeout(r, 25));
  const inFlight = outside.fake.callsFor('gpt-4o-mini').length;
  expect(inFlight).toBeGreaterThan(0);
  await procs.kill(stack);
  expect(new Set(await Promise.all(firstTries))).toEqual(new Set(['connection lost']));

  stack = await procs.start(stackEnv);
  outside.fake.setDefault('gpt-4o-mini', { kind: 'ok', content: 'a durable answer', delayMs: 200 });
  const retries = await Promise.all(Array.from({ length: N }, (_, i) => send(i)));
  const bodies = (await Promise.all(retries.map((r) => r.json()))) as Array<{
    switchyard: { request_id: string; cost_usd: number };
  }>;
  expect(retries.map((r) => r.status)).toEqual(Array(N).fill(200));
  const responsesCost = bodies.reduce((s, b) => s + b.switchyard.cost_usd, 0);
  expect(await stopStack(stack)).toBe(0);

  const db = await openDb(databaseUrl ? { databaseUrl } : { pgliteDir: path.join(outside.dataDir, 'pglite') });
  try {
    const windowsNow = async () =>
      (
        await db.query<{ period: string; spent: string; reserved: string }>(
          `select period, spent_usd::text as spent, reserved_usd::text as reserved from budget_windows where scope = $1 order by period`,
          [tenantScope('default')],
        )
      ).rows;
    const ledger = await db.query<{ settled: string | null; open_n: number }>(
      `select sum(actual_usd) filter (where status = 'settled')::text as settled,
              count(*) filter (where status = 'reserved')::int as open_n
       from budget_reservations where tenant_id = 'default'`,
    );
    const { settled, open_n } = ledger.rows[0]!;
    // The reservations of the calls the crash cut off (first attempts, candidate 0; at most one per
    // request), settled at what they held.
    const abandoned = (
      await db.query<{ id: string; amount: string; actual: string; status: string }>(
        `select r.id, r.amount_usd::text as amount, r.actual_usd::text as actual, r.status from budget_reservations r
         join request_attempts a on r.id = a.request_id || ':' || a.candidate_index || ':' || a.attempt
         where a.outcome = 'abandoned'`,
      )
    ).rows;
    expect(abandoned.length).toBeGreaterThan(0);
    expect(abandoned.length).toBeLessThanOrEqual(N);
    for (const r of abandoned) {
      expect(r.id).toMatch(/:0:1$/);
      expect(r).toMatchObject({ status: 'settled', actual: r.amount });
    }
    expect(open_n).toBe(0);
    for (const w of await windowsNow()) {
      expect(w.spent).toBe(Number(settled).toFixed(10)); // exact decimals, not floats
      expect(Number(w.reserved)).toBe(0);
    }
    const worstCases = abandoned.reduce((sum, r) => sum + Number(r.amount), 0);
    expect(Number(settled)).toBeCloseTo(responsesCost + worstCases, 9);
    // Nothing is left for expiry to release.
    expect(await expireStale(db, Date.now() + 3_600_000, 'default')).toBe(0);
  } finally {
    await db.close();
  }
}, 180_000);
