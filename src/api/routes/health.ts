/**
 * Health: `/health` (liveness: the process answers), `/health/ready` (the database, its
 * migrations, Temporal's namespace and, in a worker, its workers), `/health/detailed` (each
 * dependency with its latency). `/healthz` and `/readyz` are the older names. No key needed: an
 * orchestrator's probe has none, and nothing here names a tenant or a secret.
 */
import { Router, type Response } from 'express';
import { dependencyHealth, type HealthSources } from '../../services/dependencyHealth';

export function healthRoutes(deps: HealthSources): Router {
  const router = Router();
  const check = dependencyHealth(deps);
  const live = (_req: unknown, res: Response) => void res.json({ status: 'ok' });
  router.get(['/health', '/healthz'], live);
  router.get(['/health/ready', '/readyz'], async (_req, res) => {
    const { ready, checks } = await check();
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not_ready',
      checks: Object.fromEntries(Object.entries(checks).map(([k, c]) => [k, c.ok ? 'ok' : `error: ${c.error}`])),
    });
  });
  router.get('/health/detailed', async (_req, res) => {
    const { ready, checks } = await check();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  });
  return router;
}
