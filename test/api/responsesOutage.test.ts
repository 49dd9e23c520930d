/**
 * The Responses API's routes over HTTP with the database failing under them: every read and
 * write of a response (create's chain and item references, GET, input items, cancel's and
 * delete's marks) answers a retryable 503 naming the database, as chat does, never a 500.
 * Only the statements on the `responses` table fail, so authentication still works.
 */
import type { Db, Queryable } from '../../src/db';
import { upsertApiKey } from '../../src/db/apiKeys';
import { insertRequest } from '../../src/db/requests';
import { insertResponse } from '../../src/db/responses';
import { openTestDb, uniqueId } from '../support/db';
import { startOfflineApp, type OfflineApp } from '../support/offlineApp';

let db: Db;
let app: OfflineApp;
let base: string;
/** The statements that fail while set (matched on their SQL). */
let failing: RegExp | undefined;
const key = `sk-sy-${uniqueId('resp-outage')}`;
const tenant = uniqueId('tenant');

/** The database, failing the statements `failing` matches as a lost connection does. */
function flaky(inner: Db): Db {
  const wrap = (q: Queryable): Queryable => ({
    query: (sql, params) => {
      if (failing?.test(sql)) return Promise.reject(new Error('connection terminated unexpectedly'));
      return q.query(sql, params);
    },
    exec: (sql) => q.exec(sql),
  });
  return {
    ...wrap(inner),
    kind: inner.kind,
    transaction: (fn) => inner.transaction((tx) => fn(wrap(tx))),
    close: () => inner.close(),
  };
}

/** A stored response, as a create leaves it (background: still in flight). */
async function stored(background: boolean): Promise<string> {
  const requestId = uniqueId('r');
  await insertRequest(db, {
    requestId,
    workflowId: `req-${requestId}`,
    tenantId: tenant,
    operation: 'chat',
    requestedModel: 'auto',
    body: { model: 'auto', messages: [{ role: 'user', content: 'Hi' }] },
    bodyHash: 'h',
  });
  await insertResponse(db, {
    id: `resp_${requestId}`,
    requestId,
    tenantId: tenant,
    background,
    store: true,
    hasInstructions: false,
    params: { model: 'auto' },
    inputItems: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }],
  });
  return `resp_${requestId}`;
}

beforeAll(async () => {
  db = await openTestDb();
  await upsertApiKey(db, tenant, key, 'test');
  // Nothing listens on port 1: nothing here may reach Temporal.
  app = await startOfflineApp(flaky(db), db);
  base = app.base;
});

afterEach(() => {
  failing = undefined;
});

afterAll(async () => {
  await app.stop();
  await db.close();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
}

const unavailable = {
  status: 503,
  body: { error: { code: 'service_unavailable', message: expect.stringMatching(/^database is unavailable/) } },
};

it('reading a response (GET, input items, and before a cancel or delete) is a 503 naming the database', async () => {
  const id = await stored(true);
  failing = /\bresponses\b/;
  expect(await call('GET', `/responses/${id}`)).toMatchObject(unavailable);
  expect(await call('GET', `/responses/${id}/input_items`)).toMatchObject(unavailable);
  expect(await call('POST', `/responses/${id}/cancel`)).toMatchObject(unavailable);
  expect(await call('DELETE', `/responses/${id}`)).toMatchObject(unavailable);
  // Back: found again, untouched.
  failing = undefined;
  expect(await call('GET', `/responses/${id}`)).toMatchObject({ status: 200, body: { id, status: 'queued' } });
});

it("a create's previous response and item references, read from the database, are a 503 when it fails", async () => {
  const id = await stored(false);
  failing = /\bresponses\b/;
  expect(await call('POST', '/responses', { model: 'auto', input: 'next', previous_response_id: id })).toMatchObject(
    unavailable,
  );
  const ref = { type: 'item_reference', id: `msg_${id.replace(/^resp_/, '')}_in0` };
  expect(await call('POST', '/responses', { model: 'auto', input: [ref] })).toMatchObject(unavailable);
});

it("cancel's and delete's marks are a 503 when their write fails, and change nothing", async () => {
  const running = await stored(true);
  const answered = await stored(false);
  failing = /^\s*(with marked as \(\s*)?update responses\b/;
  expect(await call('POST', `/responses/${running}/cancel`)).toMatchObject(unavailable);
  expect(await call('DELETE', `/responses/${answered}`)).toMatchObject(unavailable);
  failing = undefined;
  expect(await call('GET', `/responses/${running}`)).toMatchObject({ status: 200, body: { status: 'queued' } });
  expect((await call('GET', `/responses/${answered}`)).status).toBe(200);
});
