/**
 * A provider that echoes the key its call carried in any field of its error (the code, the type,
 * the param, a nested field, base64-encoded or space-separated in the message), on each wire
 * format and each database: nothing of the key reaches the client's response, the request's
 * record, any table, or the workflow's history; the provider code kept is a short identifier.
 * Then the same provider against `npm start`'s process with debug logging: nothing of its key in
 * the process's output (the worker logs failed activities with their details).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CatalogSchema } from '../../src/domain/catalog';
import { dbKinds } from '../support/db';
import { startFakeProvider, type Behaviour, type FakeProvider } from '../support/fakeProvider';
import { startStackOnFreePorts, stopStack, type Stack } from '../support/process';
import { fakeCatalogProviders, fakeModel, providerSecret, startTestStack, type TestStack } from '../support/stack';

/** Letters and digits only, lowercased: what survives separators, case and percent-encoding. */
const skeleton = (s: string) => s.replace(/[^A-Za-z0-9]/g, '').toLowerCase();

/**
 * Whether `text` holds any 10 consecutive letters or digits of `key` in a form it could be read
 * back from: as written, hex, URL-encoded, or base64 at any of its three alignments (the base64
 * payloads of workflow history included), separators between characters or not.
 */
function leaked(text: string, key: string): string | undefined {
  const bytes = Buffer.from(key);
  const base64 = [0, 1, 2].map((pad) =>
    Buffer.concat([Buffer.alloc(pad), bytes])
      .toString('base64')
      .slice(pad ? pad + 1 : 0, -2),
  );
  const flat = skeleton(text);
  for (const form of [key, bytes.toString('hex'), encodeURIComponent(key), ...base64].map(skeleton))
    for (let i = 0; i + 10 <= form.length; i++) if (flat.includes(form.slice(i, i + 10))) return form.slice(i, i + 10);
  return undefined;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const spaced = (s: string) => [...s].join(' ');

/** Where a provider puts the key it was sent: the error object's fields, built from the key. */
const ECHOES: Array<[string, (key: string) => Record<string, unknown>]> = [
  ['code', (key) => ({ message: 'Invalid request.', code: key })],
  ['type', (key) => ({ message: 'Invalid request.', type: key })],
  ['param', (key) => ({ message: 'Invalid request.', param: key })],
  ['message, base64', (key) => ({ message: `Bad credential ${b64(`Bearer ${key}`)}` })],
  ['message, space-separated', (key) => ({ message: `Incorrect API key provided: ${spaced(key)}` })],
  ['message, hex, and the code too', (key) => ({ message: `k=${Buffer.from(key).toString('hex')}`, code: b64(key) })],
  // No message: the SDKs then print the whole error object, nested fields included.
  ['nested details, no message', (key) => ({ message: undefined, details: [{ hint: key, raw: { b: b64(key) } }] })],
];

const echo = (fields: (key: string) => Record<string, unknown>): Behaviour => ({
  kind: 'error',
  status: 400,
  fields,
});

describe.each(dbKinds())('a provider echoing its key, on %s', (db) => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({
      db,
      catalog: (f) =>
        CatalogSchema.parse({
          providers: fakeCatalogProviders(f),
          models: [fakeModel('oa', 'primary'), fakeModel('an', 'claude')],
        }),
    });
  }, 120_000);
  afterAll(async () => stack?.stop());

  /** Everything the database holds, as text. */
  async function allRows(): Promise<string> {
    const tables = await stack.db.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`,
    );
    const out: string[] = [];
    for (const { table_name } of tables.rows)
      out.push(JSON.stringify((await stack.db.query(`select * from "${table_name}"`)).rows));
    return out.join('\n');
  }

  /** A workflow's history as JSON, with its payloads both as stored (base64) and decoded. */
  async function historyText(workflowId: string): Promise<{ text: string; codes: unknown[] }> {
    const history = await stack.env.client.workflow.getHandle(workflowId).fetchHistory();
    const decoded: string[] = [];
    const raw = JSON.stringify(history, (_k, v: unknown) => {
      if (v instanceof Uint8Array) {
        decoded.push(Buffer.from(v).toString('utf8'));
        return Buffer.from(v).toString('base64');
      }
      const buf = v as { type?: string; data?: number[] } | null;
      if (buf && buf.type === 'Buffer' && Array.isArray(buf.data)) {
        decoded.push(Buffer.from(buf.data).toString('utf8'));
        return Buffer.from(buf.data).toString('base64');
      }
      return v;
    });
    const codes = decoded.flatMap((d) => [...d.matchAll(/"providerCode":("[^"]*")/g)].map((m) => JSON.parse(m[1]!)));
    return { text: `${raw}\n${decoded.join('\n')}`, codes };
  }

  it.each(
    ECHOES.flatMap(([where, fields]) => [
      ['oa/primary', where, fields],
      ['an/claude', where, fields],
    ]),
  )('%s echoing it in its %s: not in the response, the rows or the history', async (model, _where, fields) => {
    const provider = model.split('/')[0]!;
    const key = providerSecret(provider);
    for (const fake of [stack.fakes.openai, stack.fakes.anthropic]) fake.setDefault('*', echo(fields));
    const res = await fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const body = await res.text();
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(600);
    // The provider did get the key, and did echo it.
    const fake = provider === 'oa' ? stack.fakes.openai : stack.fakes.anthropic;
    const sent = fake.calls.at(-1)!.headers;
    expect(String(sent.authorization ?? sent['x-api-key'])).toContain(key);
    expect(leaked(JSON.stringify(fields(key)), key)).toBeDefined();

    expect(leaked(body, key)).toBeUndefined();
    const requestId = res.headers.get('x-switchyard-request-id')!;
    expect(requestId).toBeTruthy();
    const record = await fetch(`${stack.baseURL}/requests/${requestId}`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
    });
    expect(record.status).toBe(200);
    const recordText = await record.text();
    expect(recordText).toContain('"attempts"');
    expect(leaked(recordText, key)).toBeUndefined();
    const attempts = await stack.db.query<{ error_message: string | null }>(
      'select * from request_attempts where request_id = $1',
      [requestId],
    );
    expect(attempts.rows.length).toBeGreaterThan(0);
    expect(leaked(JSON.stringify(attempts.rows), key)).toBeUndefined();
    expect(leaked(await allRows(), key)).toBeUndefined();

    const history = await historyText(res.headers.get('x-switchyard-workflow-id') ?? `req-${requestId}`);
    expect(history.text).toContain('activityTaskFailedEventAttributes'); // the provider's failure is in it
    expect(leaked(history.text, key)).toBeUndefined();
    // The provider's code, when kept, is a short identifier.
    for (const code of history.codes) expect(code).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
  });
});

describe('the process logs', () => {
  const BOOTSTRAP = 'sk-sy-redaction-test-key-0123456789';
  const PROVIDER_KEY = 'live-echo-9Qz4Lw7Xr2Kp5Vn8Tb3Hj6';
  let fake: FakeProvider;
  let dataDir: string;
  let stack: Stack | undefined;

  beforeAll(async () => {
    fake = await startFakeProvider('openai');
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-redaction-'));
  });
  afterAll(async () => {
    if (stack && stack.proc.exitCode === null) await stopStack(stack);
    await fake?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('hold nothing of a key echoed in any field of a provider error', async () => {
    // Every field at once: the code, type, param, base64, spaced, nested.
    fake.setDefault(
      '*',
      echo((key) => ({
        message: `Incorrect API key provided: ${spaced(key)} (${b64(key)})`,
        type: key,
        code: key,
        param: key,
        details: { hex: Buffer.from(key).toString('hex') },
      })),
    );
    let ports;
    ({ stack, ports } = await startStackOnFreePorts((p) => ({
      PORT: String(p.api),
      TEMPORAL_DEV_PORT: String(p.temporal),
      TEMPORAL_UI: 'false',
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_BOOTSTRAP_KEY: BOOTSTRAP,
      SWITCHYARD_SIMULATED_PROVIDER: 'off',
      OPENAI_API_KEY: PROVIDER_KEY,
      OPENAI_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: '',
      LOG_LEVEL: 'debug',
      DATABASE_URL: '',
    })));
    const res = await fetch(`http://127.0.0.1:${ports.api}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BOOTSTRAP}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const body = await res.text();
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(String(fake.calls.at(-1)!.headers.authorization)).toContain(PROVIDER_KEY);
    expect(leaked(body, PROVIDER_KEY)).toBeUndefined();
    const code = await stopStack(stack);
    const output = stack.output();
    if (code !== 0) console.log(output.slice(-3000));
    expect(code).toBe(0);
    expect(output).toContain('"status":'); // the request logs were written
    expect(leaked(output, PROVIDER_KEY)).toBeUndefined();
  }, 180_000);
});
