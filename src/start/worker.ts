/**
 * The worker half: one Temporal worker for workflows and bookkeeping activities on the main task
 * queue, plus one per provider on `llm-<provider>` (bulkheads: a hung provider ties up only its
 * own slots). All share one native connection and run until shut down.
 */
import {
  DefaultLogger,
  type NativeConnection,
  Runtime,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import fs from 'node:fs';
import path from 'node:path';
import { createActivities, type ActivityDeps } from '../../activities';
import type { Tracing } from '../services/tracing';
import { batchTaskQueue, providerTaskQueue } from '../temporal/taskQueues';

export const DEFAULT_BATCH_SLOTS = 32;

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Reuse a bundle (tests build it once); otherwise built here. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Concurrent provider calls per provider queue on this worker. */
  maxConcurrentCalls?: number;
  /** Tuning of the main queue's worker (unset: the SDK's defaults; see SWITCHYARD_WORKFLOW_* in config). */
  tuning?: WorkerTuning;
  /** A bundle built ahead (`npm run build:workflows`), loaded instead of bundling at start. */
  workflowBundlePath?: string;
  /** Batch requests' activity slots on this worker (their own queue: interactive slots stay free). */
  batchSlots?: number;
  /** OpenTelemetry (absent: off): its interceptors and the sink workflow spans leave the sandbox by. */
  tracing?: Tracing;
}

export interface WorkerTuning {
  workflowTaskSlots?: number;
  workflowPollers?: number;
  activityPollers?: number;
  maxCachedWorkflows?: number;
}

export interface RunningWorkers {
  workers: Worker[];
  /** Starts a worker for a provider's queue if this process has none yet (a provider added at run time). */
  ensureProviderWorker(providerId: string): Promise<void>;
  /** Resolves when every worker has stopped; rejects if one of them crashed. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

let runtimeInstalled = false;

// Expected on our provider-only workers and on the test server; not worth a newcomer's attention.
const QUIET = [/No workflows registered/, /activity_failure_include_heartbeat/];

/** Route the Rust core's logs through our level so a newcomer's terminal is not flooded. */
export function installRuntime(level: 'WARN' | 'ERROR' | 'INFO' = 'WARN', metricsPort?: number): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    const logger = new DefaultLogger(level, (entry) => {
      if (QUIET.some((re) => re.test(entry.message))) return;
      process.stderr.write(
        `${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${entry.meta ? ` ${JSON.stringify(entry.meta)}` : ''}\n`,
      );
    });
    Runtime.install({
      logger,
      telemetryOptions: {
        logging: { filter: { core: level, other: level }, forward: {} },
        // The SDK's own worker metrics (task slots, poll latencies, schedule-to-start…) for Prometheus.
        ...(metricsPort !== undefined && { metrics: { prometheus: { bindAddress: `0.0.0.0:${metricsPort}` } } }),
      },
    });
  } catch {
    // Already installed by someone else in this process (tests); keep theirs.
  }
}

export function workflowsPath(): string {
  return require.resolve('../../workflows');
}

/** The workflow interceptors' module of tracing (in a tracing bundle only). */
export function tracingInterceptorsPath(): string {
  return require.resolve('../../workflows/tracing');
}

/**
 * The workflow code, bundled. `tracing`: with the OpenTelemetry workflow interceptors in it (a
 * worker that traces needs them in its bundle; one that does not, none of their code).
 */
export async function buildWorkflowBundle(opts: { tracing?: boolean } = {}): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: workflowsPath(),
    logger: quietBundlerLogger,
    ...(opts.tracing && { workflowInterceptorModules: [tracingInterceptorsPath()] }),
  });
}

/** A prebuilt bundle's twin with the tracing interceptors (`npm run build:workflows` writes both). */
export const tracingBundlePath = (bundlePath: string): string => bundlePath.replace(/\.js$/, '') + '.tracing.js';

const noop = () => undefined;
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };

/** Running compiled (`node dist/src/main.js`): the bundle `npm run build` wrote beside the code. */
function builtBundle(): string | undefined {
  if (!__filename.endsWith('.js')) return undefined;
  const file = path.resolve(__dirname, '..', '..', 'workflow-bundle.js');
  return fs.existsSync(file) ? file : undefined;
}

/**
 * The bundle to run: one built ahead (SWITCHYARD_WORKFLOW_BUNDLE, or the one `npm run build` wrote),
 * the one given (tests), or bundled now. Tracing needs the bundle with its interceptors: the built
 * one's `.tracing.js` twin, else bundled now (a given one has none).
 */
async function bundleFor(opts: WorkerOptions): Promise<{ codePath: string } | WorkflowBundleWithSourceMap> {
  const bundlePath = opts.workflowBundlePath ?? builtBundle();
  if (opts.tracing) {
    const twin = bundlePath && tracingBundlePath(bundlePath);
    return twin && fs.existsSync(twin) ? { codePath: twin } : buildWorkflowBundle({ tracing: true });
  }
  return bundlePath ? { codePath: bundlePath } : (opts.workflowBundle ?? (await buildWorkflowBundle()));
}

/** The SDK's default of concurrent workflow tasks per worker. */
const SDK_WORKFLOW_TASK_SLOTS = 40;

export async function startWorkers(opts: WorkerOptions): Promise<RunningWorkers> {
  const activities = createActivities(opts.deps);
  const workflowBundle = await bundleFor(opts);
  const t = opts.tuning ?? {};
  // Tracing: every worker's activities in spans, and the sink for the workflows' spans.
  const traced = opts.tracing && { interceptors: opts.tracing.workerInterceptors, sinks: opts.tracing.sinks };
  const main = await Worker.create({
    ...traced,
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle,
    activities,
    // Provider calls on the shared queue run here too: room for every provider's limit and the
    // bookkeeping activities (each provider's own limit is enforced by callModel).
    maxConcurrentActivityTaskExecutions: 2 * (opts.maxConcurrentCalls ?? 100),
    // Fast-path calls (local activities) run here as well, under the same limits. Each holds its
    // workflow task (and that task's slot) open until it ends: room for as many as calls, never
    // fewer than the SDK's 40, or the 41st concurrent fast-path request would wait for a slot.
    maxConcurrentLocalActivityExecutions: 2 * (opts.maxConcurrentCalls ?? 100),
    maxConcurrentWorkflowTaskExecutions:
      t.workflowTaskSlots ?? Math.max(SDK_WORKFLOW_TASK_SLOTS, 2 * (opts.maxConcurrentCalls ?? 100)),
    ...(t.workflowPollers !== undefined && { maxConcurrentWorkflowTaskPolls: t.workflowPollers }),
    ...(t.activityPollers !== undefined && { maxConcurrentActivityTaskPolls: t.activityPollers }),
    ...(t.maxCachedWorkflows !== undefined && { maxCachedWorkflows: t.maxCachedWorkflows }),
  });
  // Batch items' requests: the same workflows and activities on their own queue, with fewer slots.
  const batch = await Worker.create({
    ...traced,
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: batchTaskQueue(opts.taskQueue),
    workflowBundle,
    activities,
    maxConcurrentActivityTaskExecutions: opts.batchSlots ?? DEFAULT_BATCH_SLOTS,
    ...(t.maxCachedWorkflows !== undefined && { maxCachedWorkflows: t.maxCachedWorkflows }),
  });
  const workers: Worker[] = [main, batch];
  const runs: Array<Promise<void>> = [main.run(), batch.run()];
  let stopping = false;
  const providerQueues = new Set<string>();
  async function ensureProviderWorker(providerId: string): Promise<void> {
    if (stopping || providerQueues.has(providerId) || !reachable(providerId)) return;
    providerQueues.add(providerId);
    const w = await Worker.create({
      ...(opts.tracing && { interceptors: opts.tracing.workerInterceptors }),
      connection: opts.connection,
      namespace: opts.namespace,
      taskQueue: providerTaskQueue(providerId),
      activities: { callModel: activities.callModel },
      maxConcurrentActivityTaskExecutions: opts.maxConcurrentCalls ?? 100,
      // The provider's rpm as its queue's server-side limit: it holds across every worker.
      ...(rpmOf(providerId) !== undefined && { maxTaskQueueActivitiesPerSecond: rpmOf(providerId)! / 60 }),
      ...(t.activityPollers !== undefined && { maxConcurrentActivityTaskPolls: t.activityPollers }),
    });
    workers.push(w);
    runs.push(w.run());
  }
  const rpmOf = (id: string) => opts.deps.config().config.catalog.providers.find((x) => x.id === id)?.rpm;
  // Only the queues of providers this process can call (the others' calls wait for a worker that can).
  const reachable = (id: string) => {
    const p = opts.deps.config().config.catalog.providers.find((x) => x.id === id);
    return !p || !opts.deps.canReach || opts.deps.canReach(p);
  };
  for (const p of opts.deps.config().config.catalog.providers) if (reachable(p.id)) await ensureProviderWorker(p.id);
  const done = (async () => {
    // Workers can be added while running: wait until every one of them has stopped.
    let seen = 0;
    while (seen < runs.length) {
      const batch = runs.slice(seen);
      seen = runs.length;
      await Promise.all(batch);
    }
  })();
  return {
    workers,
    ensureProviderWorker,
    done,
    async shutdown() {
      stopping = true;
      for (const w of workers) {
        if (w.getState() === 'RUNNING') w.shutdown();
      }
      await done.catch(() => undefined); // a worker's failure is reported where `done` is awaited (workerDone)
    },
  };
}
