/**
 * Configuration endpoints. Operators: the configuration as a whole (export, import, reload from
 * the file), the model catalog, every rule and override. Admins: their own tenant's policy, rules
 * and overrides (another tenant's are not found). Every change is a new configuration version, picked up by every worker
 * within a second, and one audit row (who, what, before and after).
 */
import { Router, type Request } from 'express';
import { type z } from 'zod';
import type { ConfigStore, VersionedConfig } from '../../services/configStore';
import { ModelSchema } from '../../domain/catalog';
import { OverrideSchema, RuleSchema, TenantPolicySchema, type SwitchyardConfig } from '../../domain/config';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import { actorOf, authOf, requireAdmin, requireOperator, tenantFromPath, tenantInScope } from '../auth';
import { widening } from '../../domain/tenantPolicy';
import { HttpError } from '../errors';
import { validate } from '../validate';

export const ModelRegistration = ModelSchema.omit({ id: true });
export const ModelUpdate = ModelSchema.omit({ id: true, provider: true, model: true }).partial().strict();

const versionOf = (v: { version: number }) => ({ config_version: v.version });

type Item = { id: string; tenantId?: string; scope?: string; subject?: string; when?: Array<{ op: string }> };

/** The tenant a rule or override belongs to (undefined: a rule for every tenant, the operator's). */
const tenantOfItem = (key: 'rules' | 'overrides', item: Item): string | undefined =>
  key === 'overrides' && item.scope === 'tenant' ? item.subject : item.tenantId;

/**
 * GET/POST on a collection, GET/PUT/DELETE on one item by id: rules and overrides alike. An
 * operator sees and changes all of them; an admin only its own tenant's (a rule it creates applies
 * to its tenant's requests only), and another tenant's id is not found.
 */
function collection(
  router: Router,
  store: ConfigStore,
  db: Db,
  path: string,
  key: 'rules' | 'overrides',
  schema: typeof RuleSchema | typeof OverrideSchema,
): void {
  const items = (c: SwitchyardConfig) => c[key] as Item[];
  const visible = (req: Request, item: Item) =>
    authOf(req).role === 'operator' || tenantOfItem(key, item) === authOf(req).tenantId;
  const find = (req: Request, id: string) => {
    const item = items(store.current().config).find((x) => x.id === id);
    if (!item || !visible(req, item))
      throw HttpError.notFound(`No ${key.slice(0, -1)} with id '${id}'.`, { param: 'id', code: 'not_found' });
    return item;
  };
  /** An admin's item is its tenant's: the tenant is set (or checked) here. */
  const claimed = (req: Request, item: Item): Item => {
    const auth = authOf(req);
    if (auth.role === 'operator') return item;
    if (item.when?.some((c) => c.op === 'matches'))
      throw HttpError.forbidden("Only an operator may write rules with 'matches' (a regular expression).", {
        param: 'when',
        code: 'operator_required',
      });
    if (key === 'rules') return { ...item, tenantId: tenantInScope(req, item.tenantId ?? auth.tenantId) };
    if (item.scope === 'tenant') return { ...item, subject: tenantInScope(req, item.subject!) };
    return { ...item, tenantId: tenantInScope(req, item.tenantId ?? auth.tenantId) };
  };
  const audit = (req: Request, action: string, item: Item, before?: Item, after?: Item) =>
    recordAudit(db, {
      actor: actorOf(req),
      tenantId: tenantOfItem(key, item),
      action: `${key}.${action}`,
      target: item.id,
      before,
      after,
    });

  router.get(path, (req, res) => {
    const all = items(store.current().config).filter((x) => visible(req, x));
    res.json({ object: 'list', data: all, ...versionOf(store.current()) });
  });
  router.post(path, async (req, res) => {
    const item = claimed(req, validate(schema as z.ZodType<Item>, req.body));
    if (items(store.current().config).some((x) => x.id === item.id))
      throw HttpError.conflict(`A ${key.slice(0, -1)} with id '${item.id}' exists.`, {
        param: 'id',
        code: 'already_exists',
      });
    const v = await store.update((c) => ({ ...c, [key]: [...items(c), item] }));
    await audit(req, 'create', item, undefined, item);
    res.status(201).json({ ...item, ...versionOf(v) });
  });
  router.get(`${path}/:id`, (req, res) => {
    res.json(find(req, req.params.id!));
  });
  router.put(`${path}/:id`, async (req, res) => {
    const before = find(req, req.params.id!);
    const item = claimed(req, validate(schema as z.ZodType<Item>, { ...req.body, id: req.params.id }));
    const v = await store.update((c) => ({ ...c, [key]: items(c).map((x) => (x.id === item.id ? item : x)) }));
    await audit(req, 'update', item, before, item);
    res.json({ ...item, ...versionOf(v) });
  });
  router.delete(`${path}/:id`, async (req, res) => {
    const before = find(req, req.params.id!);
    const v = await store.update((c) => ({ ...c, [key]: items(c).filter((x) => x.id !== req.params.id) }));
    await audit(req, 'delete', before, before);
    res.json({ id: req.params.id, deleted: true, ...versionOf(v) });
  });
}

export function adminRoutes(deps: { configStore: ConfigStore; db: Db }): Router {
  const store = deps.configStore;
  const db = deps.db;
  const router = Router();
  router.use('/v1/admin', requireAdmin);
  // What every tenant shares: operators only. (Tenant policies and budgets below are per tenant.)
  router.use(['/v1/admin/config', '/v1/admin/models'], requireOperator);

  router.get('/v1/admin/config', async (_req, res) => {
    // The stored configuration, as every process shares it (not this process's local overlay).
    const v = await store.storedCurrent();
    res.json({ config_version: v.version, source: v.source, config: v.config });
  });
  /** Replaces the whole stored configuration (an import, or the file reloaded): one audit row. */
  async function replaceWhole(req: Request, action: string, write: () => Promise<VersionedConfig>) {
    const before = await store.storedCurrent();
    await write();
    const after = await store.storedCurrent();
    await recordAudit(db, {
      actor: actorOf(req),
      action,
      target: `version ${after.version}`,
      before: { config_version: before.version, config: before.config },
      after: { config_version: after.version, config: after.config },
    });
    return { config_version: after.version, source: after.source };
  }
  router.put('/v1/admin/config', async (req, res) => {
    res.json(await replaceWhole(req, 'config.import', () => store.save(req.body?.config ?? req.body, 'import')));
  });
  router.post('/v1/admin/config/reload', async (req, res) => {
    if (!store.hasFile())
      throw HttpError.invalid(
        'There is no configuration file to reload (SWITCHYARD_CONFIG is not set); nothing was changed. Change the configuration through the admin API, or set SWITCHYARD_CONFIG.',
        { code: 'no_config_file' },
      );
    res.json(await replaceWhole(req, 'config.reload', () => store.reload()));
  });

  router.get('/v1/admin/models', (_req, res) => {
    res.json({ object: 'list', data: store.current().config.catalog.models, ...versionOf(store.current()) });
  });
  router.post('/v1/admin/models', async (req, res) => {
    const reg = validate(ModelRegistration, req.body);
    const id = `${reg.provider}/${reg.model}`;
    if (store.current().config.catalog.models.some((m) => m.id === id))
      throw HttpError.conflict(`Model '${id}' exists; PATCH it instead.`, { param: 'model', code: 'already_exists' });
    const v = await store.update((c) => ({
      ...c,
      catalog: { ...c.catalog, models: [...c.catalog.models, { id, ...reg }] },
    }));
    await recordAudit(db, { actor: actorOf(req), action: 'model.create', target: id, after: { id, ...reg } });
    res.status(201).json({ ...v.config.catalog.models.find((m) => m.id === id), ...versionOf(v) });
  });
  router.patch('/v1/admin/models/:provider/:model', async (req, res) => {
    const id = `${req.params.provider}/${req.params.model}`;
    if (!store.current().config.catalog.models.some((m) => m.id === id))
      throw HttpError.notFound(`No model '${id}'.`, { param: 'model', code: 'model_not_found' });
    const change = validate(ModelUpdate, req.body);
    const before = store.current().config.catalog.models.find((m) => m.id === id);
    const v = await store.update((c) => ({
      ...c,
      catalog: { ...c.catalog, models: c.catalog.models.map((m) => (m.id === id ? { ...m, ...change } : m)) },
    }));
    const after = v.config.catalog.models.find((m) => m.id === id);
    await recordAudit(db, { actor: actorOf(req), action: 'model.update', target: id, before, after });
    res.json({ ...after, ...versionOf(v) });
  });

  collection(router, store, db, '/v1/admin/rules', 'rules', RuleSchema);
  collection(router, store, db, '/v1/admin/overrides', 'overrides', OverrideSchema);

  router.get('/v1/admin/tenants/:id', (req, res) => {
    const id = tenantFromPath(req);
    res.json({ tenant_id: id, policy: store.current().config.tenants[id] ?? null });
  });
  router.put('/v1/admin/tenants/:id', async (req, res) => {
    const id = tenantFromPath(req);
    const policy = validate(TenantPolicySchema, req.body);
    const before = store.current().config.tenants[id];
    // An admin may narrow what its tenant may use, never widen it past what the operator set.
    const widens = authOf(req).role === 'operator' ? undefined : widening(before, policy);
    if (widens)
      throw HttpError.forbidden(
        `An admin may narrow the tenant's policy, not widen it: ${widens.why}. Ask an operator.`,
        {
          param: widens.param,
          code: 'policy_widening',
        },
      );
    const v = await store.update((c) => ({ ...c, tenants: { ...c.tenants, [id]: policy } }));
    await recordAudit(db, {
      actor: actorOf(req),
      tenantId: id,
      action: 'tenant.policy',
      target: id,
      before,
      after: v.config.tenants[id],
    });
    res.json({ tenant_id: id, policy: v.config.tenants[id], ...versionOf(v) });
  });
  return router;
}
