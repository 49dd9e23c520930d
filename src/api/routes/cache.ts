/**
 * `DELETE /v1/admin/cache` (operator): drops cached answers — all of them, or those of a tenant,
 * a model or an operation (the filters combine).
 */
import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import type { CacheSettings } from '../cached';
import { actorOf, requireOperator } from '../auth';
import { HttpError } from '../errors';
import { validate } from '../validate';

export const CacheInvalidation = z
  .object({
    tenant: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    operation: z.string().min(1).optional(),
  })
  .strict();

export function cacheRoutes(deps: { db: Db; cache?: CacheSettings }): Router {
  const router = Router();
  router.delete('/v1/admin/cache', requireOperator, async (req, res) => {
    const filter = validate(CacheInvalidation, req.query);
    if (!deps.cache)
      throw HttpError.notFound('The response cache is off (SWITCHYARD_CACHE_TTL).', { code: 'cache_off' });
    const removed = await deps.cache.store.invalidate(filter);
    await recordAudit(deps.db, {
      actor: actorOf(req),
      ...(filter.tenant && { tenantId: filter.tenant }),
      action: 'cache.invalidate',
      target: JSON.stringify(filter),
      after: { removed },
    });
    res.json({ object: 'cache.invalidation', filter, removed });
  });
  return router;
}
