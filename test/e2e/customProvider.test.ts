/**
 * A user's own OpenAI-compatible server (a company vLLM behind a key), added by configuration
 * only, as `npm start` runs: a configuration file names the instance and the environment variable
 * holding its key. It answers through Switchyard, streamed and not, carrying exactly that key;
 * and neither that key nor a wrong one the server echoes back appears in any response, log line,
 * database row or workflow history.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import OpenAI from 'openai';
import { openDb } from '../../src/db';
import { CONTRACT_ANSWER } from '../contract/fixture';
import { startOpenAIWire, type OpenAIWireFake } from '../support/fakes/openaiWire';
import { allRows, historyText, leaked } from '../support/leaks';
import { useProcesses } from '../support/process';

const BOOTSTRAP = 'sk-sy-custom-provider-0123456789';
const VLLM_KEY = 'vllm-team-key-5e0c1a9f7b3d2e88';
const STALE_KEY = 'vllm-stale-key-8a2f6d4c1e0b9973';

let fake: OpenAIWireFake;
const procs = useProcesses({ dataDirPrefix: 'sy-custom-' });

beforeAll(async () => {
  fake = await startOpenAIWire('compatible', VLLM_KEY);
});
afterAll(async () => {
  await fake?.close();
});

it('answers through Switchyard with its own key, streamed and not, and the keys are nowhere', async () => {
  const configFile = path.join(procs.dataDir, 'switchyard.yaml');
  // The whole change a user makes: one instance per server, its key by reference.
  fs.writeFileSync(
    configFile,
    [
      'catalog:',
      '  providers:',
      `    - { id: team-vllm, kind: openai-compatible, baseUrl: "${fake.url}", apiKey: { env: TEAM_VLLM_API_KEY } }`,
      `    - { id: old-vllm, kind: openai-compatible, baseUrl: "${fake.url}", apiKey: { env: OLD_VLLM_API_KEY } }`,
      '  models:',
      '    - { id: team-vllm/llama-3.3-70b, provider: team-vllm, model: llama-3.3-70b, inputPricePerMTok: 0,',
      '        outputPricePerMTok: 0, contextWindow: 32000, maxOutputTokens: 2000, capabilities: [chat], qualityTier: 4 }',
      '    - { id: old-vllm/llama-3.1-8b, provider: old-vllm, model: llama-3.1-8b, inputPricePerMTok: 0,',
      '        outputPricePerMTok: 0, contextWindow: 32000, maxOutputTokens: 2000, capabilities: [chat], qualityTier: 2 }',
      '',
    ].join('\n'),
  );
  const { stack, ports } = await procs.startOnFreePorts((p) => ({
    PORT: String(p.api),
    TEMPORAL_DEV_PORT: String(p.temporal),
    TEMPORAL_UI: 'false',
    SWITCHYARD_DATA_DIR: procs.dataDir,
    SWITCHYARD_BOOTSTRAP_KEY: BOOTSTRAP,
    SWITCHYARD_CONFIG: configFile,
    SWITCHYARD_SIMULATED_PROVIDER: 'off',
    TEAM_VLLM_API_KEY: VLLM_KEY,
    // A key the server no longer accepts: it answers 401 and echoes it, as some servers do.
    OLD_VLLM_API_KEY: STALE_KEY,
    OPENAI_API_KEY: '',
    ANTHROPIC_API_KEY: '',
    LOG_LEVEL: 'debug',
    DATABASE_URL: '',
  }));
  const client = new OpenAI({ apiKey: BOOTSTRAP, baseURL: `http://127.0.0.1:${ports.api}/v1`, maxRetries: 0 });
  const seen: string[] = [];
  const workflows: string[] = [];
  const note = (headers: Headers) => {
    seen.push(JSON.stringify([...headers]));
    workflows.push(headers.get('x-switchyard-workflow-id')!);
  };

  const plain = await client.chat.completions
    .create({ model: 'team-vllm/llama-3.3-70b', messages: [{ role: 'user', content: 'What is it?' }] })
    .withResponse();
  note(plain.response.headers);
  seen.push(JSON.stringify(plain.data));
  expect(plain.data.choices[0]!.message.content).toBe(CONTRACT_ANSWER);

  const streamed = await client.chat.completions
    .create({ model: 'team-vllm/llama-3.3-70b', messages: [{ role: 'user', content: 'What is it?' }], stream: true })
    .withResponse();
  note(streamed.response.headers);
  const pieces: string[] = [];
  for await (const chunk of streamed.data) {
    seen.push(JSON.stringify(chunk));
    const c = chunk.choices[0]?.delta?.content;
    if (c) pieces.push(c);
  }
  expect(pieces.join('')).toBe(CONTRACT_ANSWER);
  expect(pieces.length).toBeGreaterThanOrEqual(2);

  // The server got exactly its key, each time.
  expect(fake.callsFor('llama-3.3-70b').map((c) => [c.headers.authorization, c.streamed])).toEqual([
    [`Bearer ${VLLM_KEY}`, false],
    [`Bearer ${VLLM_KEY}`, true],
  ]);

  // The stale key: refused (and echoed) by the server, the request falls back to the team server.
  const stale = await client.chat.completions
    .create({ model: 'old-vllm/llama-3.1-8b', messages: [{ role: 'user', content: 'Hello' }] })
    .withResponse();
  note(stale.response.headers);
  seen.push(JSON.stringify(stale.data));
  expect(fake.callsFor('llama-3.1-8b').map((c) => c.headers.authorization)).toEqual([`Bearer ${STALE_KEY}`]);
  expect(stale.response.headers.get('x-switchyard-model')).toBe('team-vllm/llama-3.3-70b');
  const attempts = (
    stale.data as unknown as { switchyard: { attempts: Array<{ provider: string; errorType?: string }> } }
  ).switchyard.attempts;
  expect(attempts.map((a) => [a.provider, a.errorType ?? null])).toEqual([
    ['old-vllm', 'AuthFailed'],
    ['team-vllm', null],
  ]);

  // Workflow histories, read from the process's own Temporal server.
  const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
  const histories: string[] = [];
  try {
    const env = { client: new Client({ connection }) };
    for (const id of workflows) histories.push((await historyText(env, id)).text);
  } finally {
    await connection.close();
  }
  expect(histories.join('\n')).toContain('AuthFailed');

  const code = await procs.stop(stack);
  expect(code).toBe(0);
  const output = stack.output();
  expect(output).toContain('"msg":"request"');

  // Every row of the process's database, once it has stopped.
  const db = await openDb({ pgliteDir: path.join(procs.dataDir, 'pglite') });
  let rows: string;
  try {
    rows = await allRows(db);
  } finally {
    await db.close();
  }
  expect(rows).toContain('AuthFailed');

  for (const key of [VLLM_KEY, STALE_KEY])
    for (const [where, text] of [
      ['responses', seen.join('\n')],
      ['logs', output],
      ['rows', rows],
      ['histories', histories.join('\n')],
    ] as const)
      expect([where, leaked(text, key)]).toEqual([where, undefined]);
}, 180_000);
