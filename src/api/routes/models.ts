/** `GET /v1/models`: the catalog in OpenAI's list format, plus the `auto` pseudo-model. */
import { Router } from 'express';
import type { ConfigStore } from '../../services/configStore';

export function modelRoutes(deps: { configStore: ConfigStore }): Router {
  const router = Router();
  router.get('/v1/models', (_req, res) => {
    const models = deps.configStore.current().config.catalog.models.filter((m) => m.status === 'active');
    res.json({
      object: 'list',
      data: [
        { id: 'auto', object: 'model', created: 0, owned_by: 'switchyard' },
        ...models.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.provider })),
      ],
    });
  });
  return router;
}
