/**
 * API keys map to tenants. Only a SHA-256 hash of each key is stored; lookups hash the presented key.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Queryable } from './index';

export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

export function generateApiKey(): string {
  return `sk-sy-${randomBytes(24).toString('base64url')}`;
}

export type KeyRole = 'admin' | 'member';

export interface ApiKeyOwner {
  keyId: string;
  tenantId: string;
  role: KeyRole;
}

export async function ensureTenant(db: Queryable, tenantId: string, name = tenantId): Promise<void> {
  await db.query('insert into tenants (id, name) values ($1, $2) on conflict (id) do nothing', [tenantId, name]);
}

/** Stores a key for a tenant (idempotent for the same key). */
export async function upsertApiKey(
  db: Queryable,
  tenantId: string,
  key: string,
  name: string,
  role: KeyRole = 'member',
): Promise<string> {
  await ensureTenant(db, tenantId);
  const id = `key_${randomUUID()}`;
  const res = await db.query<{ id: string }>(
    `insert into api_keys (id, tenant_id, key_hash, key_prefix, name, role) values ($1, $2, $3, $4, $5, $6)
     on conflict (key_hash) do update set revoked_at = null, role = excluded.role returning id`,
    [id, tenantId, hashKey(key), key.slice(0, 10), name, role],
  );
  return res.rows[0]!.id;
}

export async function findApiKey(db: Queryable, key: string): Promise<ApiKeyOwner | undefined> {
  const res = await db.query<{ id: string; tenant_id: string; role: KeyRole }>(
    'select id, tenant_id, role from api_keys where key_hash = $1 and revoked_at is null',
    [hashKey(key)],
  );
  const row = res.rows[0];
  return row ? { keyId: row.id, tenantId: row.tenant_id, role: row.role } : undefined;
}
