/**
 * A background response outlives its worker. Switchyard runs split, as in production (`npm run api`
 * and `npm run worker` as separate processes on one PostgreSQL and one Temporal server). The
 * official Python client creates a background response and polls it, as its users do. The worker is
 * killed with SIGKILL while the provider call hangs. Temporal retries the call on a new worker once
 * the dead one's heartbeat lapses, and the poll sees `completed` with the answer. The provider was
 * called twice (the lost call and the one that answered), by one workflow execution.
 *
 * Two processes need one database server: PGlite serves one process. CI sets DATABASE_URL, and
 * there this always runs; elsewhere without it, it is reported as not run.
 */
import { dbKinds, isolatedDatabaseUrl } from '../support/db';
import { until } from '../support/chaos';
import { startOutside, type Outside } from '../support/outside';
import { freePort, useProcesses } from '../support/process';
import { ensurePythonClient, startDriver, type PythonClient } from '../support/pythonClient';

const KEY = 'sk-sy-responses-bg-key-0123456789';
const shared = dbKinds().includes('postgres');
if (!shared)
  console.warn('responsesBackground.test.ts not run: the split layout needs DATABASE_URL (PGlite serves one process).');

(shared ? describe : describe.skip)('a background response on split processes', () => {
  let outside: Outside;
  let py: PythonClient;
  // A failed test's process is killed, not stopped: it may be the one left mid-crash.
  const procs = useProcesses({ leftover: 'kill' });

  beforeAll(async () => {
    [outside, py] = await Promise.all([startOutside('sy-responses-bg-'), ensurePythonClient()]);
  }, 300_000);

  afterAll(async () => {
    await outside?.close();
  });

  it('completes after its worker is killed mid-call: the Python poll sees the answer', async () => {
    const port = await freePort();
    const procEnv = {
      PORT: String(port),
      ...outside.processEnv(),
      SWITCHYARD_BOOTSTRAP_KEY: KEY,
      DATABASE_URL: await isolatedDatabaseUrl(),
    };
    const model = 'gpt-4o-mini';
    outside.fake.script(model, { kind: 'hang' });
    outside.fake.setDefault(model, { kind: 'ok', content: 'answer after the crash' });
    const worker = await procs.start(procEnv, 'worker');
    const api = await procs.start(procEnv, 'api');
    const baseURL = `http://127.0.0.1:${port}/v1`;

    const driver = startDriver(py, 'background-poll', { baseURL, apiKey: KEY }, `openai/${model}`, {
      poll_s: 150,
      interval_s: 0.5,
    });
    const created = await driver.line((l) => l.step === 'created');
    expect(created).toMatchObject({ background: true, id: expect.stringMatching(/^resp_/) });
    expect(['queued', 'in_progress']).toContain(created.status);

    // The provider call is in flight (and hangs): crash the worker, then start a new one.
    await until(() => outside.fake.callsFor(model).length === 1);
    await procs.kill(worker);
    await procs.start(procEnv, 'worker');

    const { code, stdout, stderr } = await driver.exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const final = driver.lines.find((l) => l.step === 'final');
    expect(final).toMatchObject({ id: created.id, status: 'completed', text: 'answer after the crash', error: null });
    expect(stdout).not.toContain('"status": "failed"');
    expect(outside.fake.callsFor(model)).toHaveLength(2);

    // One workflow execution: the same one, resumed on the new worker.
    const requestId = String(created.id).replace(/^resp_/, '');
    const record = (await (
      await fetch(`${baseURL}/requests/${requestId}`, { headers: { authorization: `Bearer ${KEY}` } })
    ).json()) as { workflow_id: string; status: string; attempts: Array<{ attempt: number; outcome: string }> };
    expect(record.status).toBe('succeeded');
    expect(record.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'abandoned'],
      [2, 'success'],
    ]);
    const executions = [];
    for await (const wf of outside.env.client.workflow.list({ query: `WorkflowId = '${record.workflow_id}'` }))
      executions.push(wf);
    expect(executions).toHaveLength(1);
    expect(executions[0]!.status.name).toBe('COMPLETED');

    expect(await procs.stop(api)).toBe(0);
  }, 240_000);
});
