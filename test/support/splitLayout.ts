/**
 * The split layout of the chaos tests: the worker and the API as separate processes (`npm run
 * worker`, `npm run api`) against one PostgreSQL database. `startSplitLayout` is the streaming
 * tests' (test/chaos/streamSplit.test.ts and streamContinuation.test.ts): the pieces relayed through
 * Redis, a tenant budget of $100 a day, two attempts 50 ms apart, and breakers that never open (one
 * test's faults must not open a breaker for the next). `deploySplit` (`useSplitDeploys`) is the
 * kill tests' (splitProcesses.test.ts, fastPath.test.ts): processes started and killed one by one.
 *
 * Two processes need one database server: PGlite serves one process. CI sets DATABASE_URL, and
 * there these always run (a CI run without it fails in dbKinds); elsewhere they are reported as
 * not run.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  accountedFor,
  CHAOS_KEY,
  chaosClient,
  holdCalls,
  totalAttempts,
  totalCost,
  until,
  type ChatBody,
} from './chaos';
import { dbKinds, isolatedDatabaseUrl } from './db';
import { startOutside, type Outside } from './outside';
import { freePort, useProcesses, type ProcessFixture, type Stack } from './process';
import { finishedRecord, testRedisUrl } from './stack';

/** Whether the split layout can run here (a PostgreSQL server); if not, says so for `file`. */
export function splitLayoutRuns(file: string): boolean {
  const shared = dbKinds().includes('postgres');
  if (!shared) console.warn(`${file} not run: the split layout needs DATABASE_URL (PGlite serves one process).`);
  return shared;
}

/** The default tenant's daily budget of $100 (reservations are made and checked), as YAML lines. */
export const DAILY_BUDGET_YAML = ['tenants:', '  default:', '    budget:', '      dailyUsd: 100'];

/** Writes these YAML lines as the processes' configuration file in `dir`; returns its path. */
export function writeSplitConfig(dir: string, lines: string[]): string {
  const file = path.join(dir, 'switchyard.yaml');
  fs.writeFileSync(file, [...lines, ''].join('\n'));
  return file;
}

/**
 * One worker and one API process with the same environment (as a deployment gives them), the
 * configuration file given, and their own database; `start` starts one of them (again after a
 * kill), `client` sends chat requests for `model` to the API.
 */
export async function deploySplit(procs: ProcessFixture, outside: Outside, configFile: string, model: string) {
  const apiPort = await freePort();
  const procEnv = {
    SWITCHYARD_CONFIG: configFile,
    PORT: String(apiPort),
    ...outside.processEnv(),
    SWITCHYARD_BOOTSTRAP_KEY: CHAOS_KEY,
    DATABASE_URL: await isolatedDatabaseUrl(),
  };
  const start = (role: 'worker' | 'api') => procs.start(procEnv, role);
  return { start, client: chaosClient(apiPort, model), apiPort, fake: outside.fake };
}

/**
 * The kill tests' fixture, called in their describe: one `Outside` for the file (its data folder
 * named with `dirPrefix`), and processes that stop with each test (the next one's must not poll the
 * same task queues). `deploy` is `deploySplit` with the configuration file `config` writes there.
 */
export function useSplitDeploys(dirPrefix: string, config: (dataDir: string) => string) {
  const procs = useProcesses({ scope: 'test' });
  let outside: Outside | undefined;
  beforeAll(async () => {
    outside = await startOutside(dirPrefix);
  });
  afterAll(async () => {
    await outside?.close();
  });
  const deploy = (model: string) => {
    if (!outside) throw new Error('useSplitDeploys: deploy before its beforeAll ran');
    return deploySplit(procs, outside, config(outside.dataDir), model);
  };
  return { procs, deploy };
}

/**
 * Kill -9 the worker with `n` calls of `model` in flight: deployed, the calls held at the provider
 * until the worker is killed, then released and a worker started again, whose calls answer as `after`
 * says. The API process lived: each client's one request is answered, once, by the second call; each
 * request's attempts are `abandoned` then `success`, every call the provider saw is an attempt on
 * record and nothing more, nothing is left reserved, and the killed calls are spent at their worst
 * case. Returns the API's port and the answers' bodies for more checks.
 */
export async function killWorkerMidCalls(
  deploy: ReturnType<typeof useSplitDeploys>['deploy'],
  procs: ProcessFixture,
  n: number,
  model: string,
  after: { delayMs: number; content: string },
): Promise<{ apiPort: number; bodies: ChatBody[] }> {
  const { start, client, apiPort, fake } = await deploy(model);
  const worker = await start('worker');
  await start('api');
  // First calls are held at the provider until after the kill.
  const release = holdCalls(fake, model);

  const responses = Array.from({ length: n }, (_, i) => client.send(i, model));
  await until(() => fake.callsFor(model).length === n);
  fake.setDefault(model, { kind: 'ok', content: after.content, delayMs: after.delayMs });
  await procs.kill(worker);
  release();
  await start('worker');

  const answered = await Promise.all(responses);
  expect(answered.map((r) => r.status)).toEqual(Array(n).fill(200));
  const bodies = (await Promise.all(answered.map((r) => r.json()))) as ChatBody[];
  expect(new Set(bodies.map((b) => b.choices[0]!.message.content))).toEqual(new Set([after.content]));
  expect(new Set(bodies.map((b) => b.switchyard.request_id)).size).toBe(n);

  const { records, daily } = await accountedFor(client, bodies, fake, model);
  for (const r of records)
    expect(r.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'abandoned'],
      [2, 'success'],
    ]);
  expect(totalAttempts(records)).toBe(2 * n);
  expect(daily.spent_usd).toBeGreaterThan(totalCost(records));
  return { apiPort, bodies };
}

export interface SplitLayout {
  /** The API's `/v1` URL. */
  base: string;
  /** The processes' environment (to start another worker with). */
  procEnv: NodeJS.ProcessEnv;
  worker: Stack;
}

/** Writes the configuration, starts the worker, then the API. */
export async function startSplitLayout(
  procs: ProcessFixture,
  outside: Outside,
  opts: {
    /** Top-level sections besides tenants, retry and breakers (catalog, routing, fallback…), as YAML lines. */
    config?: string[];
    /** Lines under `retry:` after its default (`  models:` …). */
    retry?: string[];
    /** A stream's first-token and idle limits. */
    streamLimitMs: number;
    /** More of the processes' environment. */
    env?: NodeJS.ProcessEnv;
  },
): Promise<SplitLayout> {
  const config = writeSplitConfig(outside.dataDir, [
    ...(opts.config ?? []),
    ...DAILY_BUDGET_YAML,
    'retry:',
    '  default:',
    '    maximumAttempts: 2',
    '    initialIntervalMs: 50',
    '    backoffCoefficient: 1',
    ...(opts.retry ?? []),
    'breakers:',
    '  failureThreshold: 1000',
    '  minCalls: 1000',
  ]);
  const apiPort = await freePort();
  const procEnv = {
    ...outside.processEnv(),
    ...opts.env,
    SWITCHYARD_CONFIG: config,
    PORT: String(apiPort),
    SWITCHYARD_BOOTSTRAP_KEY: CHAOS_KEY,
    DATABASE_URL: await isolatedDatabaseUrl(),
    REDIS_URL: testRedisUrl(),
    SWITCHYARD_STREAM_FIRST_TOKEN_MS: String(opts.streamLimitMs),
    SWITCHYARD_STREAM_IDLE_MS: String(opts.streamLimitMs),
  };
  const worker = await procs.start(procEnv, 'worker');
  await procs.start(procEnv, 'api');
  return { base: `http://127.0.0.1:${apiPort}/v1`, procEnv, worker };
}

/** A request's record as these tests read it. */
export interface SplitRecord {
  status: string;
  cost_usd: number;
  error?: { type: string; message: string };
  attempts: Array<{
    provider: string;
    model: string;
    outcome: string;
    errorType?: string;
    errorMessage?: string;
    costUsd?: number;
  }>;
}

/** GET of the API (`base()`: its `/v1` URL once started) with the chaos key, and a request's finished record. */
export function splitApi(base: () => string) {
  const get = async (p: string) =>
    (await (await fetch(`${base()}${p}`, { headers: { authorization: `Bearer ${CHAOS_KEY}` } })).json()) as any;
  const record = (id: string) => finishedRecord<SplitRecord>({ baseURL: base(), apiKey: CHAOS_KEY }, id);
  return { get, record };
}
