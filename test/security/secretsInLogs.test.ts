/**
 * A provider that echoes the key it received in every field of its error (message, code, type,
 * param, nested details; base64, hex and space-separated), against `npm start`'s process with
 * debug logging: neither the provider key nor the bootstrap key appears anywhere in the process's
 * output, in any of those forms (the banner names the bootstrap key by its prefix; provider text
 * is redacted before it is logged, and the worker logs failed activities with their details).
 */
import { startFakeProvider, type FakeProvider } from '../support/fakeProvider';
import { b64, echo, leaked, spaced } from '../support/leaks';
import { useProcesses } from '../support/process';

const BOOTSTRAP = 'sk-sy-logs-test-key-0123456789';
const PROVIDER_KEY = 'sk-live-echo-test-0123456789abcdef';

let fake: FakeProvider;
const procs = useProcesses({ dataDirPrefix: 'sy-logs-' });

beforeAll(async () => {
  fake = await startFakeProvider('openai');
});
afterAll(async () => {
  await fake?.close();
});

it('the keys appear nowhere in the logs, even when a provider echoes its key in errors', async () => {
  // Every field at once. A 401 stops at the first candidate; the second echoes the plain way.
  fake.setDefault(
    'gpt-4o-mini',
    echo(
      (key) => ({
        message: `Incorrect API key provided: ${spaced(key)} (${b64(key)})`,
        type: key,
        code: key,
        param: key,
        details: { hex: Buffer.from(key).toString('hex') },
      }),
      401,
    ),
  );
  fake.setDefault('gpt-4o', { kind: 'error', status: 401, echoKey: true });
  const { stack, ports } = await procs.startOnFreePorts((p) => ({
    PORT: String(p.api),
    TEMPORAL_DEV_PORT: String(p.temporal),
    TEMPORAL_UI: 'false',
    SWITCHYARD_DATA_DIR: procs.dataDir,
    SWITCHYARD_BOOTSTRAP_KEY: BOOTSTRAP,
    SWITCHYARD_SIMULATED_PROVIDER: 'off',
    OPENAI_API_KEY: PROVIDER_KEY,
    OPENAI_BASE_URL: fake.url,
    ANTHROPIC_API_KEY: '',
    LOG_LEVEL: 'debug',
    DATABASE_URL: '',
  }));
  const res = await fetch(`http://127.0.0.1:${ports.api}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BOOTSTRAP}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = await res.text();
  expect(res.status).toBeGreaterThanOrEqual(400);
  // The provider saw the key and echoed it; the client sees it redacted.
  expect(String(fake.calls.at(-1)!.headers.authorization)).toContain(PROVIDER_KEY);
  expect(body).toContain('[redacted]');
  const code = await procs.stop(stack);
  expect(code).toBe(0);
  const output = stack.output();
  expect(output).toContain('"status":'); // debug request logs were written
  // Structured: one JSON line per request with its tenant, request and workflow ids; the body
  // (the prompt) only in the debug line.
  const lines = output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const requestId = res.headers.get('x-switchyard-request-id');
  expect(lines).toContainEqual(
    expect.objectContaining({
      msg: 'request',
      path: '/v1/chat/completions',
      tenant: 'default',
      requestId,
      workflowId: `req-${requestId}`,
    }),
  );
  expect(lines).toContainEqual(expect.objectContaining({ level: 20, msg: 'request body', requestId }));
  expect(leaked(output, PROVIDER_KEY)).toBeUndefined();
  expect(output).not.toContain(BOOTSTRAP);
  expect(leaked(body, PROVIDER_KEY)).toBeUndefined();
}, 120_000);
