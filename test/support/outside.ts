/**
 * What tests of whole Switchyard processes run against, outside those processes: a Temporal dev
 * server (as a cluster would be, so killing a process loses nothing of Temporal), a fake
 * OpenAI-format provider, and a data folder. `close` stops whatever is left of it all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureBinary, TEMPORAL_CLI } from '../../src/temporal/binaries';
import { SEARCH_ATTRIBUTES } from '../../src/temporal/searchAttributes';
import { startFakeProvider, type FakeProvider } from './fakeProvider';
import { NO_VERSION_CHECK } from '../../src/temporal/devServer';

export interface Outside {
  env: TestWorkflowEnvironment;
  fake: FakeProvider;
  dataDir: string;
  /** A Switchyard process's environment against all this: the fake as its only provider. */
  processEnv(): NodeJS.ProcessEnv;
  close(): Promise<void>;
}

export async function startOutside(dirPrefix: string): Promise<Outside> {
  const fake = await startFakeProvider('openai');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      extraArgs: NO_VERSION_CHECK,
      executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_CLI) },
      searchAttributes: SEARCH_ATTRIBUTES,
    },
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), dirPrefix));
  return {
    env,
    fake,
    dataDir,
    processEnv: () => ({
      TEMPORAL_ADDRESS: env.address,
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_SIMULATED_PROVIDER: 'off',
      OPENAI_API_KEY: 'sk-fake',
      OPENAI_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: '',
      LOG_LEVEL: 'warn',
    }),
    async close() {
      await env.teardown();
      await fake.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
