/**
 * Breaker signal rate: K simulated worker processes (each its own HealthClient, batching as in
 * production) report outcomes for one endpoint at R requests/s for T seconds; counts the signals
 * that reach its providerHealth workflow (from its history) and the signals each client sent.
 *   npm run bench:signals
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createBreakerProjectionActivities } from '../activities/breakerProjection';
import type { ActivityDeps } from '../activities/deps';
import { openDb } from '../src/db';
import { migrate } from '../src/db/migrate';
import { Worker } from '@temporalio/worker';
import { BreakerSettingsSchema } from '../src/domain/breakerSettings';
import { HealthClient, healthWorkflowId } from '../src/clients/providerHealth';
import { ensureBinary, TEMPORAL_CLI } from '../src/temporal/binaries';
import { buildWorkflowBundle, installRuntime } from '../src/start/worker';
import { NO_VERSION_CHECK } from '../src/temporal/devServer';

const SECONDS = 10;
const CASES = [
  { rate: 100, workers: 2 },
  { rate: 1_000, workers: 4 },
];

async function main() {
  installRuntime('ERROR');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      extraArgs: NO_VERSION_CHECK,
      executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_CLI) },
    },
  });
  // The entities publish their breaker to Postgres (PGlite here) on each transition.
  const db = await openDb({ pgliteDir: fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-signals-')) });
  await migrate(db);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: 'bench-health',
    workflowBundle: await buildWorkflowBundle(),
    activities: createBreakerProjectionActivities({ db } as ActivityDeps),
  });
  // High threshold: the breaker stays closed so every outcome keeps flowing for the whole run.
  const settings = BreakerSettingsSchema.parse({ failureThreshold: 1_000_000, minCalls: 1_000_000 });
  console.log(
    `| requests/s to one endpoint | worker processes | failure share | signals/s received by the breaker | outcomes/s reported |`,
  );
  console.log(`| ---: | ---: | ---: | ---: | ---: |`);
  await worker.runUntil(async () => {
    for (const { rate, workers } of CASES) {
      for (const failureShare of [0, 0.1]) {
        const endpoint = `bench/m-${rate}-${workers}-${failureShare}`;
        const clients = Array.from(
          { length: workers },
          () => new HealthClient(env.client, db, 'bench-health', () => settings),
        );
        let reported = 0;
        const started = Date.now();
        while (Date.now() - started < SECONDS * 1000) {
          const tick = Date.now();
          // One 10 ms tick of traffic, spread over the workers.
          for (let i = 0; i < rate / 100; i++) {
            const c = clients[reported % workers]!;
            const failed = (reported * 7919) % 100 < failureShare * 100;
            c.report(
              endpoint,
              failed ? { ok: false, type: 'Overloaded', message: '503', latencyMs: 50 } : { ok: true, latencyMs: 50 },
            );
            reported++;
          }
          await new Promise((r) => setTimeout(r, Math.max(0, 10 - (Date.now() - tick))));
        }
        const elapsed = (Date.now() - started) / 1000;
        await Promise.all(clients.map((c) => c.stop()));
        const history = await env.client.workflow.getHandle(healthWorkflowId(endpoint)).fetchHistory();
        const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
        console.log(
          `| ${rate.toLocaleString('en')} | ${workers} | ${failureShare * 100}% | ${(signals / elapsed).toFixed(1)} | ${Math.round(reported / elapsed).toLocaleString('en')} |`,
        );
      }
    }
  });
  await env.teardown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
