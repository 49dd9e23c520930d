/** `GET /v1/models` and `GET /v1/models/{id}`: the catalog in OpenAI's format, plus the `auto` pseudo-model. */
import { Router } from 'express';
import type { Model } from '../../domain/catalog';
import type { ConfigStore } from '../../services/configStore';
import { HttpError } from '../errors';

const AUTO = { id: 'auto', object: 'model', created: 0, owned_by: 'switchyard' };
const modelObject = (m: Model) => ({ id: m.id, object: 'model', created: 0, owned_by: m.provider });

export function modelRoutes(deps: { configStore: ConfigStore }): Router {
  const router = Router();
  router.get('/v1/models', (_req, res) => {
    const models = deps.configStore.current().config.catalog.models.filter((m) => m.status === 'active');
    res.json({ object: 'list', data: [AUTO, ...models.map(modelObject)] });
  });
  // One model (`models.retrieve`): the SDKs send `openai%2Fgpt-4o-mini`; a plain `openai/gpt-4o-mini` works too.
  const one = (id: string) => {
    if (id === 'auto') return AUTO;
    const m = deps.configStore.current().config.catalog.models.find((x) => x.id === id && x.status === 'active');
    if (!m) throw HttpError.notFound(`The model '${id}' does not exist.`, { param: 'model', code: 'model_not_found' });
    return modelObject(m);
  };
  router.get('/v1/models/:id', (req, res) => {
    res.json(one(String(req.params.id)));
  });
  router.get('/v1/models/:provider/:model', (req, res) => {
    res.json(one(`${req.params.provider}/${req.params.model}`));
  });
  return router;
}
