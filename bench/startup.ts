/**
 * How long a Switchyard process takes to be ready (worker polling, API listening), bundling the
 * workflow code at start vs loading a bundle built ahead (SWITCHYARD_WORKFLOW_BUNDLE). Alternates
 * the two, RUNS times each, against one Temporal dev server.
 *
 *   npm run bench:startup            RUNS=5 npm run bench:startup
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBinary, PROJECT_ROOT, TEMPORAL_CLI } from '../src/temporal/binaries';
import { startDevServer } from '../src/temporal/devServer';
import { freePort, startStack, stopStack } from '../test/support/process';

const RUNS = Number(process.env.RUNS ?? 3);

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-startup-'));
  const bundle = path.join(dir, 'workflow-bundle.js');
  execFileSync(process.execPath, ['--import', 'tsx', 'src/start/buildBundle.ts', bundle], { cwd: PROJECT_ROOT });
  const dev = await startDevServer({
    cliPath: ensureBinary(TEMPORAL_CLI),
    dataDir: dir,
    port: await freePort(),
    uiPort: await freePort(),
    ui: false,
    namespace: 'default',
  });
  const times: Record<string, number[]> = { 'bundled at start': [], 'prebuilt bundle': [] };
  for (let i = 0; i < RUNS; i++) {
    for (const [name, extra] of [
      ['bundled at start', {}],
      ['prebuilt bundle', { SWITCHYARD_WORKFLOW_BUNDLE: bundle }],
    ] as const) {
      const t = performance.now();
      const stack = await startStack({
        PORT: String(await freePort()),
        TEMPORAL_ADDRESS: dev.address,
        SWITCHYARD_DATA_DIR: path.join(dir, `data-${name.replace(/ /g, '-')}-${i}`),
        SWITCHYARD_BOOTSTRAP_KEY: 'sk-startup-bench-0000000000',
        LOG_LEVEL: 'warn',
        ...extra,
      });
      times[name]!.push(performance.now() - t);
      await stopStack(stack);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const lines = [
    `node ${process.version}, ${os.cpus().length} cores, ${new Date().toISOString()}, ${RUNS} starts each`,
    '',
    '| worker start | median to ready | all runs (ms) |',
    '| --- | ---: | --- |',
    ...Object.entries(times).map(
      ([name, xs]) => `| ${name} | ${median(xs).toFixed(0)} ms | ${xs.map((x) => x.toFixed(0)).join(', ')} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  await dev.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
