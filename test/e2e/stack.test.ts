/**
 * End to end, as a newcomer runs it: the real `src/main.ts` (what `npm start` runs) in its own
 * process group — Temporal dev server, worker, API, database — called with the official `openai`
 * client. Then Ctrl-C (SIGINT to the group), a check that nothing is left running, and a restart
 * on the same data folder that still has the earlier workflow and database row.
 */
import { Client, Connection } from '@temporalio/client';
import OpenAI from 'openai';
import { SA_MODEL, SA_OPERATION, SA_PROVIDER, SA_STATUS, SA_TENANT } from '../../src/temporal/searchAttributes';
import { isolatedDatabaseUrl } from '../support/db';
import { listening, stopStack, useProcesses, type Stack, type StackPorts } from '../support/process';

const API_KEY = 'sk-sy-e2e-test-key-0123456789';

describe('the whole stack, started as `npm start` starts it', () => {
  // A process still running after a failed test is killed: it did not stop on Ctrl-C, or never got one.
  const procs = useProcesses({ dataDirPrefix: 'sy-e2e-', leftover: 'kill' });
  let ports: { api: number; temporal: number; ui: number };
  let databaseUrl: string | undefined;
  let stack: Stack | undefined;

  beforeAll(async () => {
    databaseUrl = process.env.DATABASE_URL ? await isolatedDatabaseUrl() : undefined;
  });
  const envFor = (p: StackPorts): NodeJS.ProcessEnv => ({
    PORT: String(p.api),
    TEMPORAL_DEV_PORT: String(p.temporal),
    TEMPORAL_UI_PORT: String(p.ui),
    SWITCHYARD_DATA_DIR: procs.dataDir,
    SWITCHYARD_BOOTSTRAP_KEY: API_KEY,
    SWITCHYARD_BOOTSTRAP_TENANT: 'e2e',
    LOG_LEVEL: 'warn',
    OPENAI_API_KEY: '',
    ANTHROPIC_API_KEY: '',
    // With PostgreSQL (CI), a schema of its own; else the stack's embedded PGlite in dataDir.
    ...(databaseUrl && { DATABASE_URL: databaseUrl }),
  });

  it('serves the openai client, records the request in Temporal and the database, stops cleanly and keeps history across a restart', async () => {
    ({ stack, ports } = await procs.startOnFreePorts(envFor));
    const banner = stack.output();
    expect(banner).toContain(`http://127.0.0.1:${ports.api}/v1`);
    expect(banner).toContain(`http://127.0.0.1:${ports.ui}`);
    // A key from SWITCHYARD_BOOTSTRAP_KEY is named by its prefix, never printed whole.
    expect(banner).toContain(`${API_KEY.slice(0, 14)}…`);
    expect(banner).not.toContain(API_KEY);
    expect(banner).toMatch(/SIMULATED provider/);
    // The exact Temporal CLI command for this server's port and namespace.
    expect(banner).toMatch(
      new RegExp(
        `Temporal CLI: \\S*temporal workflow list --address 127\\.0\\.0\\.1:${ports.temporal} --namespace default`,
      ),
    );

    const baseURL = `http://127.0.0.1:${ports.api}/v1`;
    const openai = new OpenAI({ baseURL, apiKey: API_KEY, maxRetries: 0 });

    // 1. A completion through the official client, unchanged but for baseURL and apiKey.
    const { data: completion, response } = await openai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: 'Say hello to Switchyard' }] })
      .withResponse();
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]!.message.content).toContain('Say hello to Switchyard');
    expect(completion.usage!.total_tokens).toBeGreaterThan(0);
    const workflowId = response.headers.get('x-switchyard-workflow-id')!;
    const requestId = response.headers.get('x-switchyard-request-id')!;
    expect(workflowId).toBe(`req-${requestId}`);
    expect(response.headers.get('x-switchyard-provider')).toBe('simulated');

    // The structured operations work offline too, answered by the simulator.
    const opPost = (op: string, body: unknown) =>
      fetch(`${baseURL}/operations/${op}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const sentiment = await opPost('sentiment', { text: 'The delivery was late and the box was broken.' });
    expect(sentiment.status).toBe(200);
    expect(((await sentiment.json()) as { result: { label: string } }).result.label).toBe('negative');
    const embed = await opPost('embed', { input: ['rail', 'yard'] });
    expect((await embed.json()) as { model: string; result: { dimensions: number } }).toMatchObject({
      model: 'simulated/sim-embed',
      result: { dimensions: 64 },
    });

    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(expect.arrayContaining(['auto', 'simulated/sim-mini']));

    // 2. The request workflow is in Temporal with its search attributes.
    const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
    const client = new Client({ connection });
    const desc = await client.workflow.getHandle(workflowId).describe();
    expect(desc.status.name).toBe('COMPLETED');
    expect(desc.typedSearchAttributes.get(SA_TENANT)).toBe('e2e');
    expect(desc.typedSearchAttributes.get(SA_OPERATION)).toBe('chat');
    expect(desc.typedSearchAttributes.get(SA_PROVIDER)).toBe('simulated');
    expect(desc.typedSearchAttributes.get(SA_MODEL)).toBe('simulated/sim-mini');
    expect(desc.typedSearchAttributes.get(SA_STATUS)).toBe('succeeded');
    const uiPage = await fetch(`http://127.0.0.1:${ports.ui}/namespaces/default/workflows/${workflowId}`);
    expect(uiPage.status).toBe(200);

    // 3. The same Idempotency-Key is the same request and the same workflow: nothing runs twice.
    const idem = { headers: { 'Idempotency-Key': 'e2e-order-42' } };
    const a = await openai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: 'once' }] }, idem)
      .withResponse();
    const b = await openai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: 'once' }] }, idem)
      .withResponse();
    expect(b.data.id).toBe(a.data.id);
    expect(b.response.headers.get('x-switchyard-workflow-id')).toBe(a.response.headers.get('x-switchyard-workflow-id'));
    const reused = await openai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: 'different' }] }, idem)
      .catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(OpenAI.ConflictError);

    // 4. Bad input: a clear 400 in OpenAI's shape, and no workflow started.
    const before = (await client.workflow.count('SwitchyardTenant = "e2e"')).count;
    const missing = (await openai.chat.completions
      .create({ model: 'auto' } as never)
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.BadRequestError>;
    expect(missing).toBeInstanceOf(OpenAI.BadRequestError);
    expect(missing.param).toBe('messages');
    const wrongType = (await openai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' } as never)
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.BadRequestError>;
    expect(wrongType.status).toBe(400);
    expect(wrongType.param).toBe('temperature');
    const badJson = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: '{"model": "auto", "messages": [',
    });
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as { error: { type: string; message: string } }).error).toMatchObject({
      type: 'invalid_request_error',
      message: expect.stringMatching(/Invalid JSON/),
    });
    const unauthorized = await new OpenAI({ baseURL, apiKey: 'sk-wrong', maxRetries: 0 }).models
      .list()
      .catch((e: unknown) => e);
    expect(unauthorized).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((await client.workflow.count('SwitchyardTenant = "e2e"')).count).toBe(before);
    await connection.close();

    // 5. Ctrl-C: everything stops, nothing is left listening or running.
    const code = await procs.stop(stack);
    expect(stack.output()).toContain('Stopped.');
    expect(code).toBe(0);
    for (const port of [ports.api, ports.temporal, ports.ui]) expect(await listening(port)).toBe(false);
    expect(() => process.kill(-stack!.proc.pid!, 0)).toThrow(); // the process group is empty

    // 6. Restart on the same data folder: the earlier workflow and database row are still there.
    stack = await procs.start(envFor(ports));
    const conn2 = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
    const again = await new Client({ connection: conn2 }).workflow.getHandle(workflowId).describe();
    expect(again.status.name).toBe('COMPLETED');
    await conn2.close();
    const record = await fetch(`${baseURL}/requests/${requestId}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(record.status).toBe(200);
    expect(await record.json()).toMatchObject({
      request_id: requestId,
      status: 'succeeded',
      provider: 'simulated',
      response: { content: completion.choices[0]!.message.content },
      // What docs/operations.md names for replay: the decision's whole input and its configuration version.
      decision_input: { requestedModel: 'auto', operation: 'chat' },
      config_version: 1,
    });
    expect(await stopStack(stack)).toBe(0);
  });
});
