/**
 * Chaos on the fast path (issue 24): provider calls as local activities, inside their workflow's
 * task, in the split layout (`npm run worker` and `npm run api` as separate processes sharing
 * PostgreSQL and a Temporal server), 50 requests in flight at the provider each time:
 *  - the worker is killed with SIGKILL and restarted: a local activity cannot heartbeat, so the dead
 *    worker is seen by its workflow task's timeout (10 s, set at start); another worker replays the
 *    workflow and calls again, the killed call's attempt left `started`, then `abandoned`;
 *  - the same, with calls that answer after 15 s: longer than the workflow task's timeout, which the
 *    SDK keeps alive by heartbeating the task, so each call is made once (no third attempt).
 * After each: every client answered once, with the second call's answer; attempts = calls the
 * provider saw; nothing left reserved; every request `succeeded`; its decision says `local`.
 *
 * Two processes need one database server: PGlite serves one process. CI sets DATABASE_URL, and
 * there this always runs; elsewhere without DATABASE_URL it is reported as not run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CHAOS_KEY, chaosClient, totalAttempts, totalCost, until, type ChatBody } from '../support/chaos';
import { dbKinds, isolatedDatabaseUrl } from '../support/db';
import { startOutside, type Outside } from '../support/outside';
import { freePort, useProcesses } from '../support/process';

const N = 50;
const shared = dbKinds().includes('postgres');
if (!shared)
  console.warn('chaos/fastPath.test.ts not run: the split layout needs DATABASE_URL (PGlite serves one process).');

let outside: Outside;

/**
 * A daily budget (reservations are made and checked), and a per-attempt call timeout of 25 s: under
 * the fast path's 30 s, so plain calls take it, and above the slow provider's 15 s.
 */
function fastPathConfig(dir: string): string {
  const file = path.join(dir, 'switchyard.yaml');
  fs.writeFileSync(
    file,
    [
      'tenants:',
      '  default:',
      '    budget:',
      '      dailyUsd: 100',
      'retry:',
      '  default:',
      '    timeoutMs: 25000',
      'routing:',
      '  fastPath:',
      '    enabled: true',
      '    maxCallMs: 30000',
      '',
    ].join('\n'),
  );
  return file;
}

(shared ? describe : describe.skip)('the fast path under a killed worker (split processes on PostgreSQL)', () => {
  const procs = useProcesses({ scope: 'test' });

  beforeAll(async () => {
    outside = await startOutside('sy-chaos-fast-');
  });

  afterAll(async () => {
    await outside?.close();
  });

  async function deploy(model: string) {
    const apiPort = await freePort();
    const procEnv = {
      SWITCHYARD_CONFIG: fastPathConfig(outside.dataDir),
      PORT: String(apiPort),
      ...outside.processEnv(),
      SWITCHYARD_BOOTSTRAP_KEY: CHAOS_KEY,
      DATABASE_URL: await isolatedDatabaseUrl(),
    };
    const start = (role: 'worker' | 'api') => procs.start(procEnv, role);
    return { start, client: chaosClient(apiPort, model), apiPort };
  }

  /** The paths the request's decision gave its candidates, as GET /v1/requests/{id} shows it. */
  async function decisionPaths(apiPort: number, requestId: string): Promise<unknown[]> {
    const res = await fetch(`http://127.0.0.1:${apiPort}/v1/requests/${requestId}`, {
      headers: { authorization: `Bearer ${CHAOS_KEY}` },
    });
    const body = (await res.json()) as { decision: { candidates: Array<{ path?: string }> } };
    return body.decision.candidates.map((c) => c.path);
  }

  async function killWithCallsInFlight(model: string, after: { delayMs: number; content: string }) {
    const { start, client, apiPort } = await deploy(model);
    const worker = await start('worker');
    await start('api');
    // First calls are held at the provider until after the kill.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    outside.fake.setDefault(model, { kind: 'ok', content: 'held', waitFor: held });

    const responses = Array.from({ length: N }, (_, i) => client.send(i, model));
    await until(() => outside.fake.callsFor(model).length === N);
    outside.fake.setDefault(model, { kind: 'ok', content: after.content, delayMs: after.delayMs });
    await procs.kill(worker);
    release();
    await start('worker');

    // The API process lived: each client's one request is answered, once, by the second call.
    const answered = await Promise.all(responses);
    expect(answered.map((r) => r.status)).toEqual(Array(N).fill(200));
    const bodies = (await Promise.all(answered.map((r) => r.json()))) as ChatBody[];
    expect(new Set(bodies.map((b) => b.choices[0]!.message.content))).toEqual(new Set([after.content]));
    expect(new Set(bodies.map((b) => b.switchyard.request_id)).size).toBe(N);

    const records = await client.records(bodies);
    expect(new Set(records.map((r) => r.status))).toEqual(new Set(['succeeded']));
    for (const r of records)
      expect(r.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
        [1, 'abandoned'],
        [2, 'success'],
      ]);
    // Every call the provider saw is an attempt on record, and nothing more.
    expect(totalAttempts(records)).toBe(outside.fake.callsFor(model).length);
    expect(totalAttempts(records)).toBe(2 * N);
    const daily = await client.dailyBudget();
    expect(daily.reserved_usd).toBe(0);
    expect(daily.spent_usd).toBeGreaterThan(totalCost(records)); // the killed calls at their worst case
    const paths = await decisionPaths(apiPort, bodies[0]!.switchyard.request_id);
    expect(paths.length).toBeGreaterThan(0);
    expect(new Set(paths)).toEqual(new Set(['local']));
  }

  it('kill -9 the worker with 50 fast-path calls in flight: each client answered once, every call on record', async () => {
    await killWithCallsInFlight('gpt-4o-mini', { delayMs: 500, content: 'after the crash' });
  });

  it('the same with calls that outlive the workflow task timeout (15 s): each made once, none redone', async () => {
    await killWithCallsInFlight('gpt-4o', { delayMs: 15_000, content: 'after 15 s' });
  });
});
