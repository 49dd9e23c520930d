/**
 * Configuration endpoints. Operators: the configuration as a whole (export, import, reload from
 * the file), the model catalog, every rule and override. Admins: their own tenant's policy, rules
 * and overrides (another tenant's are not found). Every change is a new configuration version, picked up by every worker
 * within a second, and one audit row (who, what, before and after).
 */
import { Router, type Request, type RequestHandler } from 'express';
import { type z } from 'zod';
import type { ConfigStore, VersionedConfig } from '../../services/configStore';
import { ModelSchema } from '../../domain/catalog';
import {
  OverrideSchema,
  RuleSchema,
  TenantPolicySchema,
  type SwitchyardConfig,
  type TenantPolicy,
} from '../../domain/config';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import { actorOf, authOf, requireAdmin, requireOperator, tenantFromPath, tenantInScope } from '../auth';
import { widening } from '../../domain/tenantPolicy';
import { CONFIG_BOUNDS, oversizedItem, tenantOfItem } from '../../domain/configBounds';
import { HttpError } from '../errors';
import { expectedVersion, tagVersion } from '../ifMatch';
import { modelParam, validate } from '../validate';

export const ModelRegistration = ModelSchema.omit({ id: true });
export const ModelUpdate = ModelSchema.omit({ id: true, provider: true, model: true }).partial().strict();

const versionOf = (v: { version: number }) => ({ config_version: v.version });

type Item = { id: string; tenantId?: string; scope?: string; subject?: string; when?: Array<{ op: string }> };

/** The largest body a rule or override is read from: its bound, with room for indentation. */
export const ITEM_BODY_BYTES = 16 * CONFIG_BOUNDS.itemBytes;

/**
 * Refuses a rule or override body far past the bound by its Content-Length, before it is read or
 * parsed: megabytes of rule cost the process nothing. (Mounted ahead of the JSON body parser.)
 */
export const itemBodyGate: RequestHandler = (req, _res, next) => {
  const length = Number(req.headers['content-length'] ?? 0);
  if ((req.method !== 'POST' && req.method !== 'PUT') || !(length > ITEM_BODY_BYTES)) return next();
  const kind = req.baseUrl.endsWith('/overrides') ? 'override' : 'rule';
  next(
    new HttpError(
      413,
      'invalid_request_error',
      `A ${kind} is at most ${CONFIG_BOUNDS.itemBytes} bytes as JSON; this body is ${length} bytes.`,
      { param: 'body', code: `${kind}_too_large`, headers: { connection: 'close' } },
    ),
  );
};

/** A rule or override over the size bound: 413 naming its largest field, before anything is stored. */
function refuseOversized(key: 'rules' | 'overrides', body: unknown): void {
  // Not an object: validation says what is wrong with it.
  if (typeof body !== 'object' || body === null) return;
  const over = oversizedItem(body);
  if (over)
    throw new HttpError(
      413,
      'invalid_request_error',
      `This ${key.slice(0, -1)} is ${over.bytes} bytes as JSON; at most ${CONFIG_BOUNDS.itemBytes}${over.field ? ` (most of it in '${over.field}')` : ''}.`,
      { param: over.field ?? null, code: key === 'rules' ? 'rule_too_large' : 'override_too_large' },
    );
}

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
  const find = (req: Request, id: string, config = store.current().config) => {
    const item = items(config).find((x) => x.id === id);
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

  router.get(path, async (req, res) => {
    const v = await store.refresh();
    const all = items(v.config).filter((x) => visible(req, x));
    tagVersion(res, v.version);
    res.json({ object: 'list', data: all, ...versionOf(v) });
  });
  // Writes check what they depend on inside the change: it runs on the latest version (again
  // after a conflict), so an id taken or removed meanwhile is seen.
  // The size first: a rule of megabytes is refused before it is validated.
  router.post(path, async (req, res) => {
    refuseOversized(key, req.body);
    const item = claimed(req, validate(schema as z.ZodType<Item>, req.body));
    const v = await store.update((c) => {
      if (items(c).some((x) => x.id === item.id))
        throw HttpError.conflict(`A ${key.slice(0, -1)} with id '${item.id}' exists.`, {
          param: 'id',
          code: 'already_exists',
        });
      return { ...c, [key]: [...items(c), item] };
    }, expectedVersion(req));
    await audit(req, 'create', item, undefined, item);
    res.status(201).json({ ...item, ...versionOf(v) });
  });
  router.get(`${path}/:id`, async (req, res) => {
    const v = await store.refresh();
    tagVersion(res, v.version);
    res.json(find(req, req.params.id!, v.config));
  });
  router.put(`${path}/:id`, async (req, res) => {
    find(req, req.params.id!, (await store.refresh()).config);
    refuseOversized(key, req.body);
    const item = claimed(req, validate(schema as z.ZodType<Item>, { ...req.body, id: req.params.id }));
    const seen: { before?: Item } = {};
    const v = await store.update((c) => {
      seen.before = find(req, item.id, c);
      return { ...c, [key]: items(c).map((x) => (x.id === item.id ? item : x)) };
    }, expectedVersion(req));
    await audit(req, 'update', item, seen.before, item);
    res.json({ ...item, ...versionOf(v) });
  });
  router.delete(`${path}/:id`, async (req, res) => {
    const id = req.params.id!;
    find(req, id, (await store.refresh()).config);
    const seen: { before?: Item } = {};
    const v = await store.update((c) => {
      seen.before = find(req, id, c);
      return { ...c, [key]: items(c).filter((x) => x.id !== id) };
    }, expectedVersion(req));
    await audit(req, 'delete', seen.before!, seen.before);
    res.json({ id, deleted: true, ...versionOf(v) });
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
    tagVersion(res, v.version);
    res.json({ config_version: v.version, source: v.source, config: v.config });
  });
  /** Replaces the whole stored configuration (an import, or the file reloaded): one audit row. */
  async function replaceWhole(
    req: Request,
    action: string,
    write: () => Promise<{ before?: VersionedConfig; after: VersionedConfig }>,
  ) {
    const { before, after } = await write();
    await recordAudit(db, {
      actor: actorOf(req),
      action,
      target: `version ${after.version}`,
      before: before && { config_version: before.version, config: before.config },
      after: { config_version: after.version, config: after.config },
    });
    return { config_version: after.version, source: after.source };
  }
  router.put('/v1/admin/config', async (req, res) => {
    const opts = expectedVersion(req);
    res.json(
      await replaceWhole(req, 'config.import', () =>
        store.replace(req.body?.config ?? req.body, 'import', undefined, opts),
      ),
    );
  });
  router.post('/v1/admin/config/reload', async (req, res) => {
    if (!store.hasFile())
      throw HttpError.invalid(
        'There is no configuration file to reload (SWITCHYARD_CONFIG is not set); nothing was changed. Change the configuration through the admin API, or set SWITCHYARD_CONFIG.',
        { code: 'no_config_file' },
      );
    const opts = expectedVersion(req);
    res.json(await replaceWhole(req, 'config.reload', () => store.reload(opts)));
  });

  router.get('/v1/admin/models', async (_req, res) => {
    const v = await store.refresh();
    tagVersion(res, v.version);
    res.json({ object: 'list', data: v.config.catalog.models, ...versionOf(v) });
  });
  router.post('/v1/admin/models', async (req, res) => {
    const reg = validate(ModelRegistration, req.body);
    const id = `${reg.provider}/${reg.model}`;
    const v = await store.update((c) => {
      if (c.catalog.models.some((m) => m.id === id))
        throw HttpError.conflict(`Model '${id}' exists; PATCH it instead.`, { param: 'model', code: 'already_exists' });
      return { ...c, catalog: { ...c.catalog, models: [...c.catalog.models, { id, ...reg }] } };
    }, expectedVersion(req));
    await recordAudit(db, { actor: actorOf(req), action: 'model.create', target: id, after: { id, ...reg } });
    res.status(201).json({ ...v.config.catalog.models.find((m) => m.id === id), ...versionOf(v) });
  });
  router.patch('/v1/admin/models/:provider/*model', async (req, res) => {
    const id = `${req.params.provider}/${modelParam(req.params.model)}`;
    const noModel = () => HttpError.notFound(`No model '${id}'.`, { param: 'model', code: 'model_not_found' });
    if (!(await store.refresh()).config.catalog.models.some((m) => m.id === id)) throw noModel();
    const change = validate(ModelUpdate, req.body);
    const seen: { before?: SwitchyardConfig['catalog']['models'][number] } = {};
    const v = await store.update((c) => {
      seen.before = c.catalog.models.find((m) => m.id === id);
      if (!seen.before) throw noModel();
      return {
        ...c,
        catalog: { ...c.catalog, models: c.catalog.models.map((m) => (m.id === id ? { ...m, ...change } : m)) },
      };
    }, expectedVersion(req));
    const after = v.config.catalog.models.find((m) => m.id === id);
    await recordAudit(db, { actor: actorOf(req), action: 'model.update', target: id, before: seen.before, after });
    res.json({ ...after, ...versionOf(v) });
  });

  collection(router, store, db, '/v1/admin/rules', 'rules', RuleSchema);
  collection(router, store, db, '/v1/admin/overrides', 'overrides', OverrideSchema);

  router.get('/v1/admin/tenants/:id', async (req, res) => {
    const id = tenantFromPath(req);
    const v = await store.refresh();
    tagVersion(res, v.version);
    res.json({ tenant_id: id, policy: v.config.tenants[id] ?? null });
  });
  router.put('/v1/admin/tenants/:id', async (req, res) => {
    const id = tenantFromPath(req);
    const policy = validate(TenantPolicySchema, req.body);
    const seen: { before?: TenantPolicy } = {};
    const v = await store.update((c) => {
      // An admin may narrow what its tenant may use, never widen it past what the operator set.
      // Checked against the version the write lands on (not this process's view, which may be
      // a second old): an exclusion stored meanwhile is never replaced.
      const before = c.tenants[id];
      const widens = authOf(req).role === 'operator' ? undefined : widening(before, policy);
      if (widens)
        throw HttpError.forbidden(
          `An admin may narrow the tenant's policy, not widen it: ${widens.why}. Ask an operator.`,
          { param: widens.param, code: 'policy_widening' },
        );
      seen.before = before;
      return { ...c, tenants: { ...c.tenants, [id]: policy } };
    }, expectedVersion(req));
    await recordAudit(db, {
      actor: actorOf(req),
      tenantId: id,
      action: 'tenant.policy',
      target: id,
      before: seen.before,
      after: v.config.tenants[id],
    });
    res.json({ tenant_id: id, policy: v.config.tenants[id], ...versionOf(v) });
  });
  return router;
}
