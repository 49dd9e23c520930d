/**
 * Recorded workflow histories for the replay test (`test/workflow/replay.test.ts`). Tests that run
 * a workflow type through a typical life call `recordHistory`; with RECORD_HISTORIES=1 it writes
 * the history to `test/replay/<name>.json` (`npm run record:histories`), otherwise it does nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';

export const REPLAY_DIR = path.resolve(__dirname, '..', 'replay');

export async function recordHistory(name: string, handle: Pick<WorkflowHandle, 'fetchHistory'>): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  fs.mkdirSync(REPLAY_DIR, { recursive: true });
  // protobufjs's own JSON form (enums and 64-bit numbers as strings), which History.fromObject reads.
  fs.writeFileSync(path.join(REPLAY_DIR, `${name}.json`), `${JSON.stringify(history, null, 1)}\n`);
}
