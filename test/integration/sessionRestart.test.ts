/**
 * A session's pin survives a crash of the whole Switchyard process (workers and API, PGlite in its
 * data folder, or PostgreSQL when DATABASE_URL is set): pinned before the SIGKILL, the restarted
 * process routes the session's next request to the pinned model, against the strategy's choice.
 */
import path from 'node:path';
import fs from 'node:fs';
import { isolatedDatabaseUrl } from '../support/db';
import { startOutside, type Outside } from '../support/outside';
import { freePort, useProcesses } from '../support/process';

const KEY = 'sk-sy-session-restart-key-0123456789';

let outside: Outside;
const procs = useProcesses({ leftover: 'kill' });

beforeAll(async () => {
  outside = await startOutside('sy-session-restart-');
});

afterAll(async () => {
  await outside?.close();
});

it('a pin written before a crash is followed by the restarted process', async () => {
  const port = await freePort();
  const configFile = path.join(outside.dataDir, 'switchyard.yaml');
  // The cost strategy would send every short prompt to openai/gpt-4o-mini.
  fs.writeFileSync(configFile, 'routing:\n  defaultStrategy: cost\n');
  const databaseUrl = process.env.DATABASE_URL ? await isolatedDatabaseUrl() : undefined;
  const env = {
    ...outside.processEnv(),
    PORT: String(port),
    SWITCHYARD_CONFIG: configFile,
    SWITCHYARD_BOOTSTRAP_KEY: KEY,
    ...(databaseUrl && { DATABASE_URL: databaseUrl }),
  };
  const ask = async (model: string, session?: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEY}`,
        'content-type': 'application/json',
        ...(session && { 'x-switchyard-session': session }),
      },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello there' }] }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { switchyard: { model: string; decision: string } }).switchyard;
  };

  let stack = await procs.start(env);
  // Asked for by name, gpt-4o answers: the session is pinned to it.
  expect((await ask('openai/gpt-4o', 'tutoring-7')).model).toBe('openai/gpt-4o');
  expect((await ask('auto', 'tutoring-7')).decision).toMatch(/^openai\/gpt-4o \(kept for session\)/);
  await procs.kill(stack);

  stack = await procs.start(env);
  const after = await ask('auto', 'tutoring-7');
  expect(after.model).toBe('openai/gpt-4o');
  expect(after.decision).toMatch(/^openai\/gpt-4o \(kept for session\)/);
  // The same prompt without the session goes where the strategy sends it.
  expect((await ask('auto')).model).toBe('openai/gpt-4o-mini');
  expect(await procs.stop(stack)).toBe(0);
}, 240_000);
