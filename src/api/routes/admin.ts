/**
 * Configuration endpoints. Operators: the configuration as a whole (export, import, reload from
 * the file), the model catalog, every rule and override. Admins: their own tenant's policy, rules
 * and overrides (another tenant's are not found). Every change is a new configuration version, picked up by every worker
 * within a second, and one audit row (who, what, before and after).
 */
import type { Request, RequestHandler } from 'express';
import { type z } from 'zod';
import type { ConfigStore, VersionedConfig } from '../../services/configStore';
import { ModelSchema } from '../../domain/catalog';
import {
  OverrideSchema,
  RuleSchema,
  SwitchyardConfigSchema,
  TenantPolicySchema,
  type SwitchyardConfig,
  type TenantPolicy,
} from '../../domain/config';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import { actorOf, authOf, tenantFromPath, tenantInScope } from '../auth';
import { widening } from '../../domain/tenantPolicy';
import { CONFIG_BOUNDS, oversizedItem, tenantOfItem } from '../../domain/configBounds';
import { HttpError } from '../errors';
import { expectedVersion, tagVersion } from '../ifMatch';
import { ADMIN_ERRORS, CONFIG_WRITE_ERRORS, routeSpecs, type RouteSpec } from '../routeSpec';
import { modelParam, validate } from '../validate';

export const ModelRegistration = ModelSchema.omit({ id: true });
export const ModelUpdate = ModelSchema.omit({ id: true, provider: true, model: true }).partial().strict();

const versionOf = (v: { version: number }) => ({ config_version: v.version });

type AdminDeps = { configStore: ConfigStore; db: Db };

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
  key: 'rules' | 'overrides',
  schema: typeof RuleSchema | typeof OverrideSchema,
  names: { all: string; one: string; a: string },
): Array<RouteSpec<AdminDeps>> {
  const path = `/v1/admin/${key}`;
  const items = (c: SwitchyardConfig) => c[key] as Item[];
  const visible = (req: Request, item: Item) =>
    authOf(req).role === 'operator' || tenantOfItem(key, item) === authOf(req).tenantId;
  const find = (req: Request, id: string, config: SwitchyardConfig) => {
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
  const audit = (db: Db, req: Request, action: string, item: Item, before?: Item, after?: Item) =>
    recordAudit(db, {
      actor: actorOf(req),
      tenantId: tenantOfItem(key, item),
      action: `${key}.${action}`,
      target: item.id,
      before,
      after,
    });

  return [
    {
      method: 'get',
      path,
      summary: names.all,
      tag: 'policy',
      role: 'admin',
      errors: ADMIN_ERRORS,
      handle: async ({ configStore: store }, req, res) => {
        const v = await store.refresh();
        const all = items(v.config).filter((x) => visible(req, x));
        tagVersion(res, v.version);
        res.json({ object: 'list', data: all, ...versionOf(v) });
      },
    },
    // Writes check what they depend on inside the change: it runs on the latest version (again
    // after a conflict), so an id taken or removed meanwhile is seen.
    // The size first: a rule of megabytes is refused before it is validated.
    {
      method: 'post',
      path,
      summary: `Add ${names.a}`,
      tag: 'policy',
      role: 'admin',
      body: schema,
      errors: CONFIG_WRITE_ERRORS,
      handle: async ({ configStore: store, db }, req, res) => {
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
        await audit(db, req, 'create', item, undefined, item);
        res.status(201).json({ ...item, ...versionOf(v) });
      },
    },
    {
      method: 'get',
      path: `${path}/:id`,
      summary: names.one,
      tag: 'policy',
      role: 'admin',
      errors: ADMIN_ERRORS,
      handle: async ({ configStore: store }, req, res) => {
        const v = await store.refresh();
        tagVersion(res, v.version);
        res.json(find(req, String(req.params.id), v.config));
      },
    },
    {
      method: 'put',
      path: `${path}/:id`,
      summary: `Replace ${names.a}`,
      tag: 'policy',
      role: 'admin',
      body: schema,
      errors: CONFIG_WRITE_ERRORS,
      handle: async ({ configStore: store, db }, req, res) => {
        find(req, String(req.params.id), (await store.refresh()).config);
        refuseOversized(key, req.body);
        const item = claimed(req, validate(schema as z.ZodType<Item>, { ...req.body, id: req.params.id }));
        const seen: { before?: Item } = {};
        const v = await store.update((c) => {
          seen.before = find(req, item.id, c);
          return { ...c, [key]: items(c).map((x) => (x.id === item.id ? item : x)) };
        }, expectedVersion(req));
        await audit(db, req, 'update', item, seen.before, item);
        res.json({ ...item, ...versionOf(v) });
      },
    },
    {
      method: 'delete',
      path: `${path}/:id`,
      summary: `Delete ${names.a}`,
      tag: 'policy',
      role: 'admin',
      errors: CONFIG_WRITE_ERRORS,
      handle: async ({ configStore: store, db }, req, res) => {
        const id = String(req.params.id);
        find(req, id, (await store.refresh()).config);
        const seen: { before?: Item } = {};
        const v = await store.update((c) => {
          seen.before = find(req, id, c);
          return { ...c, [key]: items(c).filter((x) => x.id !== id) };
        }, expectedVersion(req));
        await audit(db, req, 'delete', seen.before!, seen.before);
        res.json({ id, deleted: true, ...versionOf(v) });
      },
    },
  ];
}

/** Replaces the whole stored configuration (an import, or the file reloaded): one audit row. */
async function replaceWhole(
  db: Db,
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

export const adminRoutes = routeSpecs<AdminDeps>([
  {
    method: 'get',
    path: '/v1/admin/config',
    summary: 'Export the configuration',
    tag: 'policy',
    role: 'operator',
    errors: ADMIN_ERRORS,
    handle: async (deps, _req, res) => {
      // The stored configuration, as every process shares it (not this process's local overlay).
      const v = await deps.configStore.storedCurrent();
      tagVersion(res, v.version);
      res.json({ config_version: v.version, source: v.source, config: v.config });
    },
  },
  {
    method: 'put',
    path: '/v1/admin/config',
    summary: 'Import a configuration',
    tag: 'policy',
    role: 'operator',
    body: SwitchyardConfigSchema,
    errors: CONFIG_WRITE_ERRORS,
    handle: async (deps, req, res) => {
      const opts = expectedVersion(req);
      res.json(
        await replaceWhole(deps.db, req, 'config.import', () =>
          deps.configStore.replace(req.body?.config ?? req.body, 'import', undefined, opts),
        ),
      );
    },
  },
  {
    method: 'post',
    path: '/v1/admin/config/reload',
    summary: 'Re-read the configuration file',
    tag: 'policy',
    role: 'operator',
    errors: CONFIG_WRITE_ERRORS,
    handle: async (deps, req, res) => {
      if (!deps.configStore.hasFile())
        throw HttpError.invalid(
          'There is no configuration file to reload (SWITCHYARD_CONFIG is not set); nothing was changed. Change the configuration through the admin API, or set SWITCHYARD_CONFIG.',
          { code: 'no_config_file' },
        );
      const opts = expectedVersion(req);
      res.json(await replaceWhole(deps.db, req, 'config.reload', () => deps.configStore.reload(opts)));
    },
  },

  {
    method: 'get',
    path: '/v1/admin/models',
    summary: 'The catalog',
    tag: 'policy',
    role: 'operator',
    errors: ADMIN_ERRORS,
    handle: async (deps, _req, res) => {
      const v = await deps.configStore.refresh();
      tagVersion(res, v.version);
      res.json({ object: 'list', data: v.config.catalog.models, ...versionOf(v) });
    },
  },
  {
    method: 'post',
    path: '/v1/admin/models',
    summary: 'Register a model',
    tag: 'policy',
    role: 'operator',
    body: ModelRegistration,
    errors: CONFIG_WRITE_ERRORS,
    handle: async (deps, req, res) => {
      const reg = validate(ModelRegistration, req.body);
      const id = `${reg.provider}/${reg.model}`;
      const v = await deps.configStore.update((c) => {
        if (c.catalog.models.some((m) => m.id === id))
          throw HttpError.conflict(`Model '${id}' exists; PATCH it instead.`, {
            param: 'model',
            code: 'already_exists',
          });
        return { ...c, catalog: { ...c.catalog, models: [...c.catalog.models, { id, ...reg }] } };
      }, expectedVersion(req));
      await recordAudit(deps.db, { actor: actorOf(req), action: 'model.create', target: id, after: { id, ...reg } });
      res.status(201).json({ ...v.config.catalog.models.find((m) => m.id === id), ...versionOf(v) });
    },
  },
  {
    method: 'patch',
    path: '/v1/admin/models/:provider/*model',
    summary: 'Update a model',
    tag: 'policy',
    role: 'operator',
    body: ModelUpdate,
    errors: CONFIG_WRITE_ERRORS,
    handle: async (deps, req, res) => {
      const id = `${req.params.provider}/${modelParam(req.params.model)}`;
      const noModel = () => HttpError.notFound(`No model '${id}'.`, { param: 'model', code: 'model_not_found' });
      if (!(await deps.configStore.refresh()).config.catalog.models.some((m) => m.id === id)) throw noModel();
      const change = validate(ModelUpdate, req.body);
      const seen: { before?: SwitchyardConfig['catalog']['models'][number] } = {};
      const v = await deps.configStore.update((c) => {
        seen.before = c.catalog.models.find((m) => m.id === id);
        if (!seen.before) throw noModel();
        return {
          ...c,
          catalog: { ...c.catalog, models: c.catalog.models.map((m) => (m.id === id ? { ...m, ...change } : m)) },
        };
      }, expectedVersion(req));
      const after = v.config.catalog.models.find((m) => m.id === id);
      await recordAudit(deps.db, {
        actor: actorOf(req),
        action: 'model.update',
        target: id,
        before: seen.before,
        after,
      });
      res.json({ ...after, ...versionOf(v) });
    },
  },

  ...collection('rules', RuleSchema, { all: 'Routing rules', one: 'A rule', a: 'a rule' }),
  ...collection('overrides', OverrideSchema, { all: 'Overrides', one: 'An override', a: 'an override' }),

  {
    method: 'get',
    path: '/v1/admin/tenants/:id',
    summary: "A tenant's policy",
    tag: 'policy',
    role: 'admin',
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const id = tenantFromPath(req);
      const v = await deps.configStore.refresh();
      tagVersion(res, v.version);
      res.json({ tenant_id: id, policy: v.config.tenants[id] ?? null });
    },
  },
  {
    method: 'put',
    path: '/v1/admin/tenants/:id',
    summary: "Set a tenant's policy",
    tag: 'policy',
    role: 'admin',
    body: TenantPolicySchema,
    errors: CONFIG_WRITE_ERRORS,
    handle: async (deps, req, res) => {
      const id = tenantFromPath(req);
      const policy = validate(TenantPolicySchema, req.body);
      const seen: { before?: TenantPolicy } = {};
      const v = await deps.configStore.update((c) => {
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
      await recordAudit(deps.db, {
        actor: actorOf(req),
        tenantId: id,
        action: 'tenant.policy',
        target: id,
        before: seen.before,
        after: v.config.tenants[id],
      });
      res.json({ tenant_id: id, policy: v.config.tenants[id], ...versionOf(v) });
    },
  },
]);
