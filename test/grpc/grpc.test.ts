/**
 * The gRPC API against a real stack (Temporal dev server, workers, database, fake providers),
 * with a Node client generated from the proto at run time: chat and an operation through
 * ProcessRequest, StreamChat (whole, and cut by the provider: UNAVAILABLE after the pieces, as
 * HTTP's stream ends with an error event), GetRequest and its tenancy, the statuses of the errors
 * (UNAUTHENTICATED, INVALID_ARGUMENT with the field, NOT_FOUND, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED with retry information, counted with HTTP's requests), idempotency keys,
 * health (NOT_SERVING when the database fails) and reflection. Then a Python client, its stubs
 * generated from the proto with grpcio-tools at test time: chat, a stream, a cut stream, errors.
 */
import { status } from '@grpc/grpc-js';
import { upsertApiKey } from '../../src/db/apiKeys';
import type { Db } from '../../src/db';
import { retryDelayOf } from '../../src/grpc/status';
import { startGrpcServer, SERVICE_NAME, type GrpcServer } from '../../src/grpc/server';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROTO_DIR, PROTO_FILE } from '../../src/grpc/server';
import { uniqueId } from '../support/db';
import { ensurePythonPackages, type PythonClient } from '../support/pythonClient';
import { grpcClients, keyMetadata, mdValue, readStream, unary, type GrpcClients } from '../support/grpcClient';
import { fakeCatalog, fakeModel, finishedRecord, useTestStack } from '../support/stack';

const CONTENT = 'one two three four five six seven eight nine ten';
const limitedTenant = uniqueId('limited');
const limitedKey = `sk-sy-${uniqueId('limited')}`;
const otherKey = `sk-sy-${uniqueId('other')}`;

const stack = useTestStack(
  {
    catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'primary', { capabilities: ['chat', 'tools'] })]),
    config: {
      retry: { default: { maximumAttempts: 1, timeoutMs: 20_000 } },
      tenants: { [limitedTenant]: { limits: { requestsPerMinute: 1 } } },
    },
  },
  { timeout: 120_000, resetFakes: true },
);

let server: GrpcServer;
let c: GrpcClients;
beforeAll(async () => {
  server = await startGrpcServer(stack.apiDeps, { port: 0, host: '127.0.0.1' });
  c = grpcClients(`127.0.0.1:${server.port}`);
  await upsertApiKey(stack.db, limitedTenant, limitedKey, 'limited');
  await upsertApiKey(stack.db, uniqueId('other'), otherKey, 'other');
});
afterAll(async () => {
  c?.close();
  await server?.stop();
});

const md = (more: Record<string, string> = {}) => keyMetadata(stack.apiKey, more);
const chat = (content = 'Hello there', model = 'oa/primary') => ({
  chat: { model, messages: [{ role: 'user', content }] },
});

it('answers a chat through ProcessRequest, recorded as HTTP records it, and GetRequest reads it', async () => {
  stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT });
  const res = await unary(c.switchyard, 'ProcessRequest', chat(), md());
  if (!res.ok) throw res.error;
  expect(res.value).toMatchObject({
    operation: 'chat',
    model: 'oa/primary',
    provider: 'oa',
    chat: { content: CONTENT, finish_reason: 'stop' },
    usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) },
  });
  expect(mdValue(res.metadata, 'x-switchyard-request-id')).toBe(res.value.request_id);
  expect(res.value.switchyard.fields.request_id.stringValue).toBe(res.value.request_id);
  // The same record as any request, through GetRequest.
  await finishedRecord(stack, res.value.request_id);
  const got = await unary(c.switchyard, 'GetRequest', { id: res.value.request_id }, md());
  if (!got.ok) throw got.error;
  expect(got.value).toMatchObject({
    request_id: res.value.request_id,
    tenant_id: stack.tenantId,
    status: 'succeeded',
    operation: 'chat',
    model: 'oa/primary',
  });
  expect(got.value.record.fields.response.structValue.fields.content.stringValue).toBe(CONTENT);
  // Another tenant's key: the id does not exist for it.
  const other = await unary(c.switchyard, 'GetRequest', { id: res.value.request_id }, keyMetadata(otherKey));
  expect(!other.ok && other.error.code).toBe(status.NOT_FOUND);
});

it('runs an operation with a typed result', async () => {
  stack.fakes.openai.setDefault('primary', { kind: 'ok', simulate: true });
  const res = await unary(
    c.switchyard,
    'ProcessRequest',
    { sentiment: { model: 'oa/primary', text: 'I love this, it is wonderful.' } },
    md(),
  );
  if (!res.ok) throw res.error;
  expect(res.value.operation).toBe('sentiment');
  expect(res.value.answer).toBe('result');
  expect(['positive', 'negative', 'neutral', 'mixed']).toContain(res.value.result.fields.label.stringValue);
});

it('streams a chat: the deltas make the answer, the last chunk has the finish reason and usage', async () => {
  stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT });
  const s = await readStream(c.switchyard.StreamChat(chat().chat, md()));
  expect(s.error).toBeUndefined();
  expect(s.messages.map((m) => m.delta ?? '').join('')).toBe(CONTENT);
  const last = s.messages.at(-1);
  expect(last).toMatchObject({ finish_reason: 'stop', usage: { output_tokens: expect.any(Number) } });
  expect(new Set(s.messages.map((m) => m.request_id)).size).toBe(1);
  expect(mdValue(s.metadata, 'x-switchyard-request-id')).toBe(last.request_id);
});

it('a stream the provider cuts after 5 pieces: the pieces, then UNAVAILABLE (HTTP: an error event, no [DONE])', async () => {
  stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 5 });
  const s = await readStream(c.switchyard.StreamChat(chat().chat, md()));
  expect(s.messages.map((m) => m.delta).join('')).toBe('one two three four five');
  expect(s.messages.some((m) => m.finish_reason)).toBe(false);
  expect(s.error?.code).toBe(status.UNAVAILABLE);
  expect(s.error?.details).toMatch(/interrupted after 5 chunks/);
  expect(mdValue(s.error?.metadata, 'switchyard-error-code')).toBe('StreamInterrupted');
  const requestId = mdValue(s.error?.metadata, 'x-switchyard-request-id')!;
  expect((await finishedRecord(stack, requestId)).status).toBe('failed');
});

it('refuses a call without a key, or with an unknown one: UNAUTHENTICATED', async () => {
  const none = await unary(c.switchyard, 'ProcessRequest', chat(), keyMetadata(undefined));
  expect(!none.ok && [none.error.code, mdValue(none.error.metadata, 'switchyard-error-code')]).toEqual([
    status.UNAUTHENTICATED,
    'missing_api_key',
  ]);
  const bad = await unary(c.switchyard, 'GetRequest', { id: 'x' }, keyMetadata('sk-sy-not-a-key'));
  expect(!bad.ok && bad.error.code).toBe(status.UNAUTHENTICATED);
});

it('bad input is INVALID_ARGUMENT naming the field, in the message and the switchyard-error-param trailer', async () => {
  const res = await unary(
    c.switchyard,
    'ProcessRequest',
    { chat: { model: 'auto', messages: [{ role: 'wizard', content: 'hi' }] } },
    md(),
  );
  if (res.ok) throw new Error('accepted');
  expect(res.error.code).toBe(status.INVALID_ARGUMENT);
  expect(mdValue(res.error.metadata, 'switchyard-error-param')).toBe('chat.messages[0].role');
  expect(res.error.details).toMatch(/chat\.messages\[0\]\.role/);
  const op = await unary(c.switchyard, 'ProcessRequest', { summarize: { model: 'auto' } }, md());
  expect(!op.ok && [op.error.code, mdValue(op.error.metadata, 'switchyard-error-param')]).toEqual([
    status.INVALID_ARGUMENT,
    'summarize.text',
  ]);
  const none = await unary(c.switchyard, 'ProcessRequest', {}, md());
  expect(!none.ok && mdValue(none.error.metadata, 'switchyard-error-param')).toBe('operation');
  const unknownModel = await unary(c.switchyard, 'ProcessRequest', chat('hi', 'nope/none'), md());
  expect(
    !unknownModel.ok && [unknownModel.error.code, mdValue(unknownModel.error.metadata, 'switchyard-error-param')],
  ).toEqual([status.NOT_FOUND, 'model']);
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(0);
});

it('an idempotency-key replays the first request: same request id, one provider call', async () => {
  stack.fakes.openai.setDefault('primary', { kind: 'ok', content: CONTENT });
  const key = { 'idempotency-key': uniqueId('idem') };
  const first = await unary(c.switchyard, 'ProcessRequest', chat('once'), md(key));
  const second = await unary(c.switchyard, 'ProcessRequest', chat('once'), md(key));
  if (!first.ok || !second.ok) throw new Error('failed');
  expect(second.value.request_id).toBe(first.value.request_id);
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(1);
});

it('the call deadline is the request deadline: DEADLINE_EXCEEDED', async () => {
  stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, delayMs: 5_000 });
  const res = await unary(c.switchyard, 'ProcessRequest', chat('slow'), md(), { deadline: Date.now() + 700 });
  expect(!res.ok && res.error.code).toBe(status.DEADLINE_EXCEEDED);
  // The workflow was given the same deadline: it ends as timed out, not after the provider's answer.
  const rows = await stack.db.query<{ request_id: string }>(
    `select request_id from requests where tenant_id = $1 order by created_at desc limit 1`,
    [stack.tenantId],
  );
  const r = await finishedRecord<{ status: string; error: { type: string } | null }>(stack, rows.rows[0]!.request_id);
  expect(r.status).not.toBe('succeeded');
});

it('the key rate limit counts HTTP and gRPC together: RESOURCE_EXHAUSTED with retry-after and RetryInfo', async () => {
  const http = await fetch(`${stack.baseURL}/requests/nope`, { headers: { authorization: `Bearer ${limitedKey}` } });
  expect(http.status).toBe(404);
  const res = await unary(c.switchyard, 'GetRequest', { id: 'nope' }, keyMetadata(limitedKey));
  if (res.ok) throw new Error('not limited');
  expect(res.error.code).toBe(status.RESOURCE_EXHAUSTED);
  expect(mdValue(res.error.metadata, 'switchyard-error-code')).toBe('key_rate_limited');
  const retryAfter = Number(mdValue(res.error.metadata, 'retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  const details = res.error.metadata.get('grpc-status-details-bin')[0] as Buffer;
  expect(retryDelayOf(details)).toBe(retryAfter);
});

it('renders a template and routes it (respond): the provider gets the rendered text, the record names the version', async () => {
  const name = uniqueId('greet');
  const created = await fetch(`${new URL(stack.baseURL).origin}/v1/templates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name,
      messages: [{ role: 'user', content: 'Say hello to {{name}}.' }],
      variables: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      defaults: { model: 'oa/primary' },
    }),
  });
  expect(created.status).toBe(201);
  stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT });
  const variables = { fields: { name: { stringValue: 'Ada' } } };
  const res = await unary(c.switchyard, 'ProcessRequest', { respond: { template: name, variables } }, md());
  if (!res.ok) throw res.error;
  expect(res.value).toMatchObject({ operation: 'respond', model: 'oa/primary', chat: { content: CONTENT } });
  expect(stack.fakes.openai.calls.at(-1)!.body.messages).toEqual([{ role: 'user', content: 'Say hello to Ada.' }]);
  const record = await finishedRecord(stack, res.value.request_id);
  expect(record).toMatchObject({ template: { name, version: 1 } });
  // A variable the schema requires, absent: INVALID_ARGUMENT naming it under respond; an unknown template: NOT_FOUND.
  const bad = await unary(c.switchyard, 'ProcessRequest', { respond: { template: name } }, md());
  expect(!bad.ok && [bad.error.code, mdValue(bad.error.metadata, 'switchyard-error-param')]).toEqual([
    status.INVALID_ARGUMENT,
    'respond.variables.name',
  ]);
  const missing = await unary(c.switchyard, 'ProcessRequest', { respond: { template: 'no-such', variables } }, md());
  expect(!missing.ok && [missing.error.code, mdValue(missing.error.metadata, 'switchyard-error-param')]).toEqual([
    status.NOT_FOUND,
    'respond.template',
  ]);
});

const check = (clients: GrpcClients, service: string) =>
  new Promise<string>((resolve, reject) =>
    clients.health.Check({ service }, (err: Error | null, r: { status: string }) =>
      err ? reject(err) : resolve(r.status),
    ),
  );

it('grpc.health.v1 says SERVING; NOT_SERVING when the database fails', async () => {
  expect(await check(c, '')).toBe('SERVING');
  expect(await check(c, SERVICE_NAME)).toBe('SERVING');
  // The same stack, its database failing every statement.
  const failing = new Proxy(stack.db, {
    get: (db, key) =>
      key === 'query' ? () => Promise.reject(new Error('connection refused')) : Reflect.get(db, key, db),
  }) as Db;
  const down = await startGrpcServer({ ...stack.apiDeps, db: failing }, { port: 0, host: '127.0.0.1' });
  const dc = grpcClients(`127.0.0.1:${down.port}`);
  try {
    expect(await check(dc, '')).toBe('NOT_SERVING');
    expect(await check(dc, SERVICE_NAME)).toBe('NOT_SERVING');
  } finally {
    dc.close();
    await down.stop();
  }
});

it('reflection lists the service', async () => {
  const call = c.reflection.ServerReflectionInfo();
  const answer = new Promise<any>((resolve, reject) => {
    call.on('data', resolve);
    call.on('error', reject);
  });
  call.write({ list_services: '' });
  const r = await answer;
  call.end();
  const names = r.list_services_response.service.map((s: { name: string }) => s.name);
  expect(names).toContain(SERVICE_NAME);
});

describe('a Python client generated from the proto with grpcio-tools', () => {
  const GRPC_PY = '1.85.4';
  let py: PythonClient;
  let stubs: string;
  const run = promisify(execFile);

  beforeAll(async () => {
    py = await ensurePythonPackages({
      name: `py-grpcio-${GRPC_PY}`,
      requirements: [`grpcio==${GRPC_PY}`, `grpcio-tools==${GRPC_PY}`],
      marker: 'grpc_tools/__init__.py',
    });
    stubs = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-grpc-py-'));
    await run(
      py.python,
      ['-m', 'grpc_tools.protoc', `-I${PROTO_DIR}`, `--python_out=${stubs}`, `--grpc_python_out=${stubs}`, PROTO_FILE],
      { env: { ...process.env, ...py.env } },
    );
  }, 300_000);
  afterAll(() => stubs && fs.rmSync(stubs, { recursive: true, force: true }));

  const driver = async (scenario: string): Promise<Record<string, any>> => {
    const { stdout } = await run(
      py.python,
      [
        path.join(__dirname, '../support/py/grpc_client.py'),
        scenario,
        `127.0.0.1:${server.port}`,
        stack.apiKey,
        'oa/primary',
        stubs,
      ],
      // grpcio honours proxy variables: none applies to 127.0.0.1.
      { env: { ...process.env, ...py.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' } },
    );
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, any>;
  };

  it('chats', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT });
    const r = await driver('chat');
    expect(r).toMatchObject({ content: CONTENT, model: 'oa/primary', finish_reason: 'stop' });
    expect(r.header_request_id).toBe(r.request_id);
    expect(r.usage.output_tokens).toBeGreaterThan(0);
  });

  it('streams, and sees a cut stream end with UNAVAILABLE after its pieces', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT });
    expect(await driver('stream')).toMatchObject({ text: CONTENT, chunks: 10, finish_reason: 'stop' });
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 3 });
    const cut = await driver('stream');
    expect(cut).toMatchObject({ text: 'one two three', chunks: 3, code: 'UNAVAILABLE' });
    expect(cut.trailers['switchyard-error-code']).toBe('StreamInterrupted');
  });

  it('gets error statuses with the field at fault', async () => {
    expect(await driver('error')).toMatchObject({
      code: 'INVALID_ARGUMENT',
      param: 'chat.messages[0].role',
      unauthenticated: 'UNAUTHENTICATED',
    });
  });
});
