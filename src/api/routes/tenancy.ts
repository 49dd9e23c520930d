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
import { Router, type Request } from 'express';
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
import { actorOf, authOf, hasRole, requireAdmin, requireOperator, tenantFilterOf, tenantInScope } from '../auth';
import { HttpError } from '../errors';
import { TenantIdSchema } from '../../domain/tenant';
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

export function tenancyRoutes(deps: { db: Db }): Router {
  const router = Router();
  const noKey = (id: string) => HttpError.notFound(`No API key '${id}'.`, { param: 'id', code: 'not_found' });

  router.post('/v1/tenants', requireOperator, async (req, res) => {
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
  });

  router.get('/v1/tenants', requireOperator, async (_req, res) => {
    res.json({ object: 'list', data: (await listTenants(deps.db)).map(tenantJson) });
  });

  // Admin, as documented: a member key reads nothing of the tenant's administration.
  router.get('/v1/tenants/:id', requireAdmin, async (req, res) => {
    const id = tenantInScope(req, String(req.params.id));
    const row = await getTenant(deps.db, id);
    if (!row) throw HttpError.notFound(`No tenant '${id}'.`, { param: 'id', code: 'not_found' });
    res.json(tenantJson(row));
  });

  router.delete('/v1/tenants/:id', requireOperator, async (req, res) => {
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
  });

  /** Creates a key of a role the caller may give, for a tenant that exists. */
  async function issueKey(req: Request, k: { tenantId: string; name: string; role: KeyRole; expiresAt?: Date }) {
    const auth = authOf(req);
    if (!hasRole(auth, k.role))
      throw HttpError.forbidden(`An ${auth.role} key cannot create ${k.role} keys.`, {
        param: 'role',
        code: 'role_not_allowed',
      });
    if (!(await getTenant(deps.db, k.tenantId)))
      throw HttpError.notFound(`No tenant '${k.tenantId}'.`, { param: 'tenant_id', code: 'not_found' });
    return createApiKey(deps.db, { ...k, createdBy: auth.keyId });
  }

  /**
   * A key the caller may revoke or rotate: in its tenant (else 404, as for a key that does not
   * exist) and of its own role or below (else 403: an admin sees its tenant's operator keys listed,
   * so their existence is no secret, but it must not take them, the bootstrap key included, away).
   */
  async function keyInReach(req: Request, id: string): Promise<ApiKeyRow> {
    const auth = authOf(req);
    const row = await getApiKey(deps.db, id, tenantFilterOf(req));
    if (!row) throw noKey(id);
    if (!hasRole(auth, row.role))
      throw HttpError.forbidden(`An ${auth.role} key cannot change ${row.role} keys.`, {
        param: 'id',
        code: 'role_not_allowed',
      });
    return row;
  }

  router.post('/v1/keys', requireAdmin, async (req, res) => {
    const body = readBody(req, NewKey);
    const tenantId = tenantInScope(req, body.tenant_id ?? authOf(req).tenantId);
    const expiresAt = body.expires_at ? new Date(body.expires_at) : undefined;
    if (expiresAt && expiresAt.getTime() <= Date.now())
      throw HttpError.invalid('expires_at must be in the future.', { param: 'expires_at', code: 'invalid_value' });
    const { row, key } = await issueKey(req, { tenantId, name: body.name, role: body.role, expiresAt });
    await recordAudit(deps.db, {
      actor: actorOf(req),
      tenantId,
      action: 'key.create',
      target: row.id,
      after: keyJson(row),
    });
    res.status(201).json({ ...keyJson(row), key });
  });

  router.get('/v1/keys', requireAdmin, async (req, res) => {
    const q = validate(z.object({ tenant_id: TenantIdSchema.optional() }).strict(), req.query);
    const tenantId = q.tenant_id ? tenantInScope(req, q.tenant_id) : tenantFilterOf(req);
    res.json({ object: 'list', data: (await listApiKeys(deps.db, tenantId)).map(keyJson) });
  });

  router.get('/v1/keys/:id', requireAdmin, async (req, res) => {
    const row = await getApiKey(deps.db, String(req.params.id), tenantFilterOf(req));
    if (!row) throw noKey(String(req.params.id));
    res.json(keyJson(row));
  });

  router.delete('/v1/keys/:id', requireAdmin, async (req, res) => {
    const id = String(req.params.id);
    await keyInReach(req, id);
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
  });

  router.post('/v1/keys/:id/rotate', requireAdmin, async (req, res) => {
    const id = String(req.params.id);
    const old = await keyInReach(req, id);
    if (old.revoked_at) throw HttpError.conflict(`API key '${id}' is revoked.`, { param: 'id', code: 'key_revoked' });
    const { row, key } = await issueKey(req, {
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
  });

  router.get('/v1/audit', requireAdmin, async (req, res) => {
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
  });

  return router;
}
