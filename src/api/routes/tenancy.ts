/**
 * Tenants and API keys.
 *   Tenants (operator): POST/GET /v1/tenants, DELETE /v1/tenants/{id}; GET /v1/tenants/{id}: an
 *   admin its own tenant, an operator any.
 *   Keys: POST /v1/keys (the key is in this response only), GET /v1/keys, GET/DELETE /v1/keys/{id},
 *   POST /v1/keys/{id}/rotate (a new key with the same name, role and expiry; the old one revoked).
 *   An admin manages its own tenant's keys up to its own role: it creates, revokes and rotates no
 *   operator key (it may list them, never their secret); an operator any tenant's, any role.
 * Audit: GET /v1/audit (an operator every entry, an admin its own tenant's).
 */
import type { Request } from 'express';
import { z } from 'zod';
import type { Db } from '../../db';
import {
  KEY_ROLES,
  createApiKey,
  createTenant,
  deleteTenant,
  getApiKey,
  getTenant,
  listApiKeys,
  listTenants,
  revokeApiKey,
  type ApiKeyRow,
  type KeyRole,
  type TenantRow,
} from '../../db/apiKeys';
import { listAudit, recordAudit } from '../../db/audit';
import { actorOf, authOf, hasRole, tenantFilterOf, tenantInScope } from '../auth';
import { HttpError } from '../errors';
import { TenantIdSchema } from '../../domain/tenant';
import { ADMIN_ERRORS, routeSpecs } from '../routeSpec';
import { readBody, validate } from '../validate';

export const NewTenant = z.object({ id: TenantIdSchema, name: z.string().min(1).max(200).optional() }).strict();

export const NewKey = z
  .object({
    name: z.string().min(1).max(200),
    role: z.enum(KEY_ROLES).default('member'),
    /** For operators: the tenant the key is for (default: the caller's). */
    tenant_id: TenantIdSchema.optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export const AuditQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(100),
    before: z.coerce.number().int().positive().optional(),
    tenant_id: TenantIdSchema.optional(),
  })
  .strict();

const tenantJson = (t: TenantRow) => ({ object: 'tenant', id: t.id, name: t.name, created_at: t.created_at });

const keyJson = (k: ApiKeyRow) => ({
  object: 'api_key',
  id: k.id,
  tenant_id: k.tenant_id,
  name: k.name,
  role: k.role,
  prefix: k.key_prefix,
  created_at: k.created_at,
  last_used_at: k.last_used_at,
  expires_at: k.expires_at,
  revoked_at: k.revoked_at,
});

const noKey = (id: string) => HttpError.notFound(`No API key '${id}'.`, { param: 'id', code: 'not_found' });

/** Creates a key of a role the caller may give, for a tenant that exists. */
async function issueKey(db: Db, req: Request, k: { tenantId: string; name: string; role: KeyRole; expiresAt?: Date }) {
  const auth = authOf(req);
  if (!hasRole(auth, k.role))
    throw HttpError.forbidden(`An ${auth.role} key cannot create ${k.role} keys.`, {
      param: 'role',
      code: 'role_not_allowed',
    });
  if (!(await getTenant(db, k.tenantId)))
    throw HttpError.notFound(`No tenant '${k.tenantId}'.`, { param: 'tenant_id', code: 'not_found' });
  return createApiKey(db, { ...k, createdBy: auth.keyId });
}

/**
 * A key the caller may revoke or rotate: in its tenant (else 404, as for a key that does not
 * exist) and of its own role or below (else 403: an admin sees its tenant's operator keys listed,
 * so their existence is no secret, but it must not take them, the bootstrap key included, away).
 */
async function keyInReach(db: Db, req: Request, id: string): Promise<ApiKeyRow> {
  const auth = authOf(req);
  const row = await getApiKey(db, id, tenantFilterOf(req));
  if (!row) throw noKey(id);
  if (!hasRole(auth, row.role))
    throw HttpError.forbidden(`An ${auth.role} key cannot change ${row.role} keys.`, {
      param: 'id',
      code: 'role_not_allowed',
    });
  return row;
}

export const tenancyRoutes = routeSpecs<{ db: Db }>([
  {
    method: 'post',
    path: '/v1/tenants',
    summary: 'Create a tenant',
    tag: 'tenancy',
    role: 'operator',
    body: NewTenant,
    errors: [...ADMIN_ERRORS, 409],
    handle: async (deps, req, res) => {
      const t = readBody(req, NewTenant);
      if (!(await createTenant(deps.db, t.id, t.name ?? t.id)))
        throw HttpError.conflict(`A tenant '${t.id}' exists (or existed: ids are not reused).`, {
          param: 'id',
          code: 'already_exists',
        });
      const row = (await getTenant(deps.db, t.id))!;
      await recordAudit(deps.db, {
        actor: actorOf(req),
        tenantId: t.id,
        action: 'tenant.create',
        after: tenantJson(row),
      });
      res.status(201).json(tenantJson(row));
    },
  },

  {
    method: 'get',
    path: '/v1/tenants',
    summary: 'Tenants',
    tag: 'tenancy',
    role: 'operator',
    errors: ADMIN_ERRORS,
    handle: async (deps, _req, res) => {
      res.json({ object: 'list', data: (await listTenants(deps.db)).map(tenantJson) });
    },
  },

  // Admin, as documented: a member key reads nothing of the tenant's administration.
  {
    method: 'get',
    path: '/v1/tenants/:id',
    summary: 'A tenant',
    tag: 'tenancy',
    role: 'admin',
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const id = tenantInScope(req, String(req.params.id));
      const row = await getTenant(deps.db, id);
      if (!row) throw HttpError.notFound(`No tenant '${id}'.`, { param: 'id', code: 'not_found' });
      res.json(tenantJson(row));
    },
  },

  {
    method: 'delete',
    path: '/v1/tenants/:id',
    summary: 'Disable a tenant',
    tag: 'tenancy',
    role: 'operator',
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const id = String(req.params.id);
      const before = await getTenant(deps.db, id);
      if (!before || !(await deleteTenant(deps.db, id)))
        throw HttpError.notFound(`No tenant '${id}'.`, { param: 'id', code: 'not_found' });
      await recordAudit(deps.db, {
        actor: actorOf(req),
        tenantId: id,
        action: 'tenant.delete',
        before: tenantJson(before),
      });
      res.json({ id, object: 'tenant', deleted: true });
    },
  },

  {
    method: 'post',
    path: '/v1/keys',
    summary: 'Create an API key',
    tag: 'tenancy',
    role: 'admin',
    body: NewKey,
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const body = readBody(req, NewKey);
      const tenantId = tenantInScope(req, body.tenant_id ?? authOf(req).tenantId);
      const expiresAt = body.expires_at ? new Date(body.expires_at) : undefined;
      if (expiresAt && expiresAt.getTime() <= Date.now())
        throw HttpError.invalid('expires_at must be in the future.', { param: 'expires_at', code: 'invalid_value' });
      const { row, key } = await issueKey(deps.db, req, { tenantId, name: body.name, role: body.role, expiresAt });
      await recordAudit(deps.db, {
        actor: actorOf(req),
        tenantId,
        action: 'key.create',
        target: row.id,
        after: keyJson(row),
      });
      res.status(201).json({ ...keyJson(row), key });
    },
  },

  {
    method: 'get',
    path: '/v1/keys',
    summary: 'API keys (prefixes only)',
    tag: 'tenancy',
    role: 'admin',
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const q = validate(z.object({ tenant_id: TenantIdSchema.optional() }).strict(), req.query);
      const tenantId = q.tenant_id ? tenantInScope(req, q.tenant_id) : tenantFilterOf(req);
      res.json({ object: 'list', data: (await listApiKeys(deps.db, tenantId)).map(keyJson) });
    },
  },

  {
    method: 'get',
    path: '/v1/keys/:id',
    summary: 'An API key',
    tag: 'tenancy',
    role: 'admin',
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const row = await getApiKey(deps.db, String(req.params.id), tenantFilterOf(req));
      if (!row) throw noKey(String(req.params.id));
      res.json(keyJson(row));
    },
  },

  {
    method: 'delete',
    path: '/v1/keys/:id',
    summary: 'Revoke an API key',
    tag: 'tenancy',
    role: 'admin',
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const id = String(req.params.id);
      await keyInReach(deps.db, req, id);
      const before = await revokeApiKey(deps.db, id, tenantFilterOf(req));
      if (!before) throw noKey(id);
      const after = (await getApiKey(deps.db, id, undefined))!;
      await recordAudit(deps.db, {
        actor: actorOf(req),
        tenantId: before.tenant_id,
        action: 'key.revoke',
        target: id,
        before: keyJson(before),
        after: keyJson(after),
      });
      res.json({ ...keyJson(after), deleted: true });
    },
  },

  {
    method: 'post',
    path: '/v1/keys/:id/rotate',
    summary: 'Rotate an API key',
    tag: 'tenancy',
    role: 'admin',
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const id = String(req.params.id);
      const old = await keyInReach(deps.db, req, id);
      if (old.revoked_at) throw HttpError.conflict(`API key '${id}' is revoked.`, { param: 'id', code: 'key_revoked' });
      const { row, key } = await issueKey(deps.db, req, {
        tenantId: old.tenant_id,
        name: old.name,
        role: old.role,
        expiresAt: old.expires_at ?? undefined,
      });
      await revokeApiKey(deps.db, id, undefined);
      await recordAudit(deps.db, {
        actor: actorOf(req),
        tenantId: old.tenant_id,
        action: 'key.rotate',
        target: id,
        before: keyJson(old),
        after: keyJson(row),
      });
      res.status(201).json({ ...keyJson(row), key, replaces: id });
    },
  },

  {
    method: 'get',
    path: '/v1/audit',
    summary: 'The audit log',
    tag: 'tenancy',
    role: 'admin',
    query: AuditQuery,
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const q = validate(AuditQuery, req.query);
      const tenantId = q.tenant_id ? tenantInScope(req, q.tenant_id) : tenantFilterOf(req);
      const rows = await listAudit(deps.db, { tenantId, limit: q.limit, beforeId: q.before });
      res.json({
        object: 'list',
        data: rows.map((r) => ({
          id: Number(r.id),
          at: r.at,
          actor: { key_id: r.actor_key_id, tenant_id: r.actor_tenant, role: r.actor_role },
          tenant_id: r.tenant_id,
          action: r.action,
          target: r.target,
          before: r.before,
          after: r.after,
        })),
      });
    },
  },
]);
