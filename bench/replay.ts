/**
 * Replay benchmark: POST /v1/policy/replay over N recorded requests (written as the recorder
 * writes them), through the real API and database. Reports the median of 5 runs per size.
 *   npm run bench:replay            (PGlite; DATABASE_URL=… for PostgreSQL)
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { ConfigStore } from '../src/services/configStore';
import { openDb } from '../src/db';
import { upsertApiKey } from '../src/db/apiKeys';
import { migrate } from '../src/db/migrate';
import { defaultCatalog } from '../src/domain/catalog';
import { classify } from '../src/domain/classify';
import { decide, type PolicyInput } from '../src/domain/policy';

const SIZES = [1_000, 10_000];
const RUNS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const db = await openDb(
    process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : { pgliteDir: 'memory' },
  );
  await migrate(db);
  const catalog = defaultCatalog({ openai: {}, anthropic: {}, simulated: true });
  const store = new ConfigStore(db, {
    kind: 'default',
    read: () => ({
      catalog,
      rules: [
        {
          id: 'math',
          when: [{ field: 'subject', op: 'eq', value: 'mathematics' }],
          targets: [{ model: 'anthropic/claude-sonnet-4-5' }, { model: 'openai/gpt-4o' }],
        },
      ],
    }),
  });
  const { version, config } = await store.init();
  const tenant = `bench-${Date.now()}`;
  const key = `sk-sy-${tenant}-admin-key`;
  await upsertApiKey(db, tenant, key, 'bench', 'admin');

  const subjects = ['mathematics', 'history', 'science', undefined];
  const prompts = [
    'Solve 3x + 4 = 19',
    'Summarize the causes of World War I',
    'Write a poem about rain',
    'Refactor this TypeScript function',
  ];
  let inserted = 0;
  const insertUpTo = async (n: number) => {
    for (; inserted < n; inserted++) {
      const classification = classify({
        operation: 'chat',
        messages: [{ role: 'user', content: `${prompts[inserted % 4]} (${inserted})` }],
      });
      const input: PolicyInput = {
        requestId: `${tenant}-${inserted}`,
        requestedModel: 'auto',
        operation: 'chat',
        capability: 'chat',
        maxOutputTokens: 512,
        needsJson: false,
        now: new Date().toISOString(),
        context: {
          tenantId: tenant,
          compliance: [],
          excludeProviders: [],
          metadata: {},
          ...(subjects[inserted % 4] && { subject: subjects[inserted % 4] }),
          ...(inserted % 7 === 0 && { region: 'EU' as const }),
        },
      };
      await db.query(
        `insert into requests (request_id, workflow_id, tenant_id, operation, requested_model, body, body_hash, status, classification, decision, decision_input, config_version)
         values ($1, $2, $3, 'chat', 'auto', '{}', 'h', 'succeeded', $4, $5, $6, $7)`,
        [
          input.requestId,
          `req-${input.requestId}`,
          tenant,
          JSON.stringify(classification),
          JSON.stringify(decide(input, classification, config)),
          JSON.stringify(input),
          version,
        ],
      );
    }
  };

  // Replay reads only Postgres: the Temporal client is never called.
  const connection = Connection.lazy({ address: '127.0.0.1:1' });
  const app = createApp({
    db,
    client: new Client({ connection }),
    taskQueue: 'bench',
    requestTimeoutMs: 1_000,
    configStore: store,
    logger: pino({ level: 'silent' }),
  });
  const server = await new Promise<Server>((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  // Inserting the next batch can take longer than the default 5 s keep-alive: keep the socket.
  server.keepAliveTimeout = 120_000;
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/policy/replay`;
  const proposal = {
    changes: {
      rules: [
        {
          id: 'math',
          when: [{ field: 'subject', op: 'eq', value: 'mathematics' }],
          targets: [{ model: 'openai/gpt-4o' }],
        },
      ],
      routing: { defaultStrategy: 'quality' },
    },
  };

  console.log(`database: ${db.kind}, node ${process.version}`);
  console.log('| recorded requests | replay, server (median ms) | replay, HTTP round trip (median ms) | changed |');
  console.log('| ---: | ---: | ---: | ---: |');
  for (const n of SIZES) {
    await insertUpTo(n);
    const server_: number[] = [];
    const wall: number[] = [];
    let changed = 0;
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...proposal, limit: n, tenantId: tenant }),
      });
      const body = (await res.json()) as { elapsed_ms: number; changed: number; evaluated: number };
      wall.push(performance.now() - t0);
      server_.push(body.elapsed_ms);
      changed = body.changed;
      if (body.evaluated !== n) throw new Error(`evaluated ${body.evaluated}, expected ${n}`);
    }
    console.log(`| ${n.toLocaleString('en')} | ${median(server_)} | ${median(wall).toFixed(0)} | ${changed} |`);
  }
  server.close();
  await connection.close();
  await db.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
