/**
 * What the workflow tests run `routeRequest` against (test/workflow/routeRequest.test.ts,
 * streamTakeover.test.ts): the Temporal runtime's logs at ERROR, a fake provider of each wire
 * format, a test database, the workflow bundle, and a real Temporal dev server (the provisioned
 * CLI binary) with Switchyard's search attributes. Each file starts its own workers on it.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Db } from '../../src/db';
import { buildWorkflowBundle, installRuntime } from '../../src/start/worker';
import { ensureBinary, TEMPORAL_CLI } from '../../src/temporal/binaries';
import { NO_VERSION_CHECK } from '../../src/temporal/devServer';
import { SEARCH_ATTRIBUTES } from '../../src/temporal/searchAttributes';
import { openTestDb } from './db';
import { startFakeProvider, type FakeProvider } from './fakeProvider';

export interface WorkflowTestEnv {
  env: TestWorkflowEnvironment;
  bundle: WorkflowBundleWithSourceMap;
  db: Db;
  /** The OpenAI-format fake provider. */
  openai: FakeProvider;
  /** The Anthropic-format fake provider. */
  anthropic: FakeProvider;
  /** Tears the dev server down and closes the fakes and the database (after the file's workers stopped). */
  close(): Promise<void>;
}

export async function startWorkflowTestEnv(): Promise<WorkflowTestEnv> {
  installRuntime('ERROR');
  const [openai, anthropic, db, bundle] = await Promise.all([
    startFakeProvider('openai'),
    startFakeProvider('anthropic'),
    openTestDb(),
    buildWorkflowBundle(),
  ]);
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      extraArgs: NO_VERSION_CHECK,
      executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_CLI) },
      searchAttributes: SEARCH_ATTRIBUTES,
    },
  });
  return {
    env,
    bundle,
    db,
    openai,
    anthropic,
    close: async () => {
      await env.teardown();
      await Promise.all([openai.close(), anthropic.close(), db.close()]);
    },
  };
}
