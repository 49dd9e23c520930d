/**
 * Usage events over real transports, with the usageEvents workflow running in the stack's worker:
 * requests of two tenants become request.finished and attempt.finished events delivered to a
 * webhook on 127.0.0.1 (signed: HMAC-SHA256 over "<timestamp>.<body>") and to a Redis stream on
 * 127.0.0.1:6379, each in order per tenant, the de-duplicated ids equal to the outbox's and the
 * request.finished ids to the recorded requests. Then the webhook goes down (HTTP 500, then a
 * refused connection): its backlog is held while Redis keeps receiving; it comes back and catches
 * up, in order per tenant.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { upsertApiKey } from '../../src/db/apiKeys';
import { ensureUsageEvents } from '../../src/clients/usageEvents';
import { uniqueId } from '../support/db';
import { recordHistory } from '../support/histories';
import { fakeCatalog, fakeModel, testRedisUrl, useTestStack } from '../support/stack';

const SECRET_ENV = 'SY_TEST_EVENTS_WEBHOOK_SECRET';
const SECRET = 'test-events-secret-0123456789';
const REDIS_ENV = 'SY_TEST_EVENTS_REDIS_URL';
const stream = uniqueId('sy-test-events');
const workflowId = uniqueId('usage-events');
const otherTenant = uniqueId('other');
const otherKey = `sk-sy-${uniqueId('other')}`;
let firstRunId: string | undefined;

interface Event {
  id: string;
  seq: string;
  tenantId: string;
  type: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

/** What the webhook answers: 'ok' (204), 'error' (500). */
let mode: 'ok' | 'error' = 'ok';
const accepted: Event[] = [];
let refusedPosts = 0;
const badSignatures: string[] = [];
let port = 0;
let hook: http.Server;
const startHook = () =>
  new Promise<void>((resolve) => {
    hook = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        const ts = String(req.headers['x-switchyard-timestamp']);
        const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${raw}`).digest('hex')}`;
        if (req.headers['x-switchyard-signature'] !== expected) badSignatures.push(raw.slice(0, 80));
        if (mode === 'error') {
          refusedPosts++;
          res.writeHead(500).end();
          return;
        }
        accepted.push(...(JSON.parse(raw) as { events: Event[] }).events);
        res.writeHead(204).end();
      });
    });
    hook.listen(port, '127.0.0.1', () => {
      port = (hook.address() as AddressInfo).port;
      resolve();
    });
  });

const redis = new Redis(testRedisUrl(), { lazyConnect: true });

beforeAll(async () => {
  process.env[SECRET_ENV] = SECRET;
  process.env[REDIS_ENV] = testRedisUrl();
  await startHook();
});
afterAll(async () => {
  if (hook.listening) await new Promise((r) => hook.close(r));
  await redis.del(stream);
  redis.disconnect();
});

const stack = useTestStack(
  () => ({
    catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'a', { qualityTier: 3 })]),
    config: {
      retry: { default: { maximumAttempts: 1, timeoutMs: 10_000 } },
      events: {
        pollMs: 100,
        batchSize: 7,
        sinks: [
          { name: 'hook', type: 'webhook', url: `http://127.0.0.1:${port}/events`, secretName: SECRET_ENV },
          { name: 'stream', type: 'redis', urlName: REDIS_ENV, stream, maxLen: 100_000 },
        ],
      },
    },
  }),
  { timeout: 120_000 },
);

beforeAll(async () => {
  await upsertApiKey(stack.db, otherTenant, otherKey, 'other');
  // Short runs: the test sees the workflow start its activity again and continue as new.
  firstRunId = await ensureUsageEvents(stack.env.client, stack.taskQueue, undefined, workflowId, {
    runForMs: 1_500,
    maxRuns: 2,
  });
});

const chat = async (tenant: 'main' | 'other', content: string): Promise<string> => {
  const res = await stack.post(
    '/chat/completions',
    { model: 'auto', messages: [{ role: 'user', content }] },
    tenant === 'other' ? { authorization: `Bearer ${otherKey}` } : {},
  );
  expect(res.status).toBe(200);
  return res.body.switchyard.request_id as string;
};
const traffic = async (n: number, tag: string) => {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 2)
    ids.push(...(await Promise.all([chat('main', `${tag} ${i}`), chat('other', `${tag} ${i + 1}`)])));
  return ids;
};

async function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > end) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const outboxIds = async () =>
  new Set((await stack.db.query<{ id: string }>('select id from event_outbox')).rows.map((r) => r.id));
const streamEvents = async (): Promise<Event[]> =>
  (await redis.xrange(stream, '-', '+')).map(([, fields]) => {
    const f = Object.fromEntries(fields.map((v, i) => (i % 2 ? [] : [v, fields[i + 1]])).filter((x) => x.length));
    return {
      id: f.id!,
      seq: f.seq!,
      tenantId: f.tenant!,
      type: f.type!,
      occurredAt: f.occurred_at!,
      data: JSON.parse(f.data!) as Record<string, unknown>,
    };
  });
/** Each event's first delivery, in the order received. */
const firstSeen = (events: Event[]) => {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id));
};
/** Per tenant, positions strictly increasing in the order first received. */
const expectOrderedPerTenant = (events: Event[]) => {
  const last = new Map<string, number>();
  for (const e of firstSeen(events)) {
    expect(Number(e.seq)).toBeGreaterThan(last.get(e.tenantId) ?? 0);
    last.set(e.tenantId, Number(e.seq));
  }
};
const requestIdsOf = (events: Event[]) =>
  new Set(events.filter((e) => e.type === 'request.finished').map((e) => e.data.requestId as string));

it('delivers every event, signed, to the webhook and the Redis stream, in order per tenant', async () => {
  const ids = await traffic(20, 'first');
  await until('all delivered', async () => {
    const all = await outboxIds();
    return (
      all.size >= 40 &&
      new Set(accepted.map((e) => e.id)).size === all.size &&
      new Set((await streamEvents()).map((e) => e.id)).size === all.size
    );
  });
  const all = await outboxIds();
  expect(new Set(accepted.map((e) => e.id))).toEqual(all);
  expect(new Set((await streamEvents()).map((e) => e.id))).toEqual(all);
  expect(requestIdsOf(accepted)).toEqual(new Set(ids));
  expect(badSignatures).toEqual([]);
  expectOrderedPerTenant(accepted);
  expectOrderedPerTenant(await streamEvents());
  expect(new Set(accepted.map((e) => e.tenantId))).toEqual(new Set([stack.tenantId, otherTenant]));
  const finished = accepted.find((e) => e.type === 'request.finished' && e.data.requestId === ids[0])!;
  expect(finished).toMatchObject({
    tenantId: stack.tenantId,
    data: { status: 'succeeded', provider: 'oa', model: 'oa/a', cacheHit: false },
  });
  expect(finished.data.inputTokens).toEqual(expect.any(Number));
  // An attempt precedes its request's event.
  const attempt = firstSeen(accepted).find((e) => e.type === 'attempt.finished' && e.data.requestId === ids[0])!;
  expect(Number(attempt.seq)).toBeLessThan(Number(finished.seq));
  expect(JSON.stringify(accepted)).not.toContain('first 0'); // no prompt
});

it('holds a down webhook’s backlog while Redis goes on, then catches up in order per tenant', async () => {
  mode = 'error';
  const before = accepted.length;
  const down = await traffic(10, 'while 500');
  // Redis has them; the webhook refused them (and was retried).
  await until('redis has the new requests', async () => {
    const got = requestIdsOf(await streamEvents());
    return down.every((id) => got.has(id));
  });
  await until('webhook retried', async () => refusedPosts >= 2);
  expect(accepted.length).toBe(before);
  // Now refusing connections altogether.
  const closed = new Promise((r) => hook.close(r));
  hook.closeAllConnections();
  await closed;
  const refused = await traffic(6, 'while closed');
  const backlog = await stack.db.query<{ n: number }>(
    `select count(*)::int as n from event_outbox where pos is null or pos > (select delivered_pos from event_sinks where name = 'hook')`,
  );
  expect(Number(backlog.rows[0]!.n)).toBeGreaterThanOrEqual(32); // 16 requests and their attempts
  mode = 'ok';
  await startHook(); // the same port
  await until('caught up', async () => {
    const all = await outboxIds();
    return new Set(accepted.map((e) => e.id)).size === all.size && all;
  });
  expect(new Set(accepted.map((e) => e.id))).toEqual(await outboxIds());
  const got = requestIdsOf(accepted);
  expect([...down, ...refused].every((id) => got.has(id))).toBe(true);
  expectOrderedPerTenant(accepted);
  expect(badSignatures).toEqual([]);
  // By now the workflow's first run has run its activity twice and continued as new.
  const first = stack.env.client.workflow.getHandle(workflowId, firstRunId);
  await until('continued as new', async () => (await first.describe()).status.name === 'CONTINUED_AS_NEW');
  await recordHistory('usage-events', first);
  await stack.env.client.workflow.getHandle(workflowId).terminate('test over');
});
