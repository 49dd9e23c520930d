/**
 * Configuration integrity across processes: the shared configuration changes only through an
 * operator's action. Here a Switchyard runs without provider keys (the simulator answers), an
 * operator edits the configuration, and then an API process and a worker start with a different
 * environment (an OpenAI key and base URL). The version stays what it was, the edit survives, and
 * traffic keeps flowing.
 *
 * Several processes need one database server: PGlite serves one process. CI sets DATABASE_URL,
 * and there this always runs; elsewhere without it, it is reported as not run.
 */
import path from 'node:path';
import { dbKinds, isolatedDatabaseUrl } from '../support/db';
import { startOutside, type Outside } from '../support/outside';
import { freePort, useProcesses } from '../support/process';

const KEY = 'sk-sy-config-integrity-0123456789';
const shared = dbKinds().includes('postgres');
if (!shared) console.warn('configIntegrity.test.ts not run: several processes need DATABASE_URL (PGlite serves one).');

let outside: Outside;

(shared ? describe : describe.skip)('a process with a different environment', () => {
  const procs = useProcesses();
  beforeAll(async () => {
    outside = await startOutside('sy-config-');
  });
  afterAll(async () => {
    await outside?.close();
  });

  it('leaves the configuration version and the operator’s edits as they were', async () => {
    const databaseUrl = await isolatedDatabaseUrl();
    const base = {
      TEMPORAL_ADDRESS: outside.env.address,
      SWITCHYARD_BOOTSTRAP_KEY: KEY,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'warn',
      OPENAI_API_KEY: '',
      ANTHROPIC_API_KEY: '',
    };
    const port = await freePort();
    await procs.start({ ...base, PORT: String(port), SWITCHYARD_DATA_DIR: path.join(outside.dataDir, 'first') }, 'all');
    const api = (p: number) => `http://127.0.0.1:${p}/v1`;
    const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    const config = async (p: number) =>
      (await (await fetch(`${api(p)}/admin/config`, { headers })).json()) as {
        config_version: number;
        config: { routing: { defaultStrategy: string }; catalog: { providers: Array<{ id: string }> } };
      };
    const chat = async (p: number) =>
      (
        await fetch(`${api(p)}/chat/completions`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] }),
        })
      ).status;

    const first = await config(port);
    expect(first.config.catalog.providers.map((p) => p.id)).toEqual(['simulated']);
    const edit = await fetch(`${api(port)}/admin/config`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ ...first.config, routing: { ...first.config.routing, defaultStrategy: 'cost' } }),
    });
    expect(edit.status).toBe(200);
    const edited = await config(port);
    expect(edited.config_version).toBe(first.config_version + 1);

    // Another API process and another worker, with an OpenAI key this time.
    const other = { ...base, OPENAI_API_KEY: 'sk-other', OPENAI_BASE_URL: outside.fake.url };
    const apiPort = await freePort();
    await procs.start(
      { ...other, PORT: String(apiPort), SWITCHYARD_DATA_DIR: path.join(outside.dataDir, 'api') },
      'api',
    );
    await procs.start({ ...other, SWITCHYARD_DATA_DIR: path.join(outside.dataDir, 'worker') }, 'worker');

    for (const p of [port, apiPort]) {
      const now = await config(p);
      expect(now.config_version).toBe(edited.config_version);
      expect(now.config.routing.defaultStrategy).toBe('cost');
      expect(now.config.catalog.providers.map((x) => x.id)).toEqual(['simulated']);
    }
    // Traffic keeps flowing through both APIs.
    expect(await chat(port)).toBe(200);
    expect(await chat(apiPort)).toBe(200);
    // The audit log has the operator's import, and nothing from the processes that started later.
    const audit = (await (await fetch(`${api(port)}/audit?limit=50`, { headers })).json()) as {
      data: Array<{ action: string; actor: { role: string } }>;
    };
    expect(audit.data.map((e) => [e.action, e.actor.role])).toEqual([
      ['config.import', 'operator'],
      ['config.init', 'system'],
    ]);
  });
});
