/**
 * What the request path costs over Temporal's own floor, measured side by side in one run against
 * one Temporal dev server (file-backed, as `npm start` runs it) and one fake provider:
 *   direct  the official `openai` client straight to the fake provider
 *   bare    a workflow whose only step is one activity making that call (Temporal's floor)
 *   bare-eager       the same, started eagerly (client on the worker's connection, as `npm start` does)
 *   bare-local       the same with a plain start and the call as a local activity
 *   bare-local-eager eager start and the call as a local activity: the floor of a fast path
 *                    (BENCHMARKS.md's step 4 "bare-local" row was this one: it was started eagerly)
 *   bare-other-queue the activity on another task queue (as Switchyard's per-provider queues put it)
 *   full    Switchyard as `npm start` assembles it: HTTP → API → routeRequest → callModel → provider
 * Reports p50/p95/p99 at concurrency 1 and 32, throughput at 32, history events per request, and
 * the full path against each floor measured: its c=1 p50 overhead ratio, (full − direct) ÷
 * (floor − direct), and its c=32 throughput ratio, full ÷ floor (issue 24's targets: ≤ 1.5× and
 * ≥ 0.8 against the eager floors).
 *
 *   npm run bench:overhead                      (PGlite; DATABASE_URL=… for PostgreSQL)
 *   N1=100 N32=640 npm run bench:overhead       (requests per measurement)
 *   PATHS=direct,bare-eager,bare-local-eager,full npm run bench:overhead   (only these)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import OpenAI from 'openai';
import pino from 'pino';
import { benchDevServer, processCpuMs, startBareWorkers } from './floor';
import { loadConfig } from '../src/config';
import { startSwitchyard } from '../src/start/switchyard';
import { installRuntime } from '../src/start/worker';
import { startFakeProvider } from '../test/support/fakeProvider';
import { freePort } from '../test/support/process';

const N1 = Number(process.env.N1 ?? 100);
const N32 = Number(process.env.N32 ?? 640);
const WARMUP = 40;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface Measured {
  n: number;
  /** CPU per request: this process (client, API, worker, PGlite) and the Temporal dev server. */
  cpuMs: number;
  serverCpuMs: number;
  concurrency: number;
  p50: number;
  p95: number;
  p99: number;
  rps: number;
  errors: number;
}

let serverPid = 0;

async function measure(fn: (i: number) => Promise<unknown>, n: number, concurrency: number): Promise<Measured> {
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const server0 = processCpuMs(serverPid);
  let next = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        try {
          await fn(i);
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const cpu = process.cpuUsage(cpu0);
  return {
    n,
    cpuMs: (cpu.user + cpu.system) / 1000 / n,
    serverCpuMs: (processCpuMs(serverPid) - server0) / n,
    concurrency,
    p50: pct(sorted, 50),
    p95: pct(sorted, 95),
    p99: pct(sorted, 99),
    rps: latencies.length / elapsed,
    errors,
  };
}

async function main(): Promise<void> {
  installRuntime('ERROR');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-'));
  const fake = await startFakeProvider('openai');
  const dev = await benchDevServer(dataDir);
  serverPid = dev.serverPid;
  const logger = pino({ level: 'warn' });

  // direct: the provider through its official SDK.
  const direct = new OpenAI({ apiKey: 'sk-bench', baseURL: fake.url, maxRetries: 0 });
  const ask = (content: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] });

  // bare: one workflow, one activity, on the same dev server.
  const bareWorkers = await startBareWorkers(dev.address, fake.url);
  const native = bareWorkers.native;
  const client = new Client({ connection: await Connection.connect({ address: dev.address }) });
  // The same floor with eager start: a client on the worker's own native connection.
  const eagerClient = new Client({ connection: native });
  let bareIds = 0;
  const bareWith =
    (c: Client, eager: boolean, type = 'bareWorkflow') =>
    async () => {
      const id = `bare-${process.pid}-${bareIds++}`;
      await c.workflow.execute(type, {
        taskQueue: 'bench-bare',
        workflowId: id,
        args: ['Hello'],
        requestEagerStart: eager,
      });
      return id;
    };
  const bare = bareWith(client, false);

  // full: Switchyard as `npm start` runs it, pointed at this dev server and the fake provider.
  const port = await freePort();
  const key = 'sk-bench-0000000000000000';
  const app = await startSwitchyard(
    loadConfig({
      ...process.env,
      PORT: String(port),
      SWITCHYARD_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: dev.address,
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_BASE_URL: fake.url,
      SWITCHYARD_BOOTSTRAP_KEY: key,
      LOG_LEVEL: 'warn',
    }),
    { role: 'all', logger },
  );
  const viaSwitchyard = new OpenAI({ apiKey: key, baseURL: `${app.apiUrl}/v1`, maxRetries: 0, timeout: 120_000 });
  const fullWith = (headers: Record<string, string>) => async () => {
    const { response } = await viaSwitchyard.chat.completions
      .create({ ...ask('Hello'), model: 'auto' }, { headers })
      .withResponse();
    return response.headers.get('x-switchyard-workflow-id')!;
  };
  const paths: Array<[string, () => Promise<unknown>]> = [
    ['direct', () => direct.chat.completions.create(ask('Hello'))],
    ['bare', bare],
    ['bare-eager', bareWith(eagerClient, true)],
    ['bare-local', bareWith(client, false, 'bareLocalWorkflow')],
    ['bare-local-eager', bareWith(eagerClient, true, 'bareLocalWorkflow')],
    ['bare-other-queue', bareWith(eagerClient, true, 'bareOtherQueueWorkflow')],
    ['full', fullWith({})],
  ];

  // PATHS=full,bare measures only those (e.g. under a profiler); the ratios need the paths they compare.
  const only = process.env.PATHS?.split(',');
  if (only) {
    const unknown = only.filter((n) => !paths.some(([name]) => name === n));
    if (unknown.length)
      throw new Error(`PATHS: unknown ${unknown.join(', ')} (known: ${paths.map(([n]) => n).join(', ')})`);
    paths.splice(0, paths.length, ...paths.filter(([name]) => only.includes(name)));
  }
  for (const [, fn] of paths) await measure(fn, WARMUP, 4);
  const results: Record<string, { c1: Measured; c32: Measured; events?: number }> = {};
  for (const [name, fn] of paths) results[name] = { c1: await measure(fn, N1, 1) } as (typeof results)[string];
  for (const [name, fn] of paths) results[name]!.c32 = await measure(fn, N32, 32);
  // History events of one more request of each workflow path (each returns its workflow id).
  for (const [name, fn] of paths) {
    if (name === 'direct') continue;
    const id = (await fn()) as string;
    results[name]!.events = (await client.workflow.getHandle(id).fetchHistory()).events?.length ?? 0;
  }

  const ms = (x: number) => x.toFixed(1);
  const directR = results.direct;
  const FLOORS = ['bare', 'bare-eager', 'bare-local', 'bare-local-eager', 'bare-other-queue'] as const;
  const ratios = (['full'] as const).flatMap((name) => {
    const fullR = results[name];
    if (!fullR) return [];
    return FLOORS.filter((f) => results[f]).map((f) => {
      const floor = results[f]!;
      // (full − direct) ÷ (floor − direct) at c=1 p50: how many floors' worth of overhead the full path adds.
      const over = directR ? (fullR.c1.p50 - directR.c1.p50) / (floor.c1.p50 - directR.c1.p50) : undefined;
      const tput = fullR.c32.rps / floor.c32.rps;
      return {
        name,
        f,
        over,
        tput,
        line:
          `${name}/${f}: c=1 p50 ${(fullR.c1.p50 / floor.c1.p50).toFixed(2)}×` +
          (over === undefined
            ? ''
            : `, c=1 p50 overhead ${over.toFixed(2)}× (${ms(fullR.c1.p50 - directR!.c1.p50)} ÷ ${ms(floor.c1.p50 - directR!.c1.p50)} ms)`) +
          `, c=32 throughput ${tput.toFixed(2)}× (${(100 * tput).toFixed(0)} %)` +
          (fullR.events !== undefined && floor.events !== undefined
            ? `, history events ${fullR.events - floor.events >= 0 ? '+' : ''}${fullR.events - floor.events}`
            : ''),
      };
    });
  });
  // Issue 24's targets against the eager floors (benchmarks, not tests: one run says little on this machine).
  const targets = ratios
    .filter((r) => r.f === 'bare-eager' || r.f === 'bare-local-eager')
    .flatMap((r) => [
      ...(r.over === undefined
        ? []
        : [
            `target: ${r.name} c=1 p50 overhead ≤ 1.5× ${r.f}'s: ${r.over.toFixed(2)}× ${r.over <= 1.5 ? 'met' : 'not met'}`,
          ]),
      ...(r.f === 'bare-eager'
        ? [
            `target: ${r.name} c=32 throughput ≥ 0.8× ${r.f}'s: ${r.tput.toFixed(2)}× ${r.tput >= 0.8 ? 'met' : 'not met'}`,
          ]
        : []),
    ]);
  const lines = [
    `node ${process.version}, ${os.cpus().length} cores, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, N1=${N1} N32=${N32}, ${new Date().toISOString()}`,
    '',
    '| path | c=1 p50 | c=1 p95 | c=1 p99 | c=32 p50 | c=32 p95 | c=32 p99 | c=32 req/s | errors | history events | CPU ms/req: node, server |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...Object.entries(results).map(
      ([name, r]) =>
        `| ${name} | ${ms(r.c1.p50)} | ${ms(r.c1.p95)} | ${ms(r.c1.p99)} | ${ms(r.c32.p50)} | ${ms(r.c32.p95)} | ${ms(r.c32.p99)} | ${r.c32.rps.toFixed(1)} | ${r.c1.errors + r.c32.errors} | ${r.events ?? '—'} | ${r.c32.cpuMs.toFixed(1)}, ${r.c32.serverCpuMs.toFixed(1)} |`,
    ),
    '',
    ...ratios.map((r) => r.line),
    ...(targets.length ? ['', ...targets] : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  await app.stop();
  await bareWorkers.stop();
  await client.connection.close();
  await dev.stop();
  await fake.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
