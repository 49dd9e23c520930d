/**
 * `GET /v1/models` and `GET /v1/models/{id}`: the catalog in OpenAI's format, plus the `auto`
 * pseudo-model. Each model carries, besides OpenAI's fields (`owned_by` is its provider instance),
 * what Switchyard knows of it: the instance's kind, capabilities, context window, output limit,
 * prices and the regions it processes data in.
 *
 * Only what the operator enabled is listed: a model whose `status` is `active` in the catalog
 * (an operator withdraws one with `PATCH /v1/admin/models/{provider}/{model}` `{"status":"inactive"}`
 * without deleting it), of an instance in this process's configuration. Routing uses the same
 * set: an inactive model is never chosen, so a client sees only what it can ask for.
 */
import { Router } from 'express';
import { kindOf, type Catalog, type Model } from '../../domain/catalog';
import type { ConfigStore } from '../../services/configStore';
import { HttpError } from '../errors';
import { modelParam } from '../validate';

const AUTO = { id: 'auto', object: 'model', created: 0, owned_by: 'switchyard' };

function modelObject(m: Model, catalog: Catalog) {
  const provider = catalog.providers.find((p) => p.id === m.provider);
  return {
    id: m.id,
    object: 'model',
    created: 0,
    owned_by: m.provider,
    kind: provider ? kindOf(provider) : null,
    capabilities: m.capabilities,
    context_window: m.contextWindow,
    max_output_tokens: m.maxOutputTokens,
    pricing: { input_per_mtok_usd: m.inputPricePerMTok, output_per_mtok_usd: m.outputPricePerMTok },
    regions: m.regions,
  };
}

const enabled = (catalog: Catalog) =>
  catalog.models.filter((m) => m.status === 'active' && catalog.providers.some((p) => p.id === m.provider));

export function modelRoutes(deps: { configStore: ConfigStore }): Router {
  const router = Router();
  router.get('/v1/models', (_req, res) => {
    const { catalog } = deps.configStore.current().config;
    res.json({ object: 'list', data: [AUTO, ...enabled(catalog).map((m) => modelObject(m, catalog))] });
  });
  // One model (`models.retrieve`): the SDKs send `openai%2Fgpt-4o-mini`; a plain `openai/gpt-4o-mini` works too.
  const one = (id: string) => {
    if (id === 'auto') return AUTO;
    const { catalog } = deps.configStore.current().config;
    const m = enabled(catalog).find((x) => x.id === id);
    if (!m) throw HttpError.notFound(`The model '${id}' does not exist.`, { param: 'model', code: 'model_not_found' });
    return modelObject(m, catalog);
  };
  router.get('/v1/models/:id', (req, res) => {
    res.json(one(String(req.params.id)));
  });
  router.get('/v1/models/:provider/*model', (req, res) => {
    res.json(one(`${req.params.provider}/${modelParam(req.params.model)}`));
  });
  return router;
}
