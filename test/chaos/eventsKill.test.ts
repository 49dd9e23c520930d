/**
 * Chaos, usage events: the Switchyard process (worker and API, as `npm start` runs them) is killed
 * with SIGKILL while its events are pending — the webhook sink holding a POST unanswered, the rest
 * of the outbox not sent yet — then restarted, and more requests are made. The usageEvents
 * workflow's activity is retried on the new worker (after its heartbeat timeout) from the sink's
 * cursor in the database: the webhook receives every event id at least once, the de-duplicated set
 * equals the outbox, and the request.finished ids equal the recorded requests.
 * PGlite by default; a schema of its own in the PostgreSQL at DATABASE_URL when that is set.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { openDb } from '../../src/db';
import { CHAOS_KEY, chaosClient, until } from '../support/chaos';
import { isolatedDatabaseUrl } from '../support/db';
import { startOutside, type Outside } from '../support/outside';
import { freePort, killStack, stopStack, useProcesses, type Stack } from '../support/process';

const MODEL = 'gpt-4o-mini';
const SECRET_ENV = 'SY_CHAOS_EVENTS_SECRET';
const SECRET = 'chaos-events-secret-0123456789';

interface Event {
  id: string;
  seq: string;
  tenantId: string;
  type: string;
  data: Record<string, unknown>;
}

const procs = useProcesses();
let outside: Outside;
let stack: Stack | undefined;
let hook: http.Server;
/** 'hold': POSTs are received and never answered (the process dies waiting); 'ok': 204. */
let mode: 'hold' | 'ok' = 'hold';
let heldPosts = 0;
const accepted: Event[] = [];
const badSignatures: number[] = [];

beforeAll(async () => {
  outside = await startOutside('sy-chaos-events-');
  hook = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const ts = String(req.headers['x-switchyard-timestamp']);
      const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${raw}`).digest('hex')}`;
      if (req.headers['x-switchyard-signature'] !== expected) badSignatures.push(raw.length);
      if (mode === 'hold') {
        heldPosts++;
        return; // never answered: the sender's batch is not accepted
      }
      accepted.push(...(JSON.parse(raw) as { events: Event[] }).events);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  hook.closeAllConnections();
  await new Promise((r) => hook.close(r));
  await outside?.close();
});

it('kill -9 with events pending loses none: every event id delivered, the set equals the outbox and the requests', async () => {
  const port = await freePort();
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/events`;
  const configFile = path.join(outside.dataDir, 'switchyard.yaml');
  fs.writeFileSync(
    configFile,
    [
      'events:',
      '  pollMs: 100',
      '  batchSize: 10',
      '  sinks:',
      '    - name: hook',
      '      type: webhook',
      `      url: ${hookUrl}`,
      `      secretName: ${SECRET_ENV}`,
      '',
    ].join('\n'),
  );
  const databaseUrl = process.env.DATABASE_URL ? await isolatedDatabaseUrl() : undefined;
  const stackEnv = {
    SWITCHYARD_CONFIG: configFile,
    PORT: String(port),
    ...outside.processEnv(),
    SWITCHYARD_BOOTSTRAP_KEY: CHAOS_KEY,
    SWITCHYARD_URL_ALLOWLIST: '127.0.0.1',
    [SECRET_ENV]: SECRET,
    ...(databaseUrl && { DATABASE_URL: databaseUrl }),
  };
  outside.fake.setDefault(MODEL, { kind: 'ok', content: 'fine' });
  const client = chaosClient(port, 'events');
  const send = async (from: number, n: number) => {
    const res = await Promise.all(Array.from({ length: n }, (_, i) => client.send(from + i, MODEL)));
    expect(res.map((r) => r.status)).toEqual(Array(n).fill(200));
    return Promise.all(
      res.map(async (r) => ((await r.json()) as { switchyard: { request_id: string } }).switchyard.request_id),
    );
  };

  stack = await procs.start(stackEnv);
  const before = await send(0, 30);
  // The first batch is in flight, unanswered; 30 requests' events (and their attempts') are pending.
  await until(() => heldPosts >= 1);
  await killStack(stack);
  expect(accepted).toEqual([]);

  mode = 'ok';
  hook.closeAllConnections(); // the dead process's held POSTs
  stack = await procs.start(stackEnv);
  const after = await send(30, 10);
  const requestIds = new Set([...before, ...after]);
  // Delivery is in outbox order and a request's event follows its attempts': once every
  // request.finished has arrived, everything before it has too.
  await until(() => {
    const got = new Set(accepted.filter((e) => e.type === 'request.finished').map((e) => e.data.requestId));
    return [...requestIds].every((id) => got.has(id));
  }, 120_000);
  expect(await stopStack(stack)).toBe(0);
  stack = undefined;

  const db = await openDb(databaseUrl ? { databaseUrl } : { pgliteDir: path.join(outside.dataDir, 'pglite') });
  try {
    const outbox = (await db.query<{ id: string }>('select id from event_outbox')).rows.map((r) => r.id);
    const recorded = (await db.query<{ request_id: string }>('select request_id from requests')).rows.map(
      (r) => r.request_id,
    );
    const ids = new Set(accepted.map((e) => e.id));
    expect(ids).toEqual(new Set(outbox));
    expect(new Set(accepted.filter((e) => e.type === 'request.finished').map((e) => e.data.requestId))).toEqual(
      new Set(recorded),
    );
    expect(new Set(recorded)).toEqual(requestIds);
    // Each request: its attempt's event and its own (the kill came after they were recorded).
    expect(outbox.length).toBe(2 * requestIds.size);
  } finally {
    await db.close();
  }
  expect(badSignatures).toEqual([]);
});
