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
import { kindOf, type Catalog, type Model } from '../../domain/catalog';
import type { ConfigStore } from '../../services/configStore';
import { HttpError } from '../errors';
import { routeSpecs } from '../routeSpec';
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

// One model (`models.retrieve`): the SDKs send `openai%2Fgpt-4o-mini`; a plain `openai/gpt-4o-mini` works too.
const one = (deps: { configStore: ConfigStore }, id: string) => {
  if (id === 'auto') return AUTO;
  const { catalog } = deps.configStore.current().config;
  const m = enabled(catalog).find((x) => x.id === id);
  if (!m) throw HttpError.notFound(`The model '${id}' does not exist.`, { param: 'model', code: 'model_not_found' });
  return modelObject(m, catalog);
};

export const modelRoutes = routeSpecs<{ configStore: ConfigStore }>([
  {
    method: 'get',
    path: '/v1/models',
    summary: 'The catalog (OpenAI list)',
    tag: 'models',
    role: 'member',
    errors: [401],
    handle: (deps, _req, res) => {
      const { catalog } = deps.configStore.current().config;
      res.json({ object: 'list', data: [AUTO, ...enabled(catalog).map((m) => modelObject(m, catalog))] });
    },
  },
  {
    method: 'get',
    path: '/v1/models/:id',
    summary: 'A model',
    tag: 'models',
    role: 'member',
    errors: [401, 404],
    handle: (deps, req, res) => {
      res.json(one(deps, String(req.params.id)));
    },
  },
  {
    method: 'get',
    path: '/v1/models/:provider/*model',
    summary: 'A model',
    tag: 'models',
    role: 'member',
    errors: [401, 404],
    handle: (deps, req, res) => {
      res.json(one(deps, `${req.params.provider}/${modelParam(req.params.model)}`));
    },
  },
]);
