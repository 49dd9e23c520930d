/**
 * Usage events: what the outbox costs a request's completion, and how fast the deliverer empties
 * a backlog into a webhook on 127.0.0.1 and a Redis stream.
 *   DATABASE_URL=postgres://… npm run bench:events   (PGlite when unset; Redis at REDIS_URL or 127.0.0.1:6379)
 * Completion: N requests, each finished as a provider call finishes them (the attempt recorded and
 * the request completed in one transaction: two events), concurrency 16 on PostgreSQL, 1 on PGlite.
 * Delivery: the resulting backlog (2N events) delivered by one EventDeliverer per sink, batches of 100.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { openDb, type Db } from '../src/db';
import { ensureTenant } from '../src/db/apiKeys';
import { migrate } from '../src/db/migrate';
import * as requests from '../src/db/requests';
import { EventSettingsSchema } from '../src/domain/events';
import { EventDeliverer } from '../src/services/eventDelivery';
import { UrlPolicy } from '../src/services/urlPolicy';

const N = Number(process.argv[2] ?? 2000);
const TENANTS = ['t1', 't2', 't3', 't4'];

async function open(): Promise<Db> {
  const base = process.env.DATABASE_URL;
  if (!base) return openDb({ pgliteDir: 'memory' });
  // A schema of its own: the server may be shared.
  const schema = `bench_events_${Date.now().toString(36)}`;
  const admin = await openDb({ databaseUrl: base });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return openDb({ databaseUrl: url.toString() });
}

async function complete(db: Db, i: number) {
  const requestId = `bench-${i}`;
  await requests.insertRequest(db, {
    requestId,
    workflowId: `wf-${requestId}`,
    tenantId: TENANTS[i % TENANTS.length]!,
    operation: 'chat',
    requestedModel: 'auto',
    body: { messages: [{ role: 'user', content: 'hello' }] },
    bodyHash: 'h',
  });
  const t0 = performance.now();
  await db.transaction(async (tx) => {
    await requests.recordAttempt(tx, requestId, {
      candidateIndex: 0,
      attempt: 1,
      provider: 'p',
      model: 'm',
      outcome: 'success',
      startedAt: new Date().toISOString(),
      latencyMs: 100,
      inputTokens: 10,
      outputTokens: 20,
      costUsd: 0.0001,
    });
    await requests.completeRequest(tx, requestId, {
      status: 'succeeded',
      provider: 'p',
      model: 'p/m',
      inputTokens: 10,
      outputTokens: 20,
      latencyMs: 120,
      response: { text: 'hi' },
    });
  });
  return performance.now() - t0;
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main() {
  const db = await open();
  await migrate(db);
  for (const t of TENANTS) await ensureTenant(db, t);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? (db.kind === 'postgres' ? 16 : 1));
  console.log(`database: ${db.kind}, node ${process.version}, ${N} requests, concurrency ${concurrency}`);

  const times: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < N) times.push(await complete(db, next++));
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const events = Number((await db.query<{ n: number }>('select count(*)::int as n from event_outbox')).rows[0]!.n);
  console.log(
    `completion (attempt + request, one transaction): p50 ${pct(times, 50).toFixed(2)} ms, p99 ${pct(times, 99).toFixed(2)} ms, ${(N / wall).toFixed(0)} requests/s; ${events} events in the outbox`,
  );

  let received = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      received += (JSON.parse(raw) as { events: unknown[] }).events.length;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const stream = `bench-events-${Date.now()}`;
  process.env.BENCH_EVENTS_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  process.env.BENCH_EVENTS_SECRET = 'bench-secret';
  const sinks = {
    webhook: {
      name: 'hook',
      type: 'webhook',
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      secretName: 'BENCH_EVENTS_SECRET',
    },
    redis: { name: 'stream', type: 'redis', urlName: 'BENCH_EVENTS_REDIS_URL', stream },
  };
  for (const [label, sink] of Object.entries(sinks)) {
    const settings = EventSettingsSchema.parse({ batchSize: 100, sinks: [sink] });
    const d = new EventDeliverer({
      db,
      sinkContext: { env: process.env, urlPolicy: new UrlPolicy(['127.0.0.1']) },
    });
    const start = performance.now();
    let delivered = 0;
    for (;;) {
      const r = await d.tick(settings);
      delivered += r.delivered;
      if (r.failed) throw new Error(`${label}: ${JSON.stringify(d.state())}`);
      if (!r.more) break;
    }
    const s = (performance.now() - start) / 1000;
    console.log(
      `delivery to ${label}: ${delivered} events in ${s.toFixed(2)} s, ${(delivered / s).toFixed(0)} events/s`,
    );
    await d.close();
  }
  const redis = new Redis(process.env.BENCH_EVENTS_REDIS_URL);
  console.log(`webhook received ${received}, stream length ${await redis.xlen(stream)}`);
  await redis.del(stream);
  redis.disconnect();
  server.close();
  await db.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
