/**
 * `GET /v1/providers`: every endpoint's breaker: state, open-until, EWMA latency, error rate,
 * last error (its type and time only: a provider's own error text can echo what it was sent).
 * `POST /v1/providers/{provider}/{model}/breaker` (operator): force it open or closed.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { ConfigStore } from '../../services/configStore';
import type { HealthClient } from '../../clients/providerHealth';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import type { BreakerSnapshot } from '../../domain/breaker';
import { actorOf, requireOperator } from '../auth';
import { HttpError } from '../errors';
import { readBody } from '../validate';

// Forcing a breaker open needs a reason (it stops traffic for every tenant); closing may give one.
export const ForceBody = z.discriminatedUnion('action', [
  z.object({ action: z.literal('open'), reason: z.string().trim().min(1, 'a reason is required').max(500) }).strict(),
  z
    .object({ action: z.literal('close'), reason: z.string().trim().min(1).max(500).default('closed by an operator') })
    .strict(),
]);

/** What every tenant may see of a breaker: no provider prose (it is shared by every tenant). */
function publicBreaker(s: BreakerSnapshot) {
  const { lastError, ...rest } = s;
  return { ...rest, ...(lastError && { lastError: { type: lastError.type, at: lastError.at } }) };
}

export function providerRoutes(deps: { configStore: ConfigStore; health?: HealthClient; db: Db }): Router {
  const router = Router();
  const health = () => {
    if (!deps.health)
      throw HttpError.unavailable('Breakers are not available in this process.', { code: 'service_unavailable' });
    return deps.health;
  };

  router.get('/v1/providers', async (_req, res) => {
    const { catalog } = deps.configStore.current().config;
    const snaps = await health().snapshots(catalog.models.map((m) => m.id));
    res.json({
      object: 'list',
      data: catalog.models.map((m) => ({
        id: m.id,
        provider: m.provider,
        model: m.model,
        status: m.status,
        breaker: publicBreaker(
          snaps[m.id] ?? { endpoint: m.id, status: 'closed', tripCount: 0, consecutiveTrips: 0, errorRate: 0 },
        ),
      })),
    });
  });

  router.post('/v1/providers/:provider/:model/breaker', requireOperator, async (req, res) => {
    const id = `${req.params.provider}/${req.params.model}`;
    if (!deps.configStore.current().config.catalog.models.some((m) => m.id === id))
      throw HttpError.notFound(`No model '${id}'.`, { param: 'model', code: 'model_not_found' });
    const body = readBody(req, ForceBody);
    const before = await health().query(id);
    const snap = await health().force(id, body.action === 'open' ? 'open' : 'closed', body.reason);
    await recordAudit(deps.db, {
      actor: actorOf(req),
      action: `breaker.${body.action}`,
      target: id,
      before: before && publicBreaker(before),
      after: publicBreaker(snap),
    });
    res.json({ id, breaker: publicBreaker(snap) });
  });
  return router;
}
