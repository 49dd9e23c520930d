/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: database and Temporal reachable). */
import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Db } from '../../db';

export function healthRoutes(deps: { db: Db; client: Client }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const check = async (fn: () => Promise<unknown>) =>
      fn().then(
        () => 'ok',
        (e: unknown) => `error: ${e instanceof Error ? e.message : String(e)}`,
      );
    const [database, temporal] = await Promise.all([
      check(() => deps.db.query('select 1')),
      check(() => deps.client.workflowService.getSystemInfo({})),
    ]);
    const ready = database === 'ok' && temporal === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: { database, temporal } });
  });
  return router;
}
