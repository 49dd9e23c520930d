/**
 * Chaos, all in one: the Switchyard process (worker and API, as `npm start` runs them) is killed
 * with SIGKILL while 50 requests have their provider calls in flight, then restarted; the clients,
 * whose connections died, retry with the same Idempotency-Key. Afterwards every request is answered
 * once, every call the provider saw is in some request's attempt list (the killed ones as
 * `abandoned`), no request is left in a wrong state, and no budget reservation is left open (the
 * killed calls' reservations are spent at their worst case: the provider may have charged).
 * The split layout (a worker killed alone, an API killed alone) is in splitProcesses.test.ts.
 */
import { budgetConfig, CHAOS_KEY, chaosClient, totalAttempts, totalCost, until, type ChatBody } from '../support/chaos';
import { isolatedDatabaseUrl } from '../support/db';
import { startOutside, type Outside } from '../support/outside';
import { freePort, killStack, useProcesses, type Stack } from '../support/process';

const N = 50;
const MODEL = 'gpt-4o-mini';

const procs = useProcesses();
let outside: Outside;
let stack: Stack | undefined;

beforeAll(async () => {
  outside = await startOutside('sy-chaos-');
});

afterAll(async () => {
  await outside?.close();
});

it('kill -9 with 50 calls in flight: every request answered once, every provider call accounted for', async () => {
  const port = await freePort();
  const stackEnv = {
    SWITCHYARD_CONFIG: budgetConfig(outside.dataDir),
    PORT: String(port),
    ...outside.processEnv(),
    SWITCHYARD_BOOTSTRAP_KEY: CHAOS_KEY,
    ...(process.env.DATABASE_URL && { DATABASE_URL: await isolatedDatabaseUrl() }),
  };
  // First attempts are held at the provider until after the kill; retries answer in 500 ms.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  outside.fake.setDefault(MODEL, { kind: 'ok', content: 'held', waitFor: held });

  stack = await procs.start(stackEnv);
  const client = chaosClient(port, 'chaos');
  const first = Array.from({ length: N }, (_, i) =>
    client.send(i, MODEL).then(
      (r) => r.status,
      () => 'connection lost',
    ),
  );
  await until(() => outside.fake.callsFor(MODEL).length === N);
  outside.fake.setDefault(MODEL, { kind: 'ok', content: 'after the crash', delayMs: 500 });
  await killStack(stack);
  release();
  expect(await Promise.all(first)).toEqual(Array(N).fill('connection lost'));

  stack = await procs.start(stackEnv);
  const retries = await Promise.all(Array.from({ length: N }, (_, i) => client.send(i, MODEL)));
  expect(retries.map((r) => r.status)).toEqual(Array(N).fill(200));
  const bodies = (await Promise.all(retries.map((r) => r.json()))) as ChatBody[];
  expect(new Set(bodies.map((b) => b.choices[0]!.message.content))).toEqual(new Set(['after the crash']));

  const records = await client.records(bodies);
  expect(new Set(records.map((r) => r.status))).toEqual(new Set(['succeeded']));
  for (const r of records) {
    expect(r.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'abandoned'],
      [2, 'success'],
    ]);
  }
  // Every call the provider saw is an attempt of some request, and nothing more.
  expect(totalAttempts(records)).toBe(outside.fake.callsFor(MODEL).length);
  expect(totalAttempts(records)).toBe(2 * N);

  // The budget: nothing left reserved; spent covers every answer plus the killed calls' worst cases.
  const daily = await client.dailyBudget();
  expect(daily.reserved_usd).toBe(0);
  expect(daily.spent_usd).toBeGreaterThan(totalCost(records));

  // The breaker counted the killed calls (reported after each commit, so wait for them), and
  // they did not open it.
  await until(async () => (await client.breaker(MODEL)).abandonedCalls === N, 30_000);
  expect(await client.breaker(MODEL)).toMatchObject({ status: 'closed', abandonedCalls: N });
});
