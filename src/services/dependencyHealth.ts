/**
 * What readiness means, for the API and the worker alike: the database answers, its migrations
 * are all applied, Temporal's namespace is reachable, and (in a worker) every worker is running.
 * Each check is timed, for `/health/detailed`.
 */
import type { Client } from '@temporalio/client';
import type { Db } from '../db';
import { loadMigrations } from '../db/migrate';

export interface Check {
  ok: boolean;
  latencyMs: number;
  error?: string;
  [detail: string]: unknown;
}

export interface HealthSources {
  db: Db;
  client: Client;
  /** Present in a worker process: whether each of its workers is running. */
  workers?: () => Array<{ taskQueue: string; state: string }>;
}

const CHECK_TIMEOUT_MS = 3_000;

async function timed(fn: () => Promise<Record<string, unknown> | void>): Promise<Check> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - started), ...(detail ?? {}) };
  } catch (err) {
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    clearTimeout(timer);
  }
}

export function dependencyHealth(s: HealthSources) {
  const expected = loadMigrations().map((m) => m.version);
  return async (): Promise<{ ready: boolean; checks: Record<string, Check> }> => {
    const checks: Record<string, Check> = {};
    const [database, migrations, temporal, workers] = await Promise.all([
      timed(async () => {
        await s.db.query('select 1');
      }),
      timed(async () => {
        const res = await s.db.query<{ version: string }>('select version from schema_migrations');
        const applied = new Set(res.rows.map((r) => r.version));
        const pending = expected.filter((v) => !applied.has(v));
        if (pending.length) throw new Error(`not applied: ${pending.join(', ')}`);
        return { applied: expected.length };
      }),
      timed(async () => {
        await s.client.workflowService.describeNamespace({ namespace: s.client.options.namespace });
        return { namespace: s.client.options.namespace };
      }),
      s.workers &&
        timed(async () => {
          const stopped = s.workers!().filter((w) => w.state !== 'RUNNING');
          if (stopped.length)
            throw new Error(`not running: ${stopped.map((w) => `${w.taskQueue} (${w.state})`).join(', ')}`);
          return { running: s.workers!().length };
        }),
    ]);
    Object.assign(checks, { database, migrations, temporal }, workers && { workers });
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  };
}
