/**
 * Chaos, batch: `npm run worker` is killed with SIGKILL in the middle of a 200-document batch and
 * started again. The batch completes; every document has one summary and one succeeded request
 * (none summarized twice); the calls the provider saw equal the attempts in the ledger.
 *
 * Two processes need one database server (PGlite serves one process): CI sets DATABASE_URL and
 * there this always runs; elsewhere without it, it is reported as not run.
 */
import { openDb, type Db } from '../../src/db';
import { CHAOS_KEY, until } from '../support/chaos';
import { dbKinds, isolatedDatabaseUrl } from '../support/db';
import { startOutside, type Outside } from '../support/outside';
import { freePort, killStack, useProcesses } from '../support/process';

const N = 200;
const shared = dbKinds().includes('postgres');
if (!shared) console.warn('batchKill.test.ts not run: two processes need DATABASE_URL (PGlite serves one process).');

let outside: Outside;
let db: Db;

(shared ? describe : describe.skip)('a batch across a worker crash', () => {
  const procs = useProcesses();
  beforeAll(async () => {
    outside = await startOutside('sy-chaos-batch-');
  });

  afterAll(async () => {
    await db?.close();
    await outside?.close();
  });

  it('kill -9 the worker mid-batch: the batch completes, each document summarized once, every call accounted for', async () => {
    const databaseUrl = await isolatedDatabaseUrl();
    const apiPort = await freePort();
    const env = {
      PORT: String(apiPort),
      ...outside.processEnv(),
      SWITCHYARD_BOOTSTRAP_KEY: CHAOS_KEY,
      DATABASE_URL: databaseUrl,
    };
    const start = (role: 'worker' | 'api') => procs.start(env, role);
    outside.fake.setDefault('gpt-4o-mini', { kind: 'ok', simulate: true, delayMs: 150 });
    const worker = await start('worker');
    await start('api');
    db = await openDb({ databaseUrl });

    const api = `http://127.0.0.1:${apiPort}/v1/operations/summarize/batches`;
    const headers = { authorization: `Bearer ${CHAOS_KEY}` };
    const docs = Array.from({ length: N }, (_, i) =>
      JSON.stringify({ id: `doc-${i}`, text: `Document ${i} starts with a fact. It ends with another.` }),
    );
    const sub = await fetch(`${api}?model=openai/gpt-4o-mini&concurrency=16`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-ndjson' },
      body: docs.join('\n'),
    });
    expect(sub.status).toBe(201);
    const { id } = (await sub.json()) as { id: string };
    const status = async () =>
      (await (await fetch(`${api}/${id}`, { headers })).json()) as {
        status: string;
        counts: { done: number; failed: number };
      };

    await until(async () => (await status()).counts.done >= 40);
    await killStack(worker);
    const atKill = (await status()).counts.done;
    expect(atKill).toBeLessThan(N);
    await start('worker');

    await until(async () => (await status()).status === 'completed', 180_000);
    expect((await status()).counts).toMatchObject({ done: N, failed: 0 });

    const results = await db.query<{ n: number; distinct_items: number }>(
      'select count(*)::int as n, count(distinct item_id)::int as distinct_items from batch_results where batch_id = $1',
      [id],
    );
    expect(results.rows[0]).toEqual({ n: N, distinct_items: N });
    // One succeeded summary request per document: none was summarized twice.
    const succeeded = await db.query<{ seq: string; n: number }>(
      `select split_part(request_id, '-', 3) as seq, count(*)::int as n from requests
       where batch_id = $1 and status = 'succeeded' group by 1`,
      [id],
    );
    expect(succeeded.rows).toHaveLength(N);
    expect(succeeded.rows.every((r) => r.n === 1)).toBe(true);
    // The provider's calls and the ledger's attempts agree (killed ones recorded as abandoned).
    const attempts = await db.query<{ n: number; abandoned: number }>(
      `select count(*)::int as n, count(*) filter (where a.outcome = 'abandoned')::int as abandoned
       from request_attempts a join requests r on r.request_id = a.request_id where r.batch_id = $1`,
      [id],
    );
    // Every call has its attempt. An attempt without a call can only be one the kill cut short
    // between putting it on record and sending it: recorded as abandoned ("may have called").
    const calls = outside.fake.callsFor('gpt-4o-mini').length;
    expect(attempts.rows[0]!.n).toBeGreaterThanOrEqual(calls);
    expect(attempts.rows[0]!.n - calls).toBeLessThanOrEqual(attempts.rows[0]!.abandoned);
    expect(attempts.rows[0]!.n).toBeGreaterThanOrEqual(N);

    const lines = (await (await fetch(`${api}/${id}/results`, { headers })).text()).split('\n').filter(Boolean);
    expect(lines).toHaveLength(N);
  }, 300_000);
});
