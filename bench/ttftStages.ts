/**
 * Where a streamed request's time to first token goes, one request at a time: each request's
 * stages from the client's send to its first token, read from the database statements the stack
 * sends (timed by wrapping its database, no change to the request path), `callModel`'s adapter
 * lookup (its first step: when the activity runs on its worker), the workflow's history (event
 * times) and the fake provider's record of the call; beside the same call made directly.
 * Switchyard as `npm start` assembles it (eager start, relay in memory), as `npm run bench:ttft`.
 *
 *   npm run bench:ttft:stages               (PGlite; N=30 requests, PIECE_MS=20)
 *   N=50 PIECE_MS=20 npm run bench:ttft:stages
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import OpenAI from 'openai';
import pino from 'pino';
import { benchDevServer } from './floor';
import { loadConfig } from '../src/config';
import type { Db } from '../src/db';
import { AdapterRegistry } from '../src/providers/registry';
import { startSwitchyard } from '../src/start/switchyard';
import { installRuntime } from '../src/start/worker';
import { startFakeProvider } from '../test/support/fakeProvider';
import { freePort } from '../test/support/process';

const N = Number(process.env.N ?? 30);
const PIECE_MS = Number(process.env.PIECE_MS ?? 20);
const WARMUP = 10;
const T = temporal.api.enums.v1.EventType;

interface Stmt {
  sql: string;
  start: number;
  end: number;
}

/**
 * When each provider adapter is looked up: `callModel`'s first step after reading the catalog
 * (nothing else on this path resolves an adapter), so it marks the activity running on its worker:
 * what lies between its scheduling and its first statement is dispatch, not the call's own steps.
 */
function timeAdapterLookups(): number[] {
  const log: number[] = [];
  const get = AdapterRegistry.prototype.get;
  AdapterRegistry.prototype.get = function (this: AdapterRegistry, p) {
    log.push(Date.now());
    return get.call(this, p);
  };
  return log;
}

/** Times every statement and transaction the stack sends (the same object every part was given). */
function timeStatements(db: Db): Stmt[] {
  const log: Stmt[] = [];
  const query = db.query.bind(db);
  const transaction = db.transaction.bind(db);
  const head = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 48);
  db.query = (async (sql: string, params?: unknown[]) => {
    const s: Stmt = { sql: head(sql), start: Date.now(), end: NaN };
    log.push(s);
    try {
      return await query(sql, params as never);
    } finally {
      s.end = Date.now();
    }
  }) as Db['query'];
  db.transaction = (async (fn: Parameters<Db['transaction']>[0]) => {
    const s: Stmt = { sql: 'transaction', start: Date.now(), end: NaN };
    log.push(s);
    try {
      return await transaction(fn);
    } finally {
      s.end = Date.now();
    }
  }) as Db['transaction'];
  return log;
}

const ms = (t: temporal.api.history.v1.IHistoryEvent | undefined) =>
  t?.eventTime ? Number(t.eventTime.seconds) * 1000 + (t.eventTime.nanos ?? 0) / 1e6 : NaN;
const median = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

/** The SDK's own histograms (ms): sum and count by name, from its Prometheus endpoint. */
async function sdkHistograms(url: string): Promise<Map<string, { sum: number; count: number }>> {
  const out = new Map<string, { sum: number; count: number }>();
  for (const line of (await (await fetch(url)).text()).split('\n')) {
    const m = /^(temporal_[a-z_]+)_(sum|count)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (!m) continue;
    const name =
      m[1]! + (/activity_type="([^"]+)"/.exec(m[3] ?? '')?.[1] ? ` ${/activity_type="([^"]+)"/.exec(m[3]!)![1]}` : '');
    const h = out.get(name) ?? { sum: 0, count: 0 };
    h[m[2] as 'sum' | 'count'] += Number(m[4]);
    out.set(name, h);
  }
  return out;
}

async function main(): Promise<void> {
  // The SDK's worker metrics on a loopback port (installRuntime keeps a runtime already installed).
  const metricsPort = await freePort();
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: {
      logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} },
      metrics: { prometheus: { bindAddress: `127.0.0.1:${metricsPort}` } },
    },
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  installRuntime('ERROR');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-ttft-stages-'));
  const lookups = timeAdapterLookups();
  const fake = await startFakeProvider('openai');
  fake.setDefault('*', { kind: 'ok', content: 'one two three four five', pieceDelayMs: PIECE_MS });
  const dev = await benchDevServer(dataDir);
  const key = 'sk-bench-0000000000000000';
  const app = await startSwitchyard(
    loadConfig({
      ...process.env,
      PORT: String(await freePort()),
      SWITCHYARD_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: dev.address,
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_BASE_URL: fake.url,
      SWITCHYARD_BOOTSTRAP_KEY: key,
      LOG_LEVEL: 'warn',
      REDIS_URL: '',
    }),
    { role: 'all', logger: pino({ level: 'warn' }) },
  );
  const statements = timeStatements(app.db);
  const temporalClient = new Client({ connection: await Connection.connect({ address: dev.address }) });
  const via = new OpenAI({ apiKey: key, baseURL: `${app.apiUrl}/v1`, maxRetries: 0, timeout: 120_000 });
  const direct = new OpenAI({ apiKey: 'sk-bench', baseURL: fake.url, maxRetries: 0 });

  /** One streamed request: send time, response time (headers), first token, workflow id. */
  const stream = async (client: OpenAI, model: string) => {
    const t0 = Date.now();
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'Hello' }], stream: true })
      .withResponse();
    const headers = Date.now();
    let first = NaN;
    for await (const c of data) if (Number.isNaN(first) && c.choices[0]?.delta.content) first = Date.now();
    return { t0, headers, first, end: Date.now(), workflowId: response.headers.get('x-switchyard-workflow-id') };
  };

  for (let i = 0; i < WARMUP; i++) {
    await stream(direct, 'gpt-4o-mini');
    await stream(via, 'openai/gpt-4o-mini');
  }

  // Direct: the call's arrival at the provider and its first token, from the client's send.
  const directRows: Array<{ arrive: number; first: number }> = [];
  for (let i = 0; i < N; i++) {
    const calls = fake.calls.length;
    const r = await stream(direct, 'gpt-4o-mini');
    directRows.push({ arrive: fake.calls[calls]!.at - r.t0, first: r.first - r.t0 });
  }

  // The HTTP round trip alone: an authenticated GET through the same client and API.
  const rtt: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = Date.now();
    await via.models.list();
    rtt.push(Date.now() - t0);
  }

  // Through Switchyard: every stage boundary, relative to the client's send.
  const sdk0 = await sdkHistograms(metricsUrl);
  // The series' window on the monotonic clock (µs), as --cpu-prof's samples are timed: to read a profile of it.
  const window0 = process.hrtime.bigint() / 1000n;
  const stages: Record<string, number[]> = {};
  const note = (name: string, v: number) => (stages[name] ??= []).push(v);
  const unknownStatements = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const from = statements.length;
    const calls = fake.calls.length;
    const r = await stream(via, 'openai/gpt-4o-mini');
    const mine = statements.slice(from).filter((s) => s.start <= r.first);
    const find = (prefix: string) => mine.find((s) => s.sql.startsWith(prefix));
    const history = (await temporalClient.workflow.getHandle(r.workflowId!).fetchHistory()).events ?? [];
    const at = (type: temporal.api.enums.v1.EventType, nth = 0) => ms(history.filter((e) => e.eventType === type)[nth]);
    const insert = find('insert into requests');
    const body = find('select operation, body');
    const decision = find('update requests set classification');
    // A plain call reserves and records in one statement; a stream records its attempt first.
    const reserve = find('with res as') ?? find('with started as');
    const arrive = fake.calls[calls]!.at;
    // callModel's adapter lookup: the last one before its first statement.
    const running = reserve && lookups.filter((t) => t >= r.t0 && t <= reserve.start).at(-1);
    for (const s of mine)
      if (![insert, body, decision, reserve].includes(s))
        unknownStatements.set(s.sql, (unknownStatements.get(s.sql) ?? 0) + 1);
    const rel = (t: number | undefined) => (t === undefined ? NaN : t - r.t0);
    note('API received → body stored: insert starts', rel(insert?.start));
    note('body stored: insert ends', rel(insert?.end));
    note('workflow started (event time)', rel(at(T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)));
    note('first workflow task started', rel(at(T.EVENT_TYPE_WORKFLOW_TASK_STARTED)));
    note('decideRoute reads the body: starts', rel(body?.start));
    note('decideRoute writes the decision: ends', rel(decision?.end));
    note('first workflow task completed', rel(at(T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)));
    note('callModel scheduled', rel(at(T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)));
    // (ActivityTaskStarted's time is left out: an eagerly dispatched activity's started event is
    // written with its completion, and its time did not order with the statements.)
    note('callModel running on its worker: resolves its adapter', rel(running));
    note('callModel reserves, records the attempt: starts', rel(reserve?.start));
    note('… ends', rel(reserve?.end));
    note('provider receives the call', rel(arrive));
    note('client: response headers', r.headers - r.t0);
    note('client: first token', r.first - r.t0);
  }

  const window1 = process.hrtime.bigint() / 1000n;
  const sdk1 = await sdkHistograms(metricsUrl);
  const sdkRows = [...sdk1]
    .map(([name, h]) => {
      const b = sdk0.get(name) ?? { sum: 0, count: 0 };
      return { name, count: h.count - b.count, mean: (h.sum - b.sum) / (h.count - b.count) };
    })
    .filter((r) => r.count > 0 && /latency/.test(r.name));
  const d = { arrive: median(directRows.map((x) => x.arrive)), first: median(directRows.map((x) => x.first)) };
  const rows = Object.entries(stages).map(([name, xs]) => [name, median(xs)] as const);
  const lines = [
    `bench:ttft:stages, node ${process.version}, ${os.cpus().length} cores, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, N=${N}, first piece after ${PIECE_MS} ms, ${new Date().toISOString()}`,
    '',
    `direct: provider receives the call at ${d.arrive.toFixed(1)} ms, first token at ${d.first.toFixed(1)} ms (medians)`,
    '',
    '| through Switchyard: stage reached (median, ms from the client send) | at | since the row before |',
    '| --- | ---: | ---: |',
    ...rows.map(([name, v], i) => `| ${name} | ${v.toFixed(1)} | ${i ? (v - rows[i - 1]![1]).toFixed(1) : '—'} |`),
    '',
    `added before the provider sees the call: ${(rows.find(([n]) => n === 'provider receives the call')![1] - d.arrive).toFixed(1)} ms; ` +
      `after it (relay to the client): ${(rows.find(([n]) => n === 'client: first token')![1] - rows.find(([n]) => n === 'provider receives the call')![1] - (d.first - d.arrive)).toFixed(1)} ms`,
    `the series ran from ${window0} to ${window1} µs on the monotonic clock (--cpu-prof's sample times)`,
    `HTTP round trip of GET /v1/models through the API (median): ${median(rtt).toFixed(1)} ms`,
    '',
    "| the SDK's own latency histograms over these requests | count | mean ms |",
    '| --- | ---: | ---: |',
    ...sdkRows.map((r) => `| ${r.name} | ${r.count} | ${r.mean.toFixed(1)} |`),
    '',
    `other statements before the first token (count over ${N} requests): ${[...unknownStatements].map(([s, n]) => `${s} ×${n}`).join('; ') || 'none'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  await app.stop();
  await temporalClient.connection.close();
  await dev.stop();
  await fake.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
