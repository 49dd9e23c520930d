/**
 * Chaos, split layout (`npm run worker` and `npm run api` as separate processes sharing PostgreSQL
 * and a Temporal server), 50 requests in flight at the provider each time:
 *  - the worker is killed with SIGKILL and restarted: the API's clients keep waiting and get their
 *    answers; the killed calls are retried by Temporal and recorded as `abandoned`;
 *  - the API is killed with SIGKILL while clients wait, and restarted: the workflows finish on the
 *    worker regardless, and the clients' retries with the same Idempotency-Key get those answers
 *    without a second provider call.
 * After each: every request answered once, attempts = calls the provider saw, no reservation
 * left open, every request row `succeeded`.
 *
 * Two processes need one database server: PGlite serves one process. CI sets DATABASE_URL, and
 * there this always runs (a CI run without it fails in dbKinds); elsewhere without DATABASE_URL it
 * is reported as not run.
 */
import {
  accountedFor,
  budgetConfig,
  holdCalls,
  totalAttempts,
  totalCost,
  until,
  type ChatBody,
} from '../support/chaos';
import { killWorkerMidCalls, splitLayoutRuns, useSplitDeploys } from '../support/splitLayout';

const N = 50;
const shared = splitLayoutRuns('splitProcesses.test.ts');

(shared ? describe : describe.skip)('split processes on PostgreSQL', () => {
  const { procs, deploy } = useSplitDeploys('sy-chaos-split-', budgetConfig);

  it('kill -9 the worker with 50 calls in flight: clients get their answers, every call accounted for', async () => {
    // The API's clients keep waiting: their first requests are answered (after the heartbeat timeout).
    await killWorkerMidCalls(deploy, procs, N, 'gpt-4o-mini', { delayMs: 500, content: 'after the crash' });
  });

  it('kill -9 the API while 50 clients wait: their retries get the answers, no call is made twice', async () => {
    const model = 'gpt-4o';
    const { start, client, fake } = await deploy(model);
    await start('worker');
    const api = await start('api');
    const release = holdCalls(fake, model);

    const first = Array.from({ length: N }, (_, i) =>
      client.send(i, model).then(
        (r) => r.status,
        () => 'connection lost',
      ),
    );
    await until(() => fake.callsFor(model).length === N);
    await procs.kill(api);
    expect(await Promise.all(first)).toEqual(Array(N).fill('connection lost'));
    release(); // the worker's calls finish while no API runs
    await start('api');

    const retries = await Promise.all(Array.from({ length: N }, (_, i) => client.send(i, model)));
    expect(retries.map((r) => r.status)).toEqual(Array(N).fill(200));
    const bodies = (await Promise.all(retries.map((r) => r.json()))) as ChatBody[];
    expect(new Set(bodies.map((b) => b.choices[0]!.message.content))).toEqual(new Set(['held']));
    expect(new Set(bodies.map((b) => b.switchyard.request_id)).size).toBe(N);

    const { records, daily } = await accountedFor(client, bodies, fake, model);
    for (const r of records) expect(r.attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, 'success']]);
    expect(totalAttempts(records)).toBe(N);
    expect(daily.spent_usd).toBeCloseTo(totalCost(records), 8);
  });
});
