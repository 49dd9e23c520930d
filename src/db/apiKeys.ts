/**
 * Tenants and their API keys. A key is stored as an HMAC-SHA-256 of the key under a random salt of
 * its own, with its first characters as a lookup prefix: a lookup reads the rows with that prefix
 * and compares in constant time. Keys from before the salt (migration 007) keep their plain
 * SHA-256 and still verify. A revoked key stays revoked: nothing un-revokes it.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Queryable } from './index';

export const KEY_ROLES = ['member', 'admin', 'operator'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

/** `sk-sy-` and 8 characters: enough to find a key's row, shown in listings, never enough to use. */
const PREFIX_LENGTH = 14;
const LEGACY_PREFIX_LENGTH = 10;

export const keyPrefix = (key: string) => key.slice(0, PREFIX_LENGTH);

export function generateApiKey(): string {
  return `sk-sy-${randomBytes(24).toString('base64url')}`;
}

function digest(key: string, salt: string | null): string {
  return salt === null
    ? createHash('sha256').update(key).digest('hex')
    : createHmac('sha256', salt).update(key).digest('hex');
}

const sameDigest = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export interface ApiKeyOwner {
  keyId: string;
  tenantId: string;
  role: KeyRole;
}

export interface ApiKeyRow {
  id: string;
  tenant_id: string;
  key_prefix: string;
  name: string;
  role: KeyRole;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  created_by: string | null;
}

const KEY_COLUMNS =
  'id, tenant_id, key_prefix, name, role, created_at, expires_at, last_used_at, revoked_at, created_by';

export interface TenantRow {
  id: string;
  name: string;
  created_at: Date;
  deleted_at: Date | null;
}

export async function ensureTenant(db: Queryable, tenantId: string, name = tenantId): Promise<void> {
  await db.query('insert into tenants (id, name) values ($1, $2) on conflict (id) do nothing', [tenantId, name]);
}

/** Creates a tenant; false when the id is taken (by a live or a deleted tenant: ids are not reused). */
export async function createTenant(db: Queryable, id: string, name: string): Promise<boolean> {
  const res = await db.query('insert into tenants (id, name) values ($1, $2) on conflict (id) do nothing', [id, name]);
  return res.rowCount > 0;
}

export async function listTenants(db: Queryable): Promise<TenantRow[]> {
  return (await db.query<TenantRow>('select * from tenants where deleted_at is null order by id')).rows;
}

export async function getTenant(db: Queryable, id: string): Promise<TenantRow | undefined> {
  return (await db.query<TenantRow>('select * from tenants where id = $1 and deleted_at is null', [id])).rows[0];
}

/** Deletes a tenant: marks it deleted and revokes its keys (its requests stay, for the record). */
export async function deleteTenant(db: Queryable, id: string): Promise<boolean> {
  const res = await db.query('update tenants set deleted_at = now() where id = $1 and deleted_at is null', [id]);
  if (!res.rowCount) return false;
  await db.query('update api_keys set revoked_at = now() where tenant_id = $1 and revoked_at is null', [id]);
  return true;
}

/** Creates a key (a new one unless `key` is given); returns it: the only time it is ever shown. */
export async function createApiKey(
  db: Queryable,
  k: { tenantId: string; name: string; role: KeyRole; expiresAt?: Date; key?: string; createdBy?: string },
): Promise<{ row: ApiKeyRow; key: string }> {
  const key = k.key ?? generateApiKey();
  const salt = randomBytes(16).toString('hex');
  const res = await db.query<ApiKeyRow>(
    `insert into api_keys (id, tenant_id, key_hash, key_salt, key_prefix, name, role, expires_at, created_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning ${KEY_COLUMNS}`,
    [
      `key_${randomUUID()}`,
      k.tenantId,
      digest(key, salt),
      salt,
      keyPrefix(key),
      k.name,
      k.role,
      k.expiresAt ?? null,
      k.createdBy ?? null,
    ],
  );
  return { row: res.rows[0]!, key };
}

/** The row of a presented key, whatever its state (revoked, expired), or undefined. */
async function rowOfKey(db: Queryable, key: string) {
  const res = await db.query<ApiKeyRow & { key_hash: string; key_salt: string | null; tenant_deleted: boolean }>(
    `select k.*, t.deleted_at is not null as tenant_deleted from api_keys k join tenants t on t.id = k.tenant_id
     where k.key_prefix = any($1::text[])`,
    [[keyPrefix(key), key.slice(0, LEGACY_PREFIX_LENGTH)]],
  );
  return res.rows.find((r) => sameDigest(r.key_hash, digest(key, r.key_salt)));
}

/**
 * Stores a given key for a tenant unless it is stored already (a restart with the same bootstrap
 * key). An existing key keeps its state: a revoked one stays revoked. Returns its id and state.
 */
export async function upsertApiKey(
  db: Queryable,
  tenantId: string,
  key: string,
  name: string,
  role: KeyRole = 'member',
): Promise<{ id: string; revoked: boolean }> {
  await ensureTenant(db, tenantId);
  const existing = await rowOfKey(db, key);
  if (existing) return { id: existing.id, revoked: existing.revoked_at !== null };
  const { row } = await createApiKey(db, { tenantId, name, role, key });
  return { id: row.id, revoked: false };
}

export type KeyLookup =
  { ok: true; owner: ApiKeyOwner; lastUsedAt: Date | null } | { ok: false; why: 'unknown' | 'revoked' | 'expired' };

export async function findApiKey(db: Queryable, key: string, now = new Date()): Promise<KeyLookup> {
  const row = await rowOfKey(db, key);
  if (!row) return { ok: false, why: 'unknown' };
  if (row.revoked_at !== null || row.tenant_deleted) return { ok: false, why: 'revoked' };
  if (row.expires_at !== null && new Date(row.expires_at) <= now) return { ok: false, why: 'expired' };
  return {
    ok: true,
    owner: { keyId: row.id, tenantId: row.tenant_id, role: row.role },
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at),
  };
}

/** Records a key's use, at most once a minute per key (a write per request would be a hot row). */
export async function touchApiKey(db: Queryable, id: string): Promise<void> {
  await db.query(
    `update api_keys set last_used_at = now() where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')`,
    [id],
  );
}

/** Keys of one tenant, or of every tenant (`tenantId` undefined: the operator's view). */
export async function listApiKeys(db: Queryable, tenantId: string | undefined): Promise<ApiKeyRow[]> {
  const res = await db.query<ApiKeyRow>(
    `select ${KEY_COLUMNS} from api_keys where ($1::text is null or tenant_id = $1) order by tenant_id, created_at, id`,
    [tenantId ?? null],
  );
  return res.rows;
}

/** One key, if it belongs to `tenantId` (undefined: any tenant). */
export async function getApiKey(
  db: Queryable,
  id: string,
  tenantId: string | undefined,
): Promise<ApiKeyRow | undefined> {
  const res = await db.query<ApiKeyRow>(
    `select ${KEY_COLUMNS} from api_keys where id = $1 and ($2::text is null or tenant_id = $2)`,
    [id, tenantId ?? null],
  );
  return res.rows[0];
}

/** Revokes a key for good; returns the row as it was, or undefined if not found in `tenantId`. */
export async function revokeApiKey(
  db: Queryable,
  id: string,
  tenantId: string | undefined,
): Promise<ApiKeyRow | undefined> {
  const before = await getApiKey(db, id, tenantId);
  if (!before) return undefined;
  await db.query('update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1', [id]);
  return before;
}
