/**
 * `npm run provision`: makes both Temporal binaries available (called by `npm start` and `npm test`).
 * Prints the resolved paths; exits 1 with one clear message when a binary cannot be provided.
 */
import { ensureBinary, TEMPORAL_CLI, TEMPORAL_TEST_SERVER, TemporalBinaryError } from './binaries';

const which = process.argv.slice(2);
const specs = which.includes('--cli-only') ? [TEMPORAL_CLI] : [TEMPORAL_CLI, TEMPORAL_TEST_SERVER];

try {
  for (const spec of specs) {
    const file = ensureBinary(spec);
    process.stdout.write(`${spec.name}: ${file}\n`);
  }
} catch (err) {
  process.stderr.write(`${err instanceof TemporalBinaryError ? err.message : String(err)}\n`);
  process.exit(1);
}
