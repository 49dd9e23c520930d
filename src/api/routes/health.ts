/**
 * Health: `/health` (liveness: the process answers), `/health/ready` (the database, its
 * migrations, Temporal's namespace and, in a worker, its workers), `/health/detailed` (each
 * dependency with its latency). `/healthz` and `/readyz` are the older names. No key needed: an
 * orchestrator's probe has none, and nothing here names a tenant or a secret.
 */
import type { Response } from 'express';
import { z } from 'zod';
import { dependencyHealth, type HealthSources } from '../../services/dependencyHealth';
import { routeSpecs, type RouteSpec } from '../routeSpec';

const health = z.object({ status: z.string(), checks: z.record(z.string(), z.unknown()).optional() });

/** One check per process's sources (its migrations are listed once), shared by the routes below. */
const checks = new WeakMap<HealthSources, ReturnType<typeof dependencyHealth>>();
const check = (deps: HealthSources) => {
  let c = checks.get(deps);
  if (!c) checks.set(deps, (c = dependencyHealth(deps)));
  return c();
};

const live = (_deps: HealthSources, _req: unknown, res: Response) => void res.json({ status: 'ok' });
const ready = async (deps: HealthSources, _req: unknown, res: Response) => {
  const { ready, checks } = await check(deps);
  res.status(ready ? 200 : 503).json({
    status: ready ? 'ready' : 'not_ready',
    checks: Object.fromEntries(Object.entries(checks).map(([k, c]) => [k, c.ok ? 'ok' : `error: ${c.error}`])),
  });
};

const probe = (path: string, summary: string, handle: RouteSpec<HealthSources>['handle'], errors: number[]) =>
  ({ method: 'get', path, summary, tag: 'health', role: 'none', response: health, errors, handle }) as const;

export const healthRoutes = routeSpecs<HealthSources>([
  probe('/health', 'Liveness', live, []),
  probe('/healthz', 'Liveness (old name)', live, []),
  probe('/health/ready', 'Readiness', ready, [503]),
  probe('/readyz', 'Readiness (old name)', ready, [503]),
  probe(
    '/health/detailed',
    'Each dependency with its latency',
    async (deps, _req, res) => {
      const { ready, checks } = await check(deps);
      res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
    },
    [503],
  ),
]);
