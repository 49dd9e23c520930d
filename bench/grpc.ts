/**
 * gRPC against HTTP on the same stack: one Switchyard as `npm start` runs it (file-backed Temporal
 * dev server, the API serving both HTTP and gRPC), one fake OpenAI-format provider. The same chat
 * (cache off) through POST /v1/chat/completions (fetch, keep-alive) and through
 * switchyard.v1.Switchyard/ProcessRequest (a @grpc/grpc-js client generated from the proto), at
 * concurrency 1 and 32, the two alternating in rounds so drift on a shared machine hits both.
 * Reports p50/p95 of each (the median of the rounds') and the ratio gRPC ÷ HTTP; then the same for
 * the transport alone: a stored request's record, GET /v1/requests/:id against GetRequest.
 *
 *   npm run bench:grpc                        (PGlite; DATABASE_URL=… for PostgreSQL)
 *   N1=60 N32=320 ROUNDS=3 npm run bench:grpc  (requests per measurement, rounds per transport)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { benchDevServer } from './floor';
import { loadConfig } from '../src/config';
import { loadSwitchyardProto } from '../src/grpc/server';
import { startSwitchyard } from '../src/start/switchyard';
import { installRuntime } from '../src/start/worker';
import { startFakeProvider } from '../test/support/fakeProvider';
import { freePort } from '../test/support/process';

const N1 = Number(process.env.N1 ?? 60);
const N32 = Number(process.env.N32 ?? 320);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARMUP = 40;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Measured {
  p50: number;
  p95: number;
  rps: number;
  errors: number;
}

async function measure(fn: () => Promise<unknown>, n: number, concurrency: number): Promise<Measured> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const t = performance.now();
        try {
          await fn();
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  return { p50: pct(sorted, 50), p95: pct(sorted, 95), rps: latencies.length / elapsed, errors };
}

async function main() {
  installRuntime('ERROR');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-grpc-'));
  const fake = await startFakeProvider('openai');
  const dev = await benchDevServer(dataDir);
  const key = 'sk-bench-0000000000000000';
  const app = await startSwitchyard(
    loadConfig({
      ...process.env,
      PORT: String(await freePort()),
      SWITCHYARD_GRPC_PORT: '0',
      SWITCHYARD_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: dev.address,
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_BASE_URL: fake.url,
      SWITCHYARD_BOOTSTRAP_KEY: key,
      LOG_LEVEL: 'warn',
    }),
    { role: 'all', logger: pino({ level: 'warn' }) },
  );
  const messages = [{ role: 'user', content: 'Hello' }];

  const http = async () => {
    const res = await fetch(`${app.apiUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-switchyard-cache': 'off' },
      body: JSON.stringify({ model: 'auto', messages }),
    });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    await res.json();
  };

  const proto = grpc.loadPackageDefinition(loadSwitchyardProto()) as any;
  const client = new proto.switchyard.v1.Switchyard(app.grpcAddress, grpc.credentials.createInsecure()) as grpc.Client &
    Record<string, any>;
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${key}`);
  md.set('x-switchyard-cache', 'off');
  const viaGrpc = () =>
    new Promise<void>((resolve, reject) =>
      client.ProcessRequest({ chat: { model: 'auto', messages } }, md, (err: Error | null) =>
        err ? reject(err) : resolve(),
      ),
    );

  // The transport alone: a stored request's record (one indexed read), GET /v1/requests/:id against GetRequest.
  const stored = await new Promise<string>((resolve, reject) =>
    client.ProcessRequest({ chat: { model: 'auto', messages } }, md, (err: Error | null, r: { request_id: string }) =>
      err ? reject(err) : resolve(r.request_id),
    ),
  );
  const httpGet = async () => {
    const res = await fetch(`${app.apiUrl}/v1/requests/${stored}`, { headers: { authorization: `Bearer ${key}` } });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    await res.json();
  };
  const grpcGet = () =>
    new Promise<void>((resolve, reject) =>
      client.GetRequest({ id: stored }, md, (err: Error | null) => (err ? reject(err) : resolve())),
    );

  const rows: string[] = [];
  const ratios: string[] = [];
  for (const [what, transports] of [
    [
      'chat',
      [
        ['HTTP', http],
        ['gRPC', viaGrpc],
      ],
    ],
    [
      'record',
      [
        ['HTTP', httpGet],
        ['gRPC', grpcGet],
      ],
    ],
  ] as Array<[string, Array<[string, () => Promise<void>]>]>) {
    for (const [, fn] of transports) await measure(fn, WARMUP, 4);
    for (const [c, n] of [
      [1, N1],
      [32, N32],
    ] as const) {
      const runs: Record<string, Measured[]> = { HTTP: [], gRPC: [] };
      for (let round = 0; round < ROUNDS; round++)
        for (const [name, fn] of round % 2 ? [...transports].reverse() : transports)
          runs[name]!.push(await measure(fn, n, c));
      const summary = Object.fromEntries(
        Object.entries(runs).map(([name, ms]) => [
          name,
          {
            p50: median(ms.map((m) => m.p50)),
            p95: median(ms.map((m) => m.p95)),
            rps: median(ms.map((m) => m.rps)),
            errors: ms.reduce((a, m) => a + m.errors, 0),
          },
        ]),
      );
      for (const [name, s] of Object.entries(summary))
        rows.push(
          `| ${what} | ${name} | ${c} | ${s.p50.toFixed(1)} | ${s.p95.toFixed(1)} | ${s.rps.toFixed(1)} | ${s.errors} |`,
        );
      const g = summary.gRPC!;
      const h = summary.HTTP!;
      ratios.push(
        `${what} c=${c}: gRPC ÷ HTTP p50 ${(g.p50 / h.p50).toFixed(2)}×, p95 ${(g.p95 / h.p95).toFixed(2)}×, req/s ${(g.rps / h.rps).toFixed(2)}×`,
      );
    }
  }
  const lines = [
    `node ${process.version}, ${os.cpus().length} cores, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, N1=${N1} N32=${N32}, ${ROUNDS} rounds each (medians of the rounds), ${new Date().toISOString()}`,
    '',
    '| call | transport | concurrency | p50 ms | p95 ms | req/s | errors |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    ...ratios,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  client.close();
  await app.stop();
  await dev.stop();
  await fake.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
