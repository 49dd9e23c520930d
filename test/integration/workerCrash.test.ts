/**
 * Durability: the Switchyard process (worker and API) is killed with SIGKILL while a provider call
 * hangs. Temporal keeps the workflow; when the process comes back, the call is retried (the dead
 * worker's heartbeat stops, so Temporal notices within the heartbeat timeout) and the request
 * completes. The client that lost its connection retries with the same Idempotency-Key and gets
 * the answer from the same workflow; nothing runs twice beyond the one lost attempt.
 */
import { isolatedDatabaseUrl } from '../support/db';
import { startOutside, type Outside } from '../support/outside';
import { freePort, useProcesses } from '../support/process';

const KEY = 'sk-sy-crash-test-key-0123456789';

let outside: Outside;
// A failed test's process is killed, not stopped: it may be the one left mid-crash.
const procs = useProcesses({ leftover: 'kill' });

beforeAll(async () => {
  outside = await startOutside('sy-crash-');
});

afterAll(async () => {
  await outside?.close();
});

it('a request whose worker is killed mid-call completes after a restart, and the client gets its answer', async () => {
  const port = await freePort();
  const stackEnv = {
    PORT: String(port),
    ...outside.processEnv(),
    SWITCHYARD_BOOTSTRAP_KEY: KEY,
    ...(process.env.DATABASE_URL && { DATABASE_URL: await isolatedDatabaseUrl() }),
  };
  outside.fake.script('gpt-4o-mini', { kind: 'hang' });
  outside.fake.setDefault('gpt-4o-mini', { kind: 'ok', content: 'answer after the crash' });

  let stack = await procs.start(stackEnv);
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const send = () =>
    fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': 'crash-1' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
    });
  const firstTry = send().then(
    () => 'answered',
    () => 'connection lost',
  );

  // The provider call is in flight (and hanging) — now crash.
  for (let i = 0; i < 200 && outside.fake.callsFor('gpt-4o-mini').length === 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  expect(outside.fake.callsFor('gpt-4o-mini')).toHaveLength(1);
  await procs.kill(stack);
  expect(await firstTry).toBe('connection lost');

  stack = await procs.start(stackEnv);
  const retry = await send();
  expect(retry.status).toBe(200);
  const body = (await retry.json()) as {
    id: string;
    choices: Array<{ message: { content: string } }>;
    switchyard: { request_id: string; workflow_id: string; attempts: Array<{ attempt: number; outcome: string }> };
  };
  expect(body.choices[0]!.message.content).toBe('answer after the crash');
  // One lost attempt (the hung call) and one that answered: nothing ran twice.
  expect(outside.fake.callsFor('gpt-4o-mini')).toHaveLength(2);
  expect(body.switchyard.attempts.filter((a) => a.outcome === 'success').map((a) => a.attempt)).toEqual([2]);

  // The same workflow, resumed: one execution for this request id.
  const executions = [];
  for await (const wf of outside.env.client.workflow.list({ query: `WorkflowId = '${body.switchyard.workflow_id}'` }))
    executions.push(wf);
  expect(executions).toHaveLength(1);
  expect(executions[0]!.status.name).toBe('COMPLETED');

  // And it can be fetched by request id.
  const record = await fetch(`http://127.0.0.1:${port}/v1/requests/${body.switchyard.request_id}`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  expect(await record.json()).toMatchObject({ status: 'succeeded', response: { content: 'answer after the crash' } });
  const code = await procs.stop(stack);
  expect(code).toBe(0);
});
