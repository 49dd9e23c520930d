/**
 * `DELETE /v1/admin/cache` (operator): drops cached answers — all of them, or those of a tenant,
 * a model or an operation (the filters combine).
 */
import { z } from 'zod';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import type { CacheSettings } from '../cached';
import { actorOf } from '../auth';
import { HttpError } from '../errors';
import { ADMIN_ERRORS, routeSpecs } from '../routeSpec';
import { validate } from '../validate';

export const CacheInvalidation = z
  .object({
    tenant: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    operation: z.string().min(1).optional(),
  })
  .strict();

export const cacheRoutes = routeSpecs<{ db: Db; cache?: CacheSettings }>([
  {
    method: 'delete',
    path: '/v1/admin/cache',
    summary: 'Drop cached answers: all, or by tenant, model and operation',
    tag: 'operations',
    role: 'operator',
    query: CacheInvalidation,
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
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
    },
  },
]);
