/**
 * Batch throughput against its ideal: N documents through `POST /v1/operations/summarize/batches`
 * on Switchyard as `npm start` assembles it, a fake provider answering every call after a fixed
 * latency. Ideal = documents × latency ÷ concurrency (every slot always busy, zero overhead).
 *
 *   npm run bench:batch                                  (1,000 documents, 200 ms, concurrency 16)
 *   DOCS=2000 LATENCY_MS=200 CONCURRENCY=32 npm run bench:batch
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { benchDevServer, processCpuMs, startBareWorkers } from './floor';
import { loadConfig } from '../src/config';
import { startSwitchyard } from '../src/start/switchyard';
import { installRuntime } from '../src/start/worker';
import { startFakeProvider } from '../test/support/fakeProvider';
import { isolatedDatabaseUrl } from '../test/support/db';
import { freePort } from '../test/support/process';

const DOCS = Number(process.env.DOCS ?? 1_000);
const LATENCY_MS = Number(process.env.LATENCY_MS ?? 200);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const MODEL = 'openai/gpt-4o-mini';

async function main(): Promise<void> {
  installRuntime('ERROR');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-batch-'));
  const fake = await startFakeProvider('openai');
  fake.setDefault('*', { kind: 'ok', simulate: true, delayMs: LATENCY_MS });
  const dev = await benchDevServer(dataDir);
  // Temporal's floor for this shape: a bare workflow per document whose one activity makes the
  // call, `CONCURRENCY` at a time, on the same dev server and fake provider.
  const floor = await startBareWorkers(dev.address, fake.url);
  const client = new Client({ connection: await Connection.connect({ address: dev.address }) });
  const floorStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < DOCS) {
        const i = next++;
        await client.workflow.execute('bareWorkflow', {
          taskQueue: 'bench-bare',
          workflowId: `floor-${i}`,
          args: ['Hello'],
        });
      }
    }),
  );
  const floorS = (performance.now() - floorStarted) / 1000;
  await floor.stop();
  fake.calls.length = 0;

  const key = 'sk-bench-0000000000000000';
  const app = await startSwitchyard(
    loadConfig({
      ...process.env,
      PORT: String(await freePort()),
      SWITCHYARD_DATA_DIR: dataDir,
      // A schema of its own: a stored configuration from an earlier run names another fake's port.
      ...(process.env.DATABASE_URL && { DATABASE_URL: await isolatedDatabaseUrl() }),
      TEMPORAL_ADDRESS: dev.address,
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_BASE_URL: fake.url,
      SWITCHYARD_BOOTSTRAP_KEY: key,
      SWITCHYARD_BATCH_MAX_CONCURRENCY: String(Math.max(32, CONCURRENCY)),
      LOG_LEVEL: 'warn',
    }),
    { role: 'all', logger: pino({ level: 'warn' }) },
  );
  const body =
    Array.from({ length: DOCS }, (_, i) =>
      JSON.stringify({
        id: `doc-${i}`,
        text: `Document ${i} opens with a claim. It then gives a reason for it. It ends with a conclusion.`,
      }),
    ).join('\n') + '\n';
  const api = `${app.apiUrl}/v1/operations/summarize/batches`;
  const headers = { authorization: `Bearer ${key}` };
  const cpu0 = process.cpuUsage();
  const server0 = processCpuMs(dev.serverPid);
  const started = performance.now();
  const sub = await fetch(`${api}?model=${encodeURIComponent(MODEL)}&concurrency=${CONCURRENCY}&maxWords=30`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/x-ndjson' },
    body,
  });
  if (sub.status !== 201) throw new Error(`submit: ${sub.status} ${await sub.text()}`);
  const { id } = (await sub.json()) as { id: string };
  const submittedMs = performance.now() - started;
  let status: { status: string; counts: { done: number; failed: number }; cost_usd: number };
  for (;;) {
    status = (await (await fetch(`${api}/${id}`, { headers })).json()) as typeof status;
    if (['completed', 'cancelled', 'failed'].includes(status.status)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const wallS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const nodeCpu = (cpu.user + cpu.system) / 1000 / DOCS;
  const serverCpu = (processCpuMs(dev.serverPid) - server0) / DOCS;
  const idealS = (DOCS * LATENCY_MS) / 1000 / CONCURRENCY;
  const calls = fake.calls.length;
  console.log(
    `node ${process.version}, ${os.cpus().length} cores, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ${new Date().toISOString()}\n`,
  );
  console.log(
    '| documents | latency | concurrency | status | done | failed | provider calls | submit (s) | wall (s) | docs/min | ideal (s) | ideal docs/min | % of ideal | floor (s) | % of floor | CPU ms/doc: node, server |',
  );
  console.log(
    '| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  console.log(
    `| ${DOCS} | ${LATENCY_MS} ms | ${CONCURRENCY} | ${status.status} | ${status.counts.done} | ${status.counts.failed} | ${calls} | ${(submittedMs / 1000).toFixed(2)} | ${wallS.toFixed(1)} | ${Math.round((DOCS / wallS) * 60)} | ${idealS.toFixed(1)} | ${Math.round((DOCS / idealS) * 60)} | ${((idealS / wallS) * 100).toFixed(0)} % | ${floorS.toFixed(1)} | ${((floorS / wallS) * 100).toFixed(0)} % | ${nodeCpu.toFixed(1)}, ${serverCpu.toFixed(1)} |`,
  );
  await app.stop();
  await dev.stop();
  await fake.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
