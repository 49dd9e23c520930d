/**
 * The worker half: one Temporal worker for workflows and bookkeeping activities on the main task
 * queue, plus one per provider on `llm-<provider>` (bulkheads: a hung provider ties up only its
 * own slots). All share one native connection and run until shut down.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { providerTaskQueue } from './temporal/taskQueues';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Reuse a bundle (tests build it once); otherwise built here. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Concurrent provider calls per provider queue on this worker. */
  maxConcurrentCalls?: number;
}

export interface RunningWorkers {
  workers: Worker[];
  /** Resolves when every worker has stopped; rejects if one of them crashed. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

let runtimeInstalled = false;

// Expected on our provider-only workers and on the test server; not worth a newcomer's attention.
const QUIET = [/No workflows registered/, /activity_failure_include_heartbeat/];

/** Route the Rust core's logs through our level so a newcomer's terminal is not flooded. */
export function installRuntime(level: 'WARN' | 'ERROR' | 'INFO' = 'WARN'): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    const logger = new DefaultLogger(level, (entry) => {
      if (QUIET.some((re) => re.test(entry.message))) return;
      process.stderr.write(`${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${entry.meta ? ` ${JSON.stringify(entry.meta)}` : ''}\n`);
    });
    Runtime.install({ logger, telemetryOptions: { logging: { filter: { core: level, other: level }, forward: {} } } });
  } catch {
    // Already installed by someone else in this process (tests); keep theirs.
  }
}

export function workflowsPath(): string {
  return require.resolve('../workflows');
}

export async function buildWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietBundlerLogger });
}

const noop = () => undefined;
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };

export async function startWorkers(opts: WorkerOptions): Promise<RunningWorkers> {
  const activities = createActivities(opts.deps);
  const workflowBundle = opts.workflowBundle ?? (await buildWorkflowBundle());
  const main = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle,
    activities,
  });
  const providerIds = [...new Set(opts.deps.catalog().providers.map((p) => p.id))];
  const providerWorkers = await Promise.all(
    providerIds.map((id) =>
      Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: providerTaskQueue(id),
        activities: { callModel: activities.callModel },
        maxConcurrentActivityTaskExecutions: opts.maxConcurrentCalls ?? 100,
      }),
    ),
  );
  const workers = [main, ...providerWorkers];
  const done = Promise.all(workers.map((w) => w.run())).then(() => undefined);
  return {
    workers,
    done,
    async shutdown() {
      for (const w of workers) {
        if (w.getState() === 'RUNNING') w.shutdown();
      }
      await done.catch(() => undefined);
    },
  };
}
