/**
 * Safe evolution of workflow code: histories recorded from each workflow type's typical lives
 * (`test/replay/*.json`, written by `npm run record:histories`) must replay against the current
 * code. A change that would break a running workflow (a new command, a reordered step) fails here;
 * such a change goes behind `patched()` (see "Changing workflow code" in docs/development.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { buildWorkflowBundle, installRuntime } from '../../src/start/worker';
import { REPLAY_DIR } from '../support/histories';

const files = fs.existsSync(REPLAY_DIR)
  ? fs
      .readdirSync(REPLAY_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];
let bundle: WorkflowBundleWithSourceMap;
// With tracing on, the worker's bundle has the OpenTelemetry workflow interceptors (workflows/tracing.ts).
let traced: WorkflowBundleWithSourceMap;
// protobufjs's JSON form, as `recordHistory` writes it.
const load = (file: string) =>
  temporal.api.history.v1.History.fromObject(
    JSON.parse(fs.readFileSync(path.join(REPLAY_DIR, file), 'utf8')) as object,
  );

beforeAll(async () => {
  installRuntime('ERROR');
  bundle = await buildWorkflowBundle();
  traced = await buildWorkflowBundle({ tracing: true });
});

it('has recorded histories of every workflow type', () => {
  const types = new Set(
    files.map((f) => {
      const h = load(f);
      return h.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
    }),
  );
  expect([...types].sort()).toEqual([
    'alertMonitor',
    'batchItem',
    'batchSummarize',
    'budgetWindow',
    'openaiBatch',
    'operationBatch',
    'providerHealth',
    'routeRequest',
    'usageEvents',
  ]);
});

it.each(files)('replays %s against the current workflow code', async (file) => {
  const history = load(file);
  await Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, history, path.basename(file, '.json'));
});

// A worker that traces replays them too (Temporal's interceptors as they are do not: the breaker's
// updates, wrapped in their awaits, fail health-trip-recover; workflows/tracing.ts leaves handlers be).
it.each(files)('replays %s with the tracing interceptors in the bundle', async (file) => {
  const history = load(file);
  await Worker.runReplayHistory(
    { workflowBundle: traced, replayName: `${file} (traced)` },
    history,
    path.basename(file, '.json'),
  );
});
