/**
 * Chaos: the Switchyard process (worker and API, as `npm start` runs them) is killed with SIGKILL
 * while 50 requests have their provider calls in flight, then restarted; the clients, whose
 * connections died, retry with the same Idempotency-Key. Afterwards every request is answered
 * once, every call the provider saw is in some request's attempt list (the killed ones as
 * `abandoned`), no request is left in a wrong state, and no budget reservation is left open (the
 * killed calls' reservations are spent at their worst case: the provider may have charged).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureBinary, TEMPORAL_CLI } from '../../src/temporal/binaries';
import { SEARCH_ATTRIBUTES } from '../../src/temporal/searchAttributes';
import { isolatedDatabaseUrl } from '../support/db';
import { startFakeProvider, type FakeProvider } from '../support/fakeProvider';
import { freePort, killStack, startStack, stopStack, type Stack } from '../support/process';

const KEY = 'sk-sy-chaos-test-key-0123456789';
const N = 50;
const MODEL = 'gpt-4o-mini';

let env: TestWorkflowEnvironment;
let fake: FakeProvider;
let dataDir: string;
let stack: Stack | undefined;

beforeAll(async () => {
  fake = await startFakeProvider('openai');
  // Temporal runs outside the process we kill, as a cluster would.
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_CLI) },
      searchAttributes: SEARCH_ATTRIBUTES,
    },
  });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-chaos-'));
});

afterAll(async () => {
  if (stack && stack.proc.exitCode === null) await stopStack(stack);
  await env?.teardown();
  await fake?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function until(check: () => boolean, ms = 60_000): Promise<void> {
  for (const end = Date.now() + ms; !check();) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('kill -9 with 50 calls in flight: every request answered once, every provider call accounted for', async () => {
  const port = await freePort();
  const configFile = path.join(dataDir, 'switchyard.yaml');
  fs.writeFileSync(configFile, 'tenants:\n  default:\n    budget:\n      dailyUsd: 100\n');
  const stackEnv = {
    SWITCHYARD_CONFIG: configFile,
    PORT: String(port),
    TEMPORAL_ADDRESS: env.address,
    SWITCHYARD_DATA_DIR: dataDir,
    SWITCHYARD_BOOTSTRAP_KEY: KEY,
    SWITCHYARD_SIMULATED_PROVIDER: 'off',
    OPENAI_API_KEY: 'sk-fake',
    OPENAI_BASE_URL: fake.url,
    ANTHROPIC_API_KEY: '',
    LOG_LEVEL: 'warn',
    ...(process.env.DATABASE_URL && { DATABASE_URL: await isolatedDatabaseUrl() }),
  };
  // First attempts are held at the provider until after the kill; retries answer in 500 ms.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  fake.setDefault(MODEL, { kind: 'ok', content: 'held', waitFor: held });

  stack = await startStack(stackEnv);
  const base = `http://127.0.0.1:${port}/v1`;
  const headers = (i: number) => ({
    authorization: `Bearer ${KEY}`,
    'content-type': 'application/json',
    'idempotency-key': `chaos-${i}`,
  });
  const send = (i: number) =>
    fetch(`${base}/chat/completions`, {
      method: 'POST',
      headers: headers(i),
      body: JSON.stringify({ model: `openai/${MODEL}`, messages: [{ role: 'user', content: `request ${i}` }] }),
    });
  const first = Array.from({ length: N }, (_, i) =>
    send(i).then(
      (r) => r.status,
      () => 'connection lost',
    ),
  );
  await until(() => fake.callsFor(MODEL).length === N);
  fake.setDefault(MODEL, { kind: 'ok', content: 'after the crash', delayMs: 500 });
  await killStack(stack);
  release();
  expect(await Promise.all(first)).toEqual(Array(N).fill('connection lost'));

  stack = await startStack(stackEnv);
  const retries = await Promise.all(Array.from({ length: N }, (_, i) => send(i)));
  expect(retries.map((r) => r.status)).toEqual(Array(N).fill(200));
  const bodies = (await Promise.all(retries.map((r) => r.json()))) as Array<{
    choices: Array<{ message: { content: string } }>;
    switchyard: { request_id: string };
  }>;
  expect(new Set(bodies.map((b) => b.choices[0]!.message.content))).toEqual(new Set(['after the crash']));

  // The record of each request, as the API keeps it.
  const records = (await Promise.all(
    bodies.map(async (b) =>
      (await fetch(`${base}/requests/${b.switchyard.request_id}`, { headers: headers(0) })).json(),
    ),
  )) as Array<{ status: string; attempts: Array<{ attempt: number; outcome: string }> }>;
  expect(new Set(records.map((r) => r.status))).toEqual(new Set(['succeeded']));
  for (const r of records) {
    expect(r.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'abandoned'],
      [2, 'success'],
    ]);
  }
  // Every call the provider saw is an attempt of some request, and nothing more.
  const attempts = records.reduce((n, r) => n + r.attempts.length, 0);
  expect(attempts).toBe(fake.callsFor(MODEL).length);
  expect(attempts).toBe(2 * N);

  // The budget: nothing left reserved; spent covers every answer plus the killed calls' worst cases.
  const budget = (await (await fetch(`${base}/budgets`, { headers: headers(0) })).json()) as {
    windows: Array<{ window: string; spent_usd: number; reserved_usd: number }>;
  };
  const daily = budget.windows.find((w) => w.window === 'daily')!;
  expect(daily.reserved_usd).toBe(0);
  const answered = records.reduce((sum, r) => sum + (r as unknown as { cost_usd: number }).cost_usd, 0);
  expect(daily.spent_usd).toBeGreaterThan(answered);

  // The breaker counted the killed calls (reported after each commit, so wait for them), and
  // they did not open it.
  const breaker = async () => {
    const providers = (await (await fetch(`${base}/providers`, { headers: headers(0) })).json()) as {
      data: Array<{ id: string; breaker: { status: string; abandonedCalls?: number } }>;
    };
    return providers.data.find((p) => p.id === `openai/${MODEL}`)!.breaker;
  };
  let seen = await breaker();
  for (const end = Date.now() + 30_000; seen.abandonedCalls !== N && Date.now() < end; seen = await breaker())
    await new Promise((r) => setTimeout(r, 200));
  expect(seen).toMatchObject({ status: 'closed', abandonedCalls: N });
});
