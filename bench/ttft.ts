/**
 * Time to first token: streamed chat completions directly from the fake provider vs through
 * Switchyard (HTTP → API → routeRequest → callModel streaming → relay → SSE), side by side in one
 * run against one Temporal dev server and one fake provider that sends a piece every PIECE_MS.
 *   direct          the official `openai` client streaming straight from the fake provider
 *   memory-relay    Switchyard as `npm start` runs it (one process, pieces relayed in memory)
 *   redis-relay     the same with REDIS_URL (pieces through Redis streams, as split processes relay them)
 * Reports time to first token and to the last piece (p50/p95) at concurrency 1 and 16.
 *
 *   npm run bench:ttft                    (PGlite; DATABASE_URL=… for PostgreSQL; REDIS_URL or 127.0.0.1:6379)
 *   N=100 PIECE_MS=20 PIECES=20 npm run bench:ttft
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import pino from 'pino';
import { benchDevServer } from './floor';
import { loadConfig } from '../src/config';
import { startSwitchyard } from '../src/start/switchyard';
import { installRuntime } from '../src/start/worker';
import { startFakeProvider } from '../test/support/fakeProvider';
import { freePort } from '../test/support/process';

const N = Number(process.env.N ?? 100);
const PIECE_MS = Number(process.env.PIECE_MS ?? 20);
const PIECES = Number(process.env.PIECES ?? 20);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const WARMUP = 20;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface Timing {
  first: number[];
  last: number[];
  errors: number;
}

async function measure(client: OpenAI, model: string, n: number, concurrency: number): Promise<Timing> {
  const t: Timing = { first: [], last: [], errors: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const started = performance.now();
        let first: number | undefined;
        try {
          const stream = await client.chat.completions.create({
            model,
            messages: [{ role: 'user', content: 'Hello' }],
            stream: true,
          });
          for await (const c of stream)
            if (first === undefined && c.choices[0]?.delta.content) first = performance.now();
          t.first.push(first! - started);
          t.last.push(performance.now() - started);
        } catch {
          t.errors++;
        }
      }
    }),
  );
  t.first.sort((a, b) => a - b);
  t.last.sort((a, b) => a - b);
  return t;
}

async function main(): Promise<void> {
  installRuntime('ERROR');
  const content = Array.from({ length: PIECES }, (_, i) => `word${i}`).join(' ');
  const fake = await startFakeProvider('openai');
  fake.setDefault('*', { kind: 'ok', content, pieceDelayMs: PIECE_MS });
  const dirs: string[] = [];
  const dir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-ttft-'));
    dirs.push(d);
    return d;
  };
  const dev = await benchDevServer(dir());
  const logger = pino({ level: 'warn' });
  const key = 'sk-bench-0000000000000000';

  const switchyard = async (queue: string, redisUrl?: string) => {
    const app = await startSwitchyard(
      loadConfig({
        ...process.env,
        PORT: String(await freePort()),
        SWITCHYARD_DATA_DIR: dir(),
        SWITCHYARD_TASK_QUEUE: queue,
        TEMPORAL_ADDRESS: dev.address,
        OPENAI_API_KEY: 'sk-bench',
        OPENAI_BASE_URL: fake.url,
        SWITCHYARD_BOOTSTRAP_KEY: key,
        LOG_LEVEL: 'warn',
        REDIS_URL: redisUrl ?? '',
      }),
      { role: 'all', logger },
    );
    return { app, client: new OpenAI({ apiKey: key, baseURL: `${app.apiUrl}/v1`, maxRetries: 0, timeout: 120_000 }) };
  };
  const memory = await switchyard('ttft-memory');
  const redis = await switchyard('ttft-redis', REDIS_URL);
  const direct = new OpenAI({ apiKey: 'sk-bench', baseURL: fake.url, maxRetries: 0 });

  const paths: Array<[string, OpenAI, string]> = [
    ['direct', direct, 'gpt-4o-mini'],
    ['memory-relay', memory.client, 'openai/gpt-4o-mini'],
    ['redis-relay', redis.client, 'openai/gpt-4o-mini'],
  ];
  for (const [, client, model] of paths) await measure(client, model, WARMUP, 4);
  const results: Record<string, { c1: Timing; c16: Timing }> = {};
  for (const [name, client, model] of paths) results[name] = { c1: await measure(client, model, N, 1) } as never;
  for (const [name, client, model] of paths) results[name]!.c16 = await measure(client, model, N, 16);

  const ms = (x: number) => x.toFixed(1);
  const d = results.direct!;
  const lines = [
    `node ${process.version}, ${os.cpus().length} cores, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ${PIECES} pieces every ${PIECE_MS} ms, N=${N}, ${new Date().toISOString()}`,
    '',
    '| path | c=1 TTFT p50 | c=1 TTFT p95 | c=1 last p50 | c=16 TTFT p50 | c=16 TTFT p95 | c=16 last p50 | errors | TTFT added at c=1 p50 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...Object.entries(results).map(
      ([name, r]) =>
        `| ${name} | ${ms(pct(r.c1.first, 50))} | ${ms(pct(r.c1.first, 95))} | ${ms(pct(r.c1.last, 50))} | ${ms(pct(r.c16.first, 50))} | ${ms(pct(r.c16.first, 95))} | ${ms(pct(r.c16.last, 50))} | ${r.c1.errors + r.c16.errors} | ${name === 'direct' ? '—' : `+${ms(pct(r.c1.first, 50) - pct(d.c1.first, 50))} ms`} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  await memory.app.stop();
  await redis.app.stop();
  await dev.stop();
  await fake.close();
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
