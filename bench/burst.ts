/**
 * A cold burst: Switchyard as `npm start` assembles it (its own dev server, fake provider behind
 * the OpenAI wire format), then BURST (default 500) chat requests at once, none retried by the
 * client. Reports the status counts, whether every 429 carried `retry-after`, and latency
 * percentiles. The goal: no 5xx; every answer a 200, or a 429 the client can retry.
 *
 *   npm run bench:burst                        (PGlite; DATABASE_URL=… for PostgreSQL)
 *   BURST=200 npm run bench:burst
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config';
import { startSwitchyard } from '../src/start/switchyard';
import { installRuntime } from '../src/start/worker';
import { startFakeProvider } from '../test/support/fakeProvider';
import { freePort } from '../test/support/process';

const BURST = Number(process.env.BURST ?? 500);

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main(): Promise<void> {
  installRuntime('ERROR');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-burst-'));
  const fake = await startFakeProvider('openai');
  const key = 'sk-bench-0000000000000000';
  const app = await startSwitchyard(
    loadConfig({
      ...process.env,
      PORT: String(await freePort()),
      SWITCHYARD_DATA_DIR: dataDir,
      TEMPORAL_DEV_PORT: String(await freePort()),
      TEMPORAL_UI: 'false',
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_BASE_URL: fake.url,
      SWITCHYARD_BOOTSTRAP_KEY: key,
      LOG_LEVEL: 'silent',
    }),
    { role: 'all', logger: pino({ level: 'silent' }) },
  );

  const statuses = new Map<string, number>();
  const latencies: number[] = [];
  let missingRetryAfter = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: BURST }, async (_, i) => {
      const t = performance.now();
      let label: string;
      try {
        const res = await fetch(`${app.apiUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: `Hello ${i}` }] }),
          signal: AbortSignal.timeout(180_000),
        });
        await res.arrayBuffer();
        label = String(res.status);
        if (res.status === 429 && !res.headers.get('retry-after')) missingRetryAfter++;
      } catch (err) {
        label = `network error (${(err as Error).name})`;
      }
      latencies.push(performance.now() - t);
      statuses.set(label, (statuses.get(label) ?? 0) + 1);
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const fivexx = [...statuses].filter(([s]) => /^5/.test(s) || s.startsWith('network')).reduce((n, [, c]) => n + c, 0);
  process.stdout.write(
    [
      `node ${process.version}, ${os.cpus().length} cores, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ${new Date().toISOString()}`,
      `burst of ${BURST} concurrent chat requests, cold start, all in one process`,
      `statuses: ${[...statuses]
        .sort()
        .map(([s, c]) => `${s}×${c}`)
        .join(', ')}`,
      `5xx or network errors: ${fivexx}; 429 without retry-after: ${missingRetryAfter}`,
      `latency ms: p50 ${pct(sorted, 50).toFixed(0)}, p95 ${pct(sorted, 95).toFixed(0)}, p99 ${pct(sorted, 99).toFixed(0)}, max ${sorted.at(-1)?.toFixed(0)}; wall ${elapsed.toFixed(1)} s`,
      `provider calls: ${fake.calls.length}`,
      '',
    ].join('\n'),
  );
  await app.stop();
  await fake.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
