/**
 * `npm run build:workflows [file]`: bundles the workflow code ahead, for production images. A worker
 * given the file (SWITCHYARD_WORKFLOW_BUNDLE) starts without bundling (see BENCHMARKS.md for what
 * that saves). Build it from the same commit the worker runs: a bundle of other code breaks replay.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../temporal/binaries';
import { buildWorkflowBundle } from './worker';

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? path.join(PROJECT_ROOT, 'dist', 'workflow-bundle.js'));
  const { code } = await buildWorkflowBundle();
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  process.stdout.write(`Workflow bundle: ${out} (${(code.length / 1024).toFixed(0)} KiB)\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
