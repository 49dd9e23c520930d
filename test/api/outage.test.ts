/**
 * The API alone, with Temporal unreachable: validation answers without Temporal, and an outage
 * is a retryable 503 naming the dependency — never a 500.
 */
import type { Db } from '../../src/db';
import { upsertApiKey } from '../../src/db/apiKeys';
import { openTestDb, uniqueId } from '../support/db';
import { startOfflineApp, type OfflineApp } from '../support/offlineApp';

let db: Db;
let app: OfflineApp;
let base: string;
const key = `sk-sy-${uniqueId('outage')}`;

beforeAll(async () => {
  db = await openTestDb();
  await upsertApiKey(db, uniqueId('tenant'), key, 'test');
  // Nothing listens on port 1: nothing here may reach Temporal.
  app = await startOfflineApp(db, db);
  base = app.base;
});

afterAll(async () => {
  await app.stop();
  await db.close();
});

const post = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body,
  });

it('validates without Temporal: bad input is a 400 naming the field', async () => {
  const res = await post(JSON.stringify({ model: 'auto', messages: [{ role: 'user' }] }));
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { param: string } }).error.param).toBe('messages[0].content');
});

it('answers 400 when the body is not JSON', async () => {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'text/plain' },
    body: 'hello',
  });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/application\/json/);
});

it('turns a Temporal outage into a retryable 503', async () => {
  const res = await post(JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] }), {
    'Idempotency-Key': 'outage-1',
  });
  expect(res.status).toBe(503);
  const body = (await res.json()) as { error: { code: string; message: string; request_id: string } };
  expect(body.error.code).toBe('service_unavailable');
  expect(body.error.message).toMatch(/Temporal is unavailable/);
  // The request was stored first: a retry with the same key finds it, nothing is lost.
  expect(body.error.request_id).toMatch(/^idem-/);
});

it('answers unknown endpoints with a 404 in the OpenAI shape', async () => {
  const res = await fetch(`${base}/v1/nope`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(404);
  expect(((await res.json()) as { error: { type: string } }).error.type).toBe('not_found_error');
});
