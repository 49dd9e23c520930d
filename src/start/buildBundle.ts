/**
 * `npm run build:workflows [file]`: bundles the workflow code ahead, for production images. A worker
 * given the file (SWITCHYARD_WORKFLOW_BUNDLE) starts without bundling (see BENCHMARKS.md for what
 * that saves). Build it from the same commit the worker runs: a bundle of other code breaks replay.
 * Its `.tracing.js` twin has the OpenTelemetry workflow interceptors, for workers that trace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../temporal/binaries';
import { buildWorkflowBundle, tracingBundlePath } from './worker';

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? path.join(PROJECT_ROOT, 'dist', 'workflow-bundle.js'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // Two: without tracing, and with its interceptors (what a worker with an OTLP endpoint loads).
  for (const [file, tracing] of [
    [out, false],
    [tracingBundlePath(out), true],
  ] as const) {
    const { code } = await buildWorkflowBundle({ tracing });
    fs.writeFileSync(file, code);
    process.stdout.write(`Workflow bundle: ${file} (${(code.length / 1024).toFixed(0)} KiB)\n`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
