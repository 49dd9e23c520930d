/**
 * What the workflow tests run `routeRequest` against (test/workflow/routeRequest.test.ts,
 * fastPath.test.ts, streamTakeover.test.ts): the Temporal runtime's logs at ERROR, a fake provider
 * of each wire format, a test database, the workflow bundle, and a real Temporal dev server (the
 * provisioned CLI binary) with Switchyard's search attributes. Each file starts its own workers on
 * it. Also the two-model catalog and quick retries routeRequest.test.ts and fastPath.test.ts share,
 * and how they start one chat request's workflow.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Db } from '../../src/db';
import { insertRequest } from '../../src/db/requests';
import { CatalogSchema, type Catalog } from '../../src/domain/catalog';
import type { SwitchyardConfigInput } from '../../src/domain/config';
import type { RouteRequestInput } from '../../src/domain/request';
import { AdapterRegistry } from '../../src/providers/registry';
import type { VersionedConfig } from '../../src/services/configStore';
import { buildWorkflowBundle, installRuntime, startWorkers, type RunningWorkers } from '../../src/start/worker';
import { ensureBinary, TEMPORAL_CLI } from '../../src/temporal/binaries';
import { NO_VERSION_CHECK } from '../../src/temporal/devServer';
import { SA_TENANT, SEARCH_ATTRIBUTES } from '../../src/temporal/searchAttributes';
import { routeRequest } from '../../workflows';
import { openTestDb, uniqueId } from './db';
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

/**
 * Two models: `alpha/a-small` (OpenAI format, tier 2, chat and json) and `beta/b-large` (Anthropic
 * format, tier 4, chat), on the fakes given.
 */
export function alphaBetaCatalog(alpha: FakeProvider, beta: FakeProvider): Catalog {
  return CatalogSchema.parse({
    providers: [
      { id: 'alpha', wireFormat: 'openai', baseUrl: alpha.url },
      { id: 'beta', wireFormat: 'anthropic', baseUrl: beta.url },
    ],
    models: [
      {
        id: 'alpha/a-small',
        provider: 'alpha',
        model: 'a-small',
        inputPricePerMTok: 1,
        outputPricePerMTok: 2,
        contextWindow: 8_000,
        maxOutputTokens: 1_000,
        capabilities: ['chat', 'json'],
        qualityTier: 2,
      },
      {
        id: 'beta/b-large',
        provider: 'beta',
        model: 'b-large',
        inputPricePerMTok: 3,
        outputPricePerMTok: 15,
        contextWindow: 200_000,
        maxOutputTokens: 4_000,
        capabilities: ['chat'],
        qualityTier: 4,
      },
    ],
  });
}

/**
 * Switchyard's workers on `taskQueue` of this environment, with the real activities on its database,
 * this configuration, and keys for the providers `alpha` and `beta` (calls time out after 5 s).
 */
export function startAlphaBetaWorkers(
  setup: WorkflowTestEnv,
  taskQueue: string,
  config: () => VersionedConfig,
): Promise<RunningWorkers> {
  return startWorkers({
    connection: setup.env.nativeConnection,
    namespace: setup.env.namespace ?? 'default',
    taskQueue,
    workflowBundle: setup.bundle,
    deps: { db: setup.db, config, adapters: new AdapterRegistry({ alpha: 'k-alpha', beta: 'k-beta' }, 5_000) },
  });
}

/** Three attempts per candidate, 50 ms apart, 5 s each: a test's retries and fallbacks are quick. */
export const QUICK_RETRIES = {
  default: {
    maximumAttempts: 3,
    initialIntervalMs: 50,
    backoffCoefficient: 1,
    maximumIntervalMs: 50,
    timeoutMs: 5_000,
  },
} satisfies SwitchyardConfigInput['retry'];

export interface ChatRun {
  requestedModel: string;
  tenantId: string;
  /** The user message (default 'Hello'). */
  content?: string;
  /** How long from now the request's deadline is (default 60 s). */
  deadlineMs?: number;
  /** Added to the request's routing context. */
  context?: Partial<RouteRequestInput['context']>;
  /** The workflow's task timeout, when not the server's default. */
  workflowTaskTimeout?: Duration;
}

/**
 * Records a chat request (as the API does) and starts its `routeRequest` workflow on `taskQueue`,
 * with the tenant's search attribute.
 */
export async function startChatRoute(
  setup: Pick<WorkflowTestEnv, 'env' | 'db'>,
  taskQueue: string,
  run: ChatRun,
): Promise<{ requestId: string; handle: WorkflowHandle<typeof routeRequest> }> {
  const { requestedModel, tenantId } = run;
  const requestId = uniqueId('r');
  const body = { model: requestedModel, messages: [{ role: 'user', content: run.content ?? 'Hello' }] };
  await insertRequest(setup.db, {
    requestId,
    workflowId: `req-${requestId}`,
    tenantId,
    operation: 'chat',
    requestedModel,
    body,
    bodyHash: 'h',
  });
  const input: RouteRequestInput = {
    requestId,
    tenantId,
    operation: 'chat',
    requestedModel,
    needsJson: false,
    deadlineAt: Date.now() + (run.deadlineMs ?? 60_000),
    context: { tenantId, compliance: [], excludeProviders: [], metadata: {}, ...run.context },
  };
  const handle = await setup.env.client.workflow.start(routeRequest, {
    taskQueue,
    workflowId: `req-${requestId}`,
    args: [input],
    ...(run.workflowTaskTimeout && { workflowTaskTimeout: run.workflowTaskTimeout }),
    typedSearchAttributes: [{ key: SA_TENANT, value: tenantId }],
  });
  return { requestId, handle };
}
