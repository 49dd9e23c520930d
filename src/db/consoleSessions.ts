/**
 * Console sessions: an opaque id (kept by the browser in an HttpOnly cookie) standing for the API
 * key it signed in with. Only the id's SHA-256 is stored. A session is valid while it has not
 * ended or expired and its key is still valid (not revoked, not expired, its tenant not deleted).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyOwner, KeyRole } from './apiKeys';
import type { Queryable } from './index';

const hashOf = (id: string) => createHash('sha256').update(id).digest('hex');

export interface ConsoleSession {
  owner: ApiKeyOwner;
  keyPrefix: string;
  csrfToken: string;
  expiresAt: Date;
}

/** Starts a session for a key already verified; returns its id, the only time it is seen. */
export async function startConsoleSession(
  db: Queryable,
  keyId: string,
  ttlMs: number,
): Promise<{ id: string; csrfToken: string; expiresAt: Date }> {
  const id = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(24).toString('base64url');
  const expiresAt = new Date(Date.now() + ttlMs);
  await db.query('insert into console_sessions (id_hash, key_id, csrf_token, expires_at) values ($1, $2, $3, $4)', [
    hashOf(id),
    keyId,
    csrfToken,
    expiresAt,
  ]);
  // Sessions long over are swept as new ones start: there is no other writer to this table.
  await db.query(`delete from console_sessions where expires_at < now() - interval '1 day'`);
  return { id, csrfToken, expiresAt };
}

/** The live session of an id, with its key's owner, or undefined. */
export async function findConsoleSession(db: Queryable, id: string): Promise<ConsoleSession | undefined> {
  const res = await db.query<{
    key_id: string;
    tenant_id: string;
    role: KeyRole;
    key_prefix: string;
    csrf_token: string;
    expires_at: Date;
  }>(
    `select s.key_id, k.tenant_id, k.role, k.key_prefix, s.csrf_token, s.expires_at
       from console_sessions s join api_keys k on k.id = s.key_id join tenants t on t.id = k.tenant_id
      where s.id_hash = $1 and s.ended_at is null and s.expires_at > now()
        and k.revoked_at is null and (k.expires_at is null or k.expires_at > now()) and t.deleted_at is null`,
    [hashOf(id)],
  );
  const r = res.rows[0];
  return (
    r && {
      owner: { keyId: r.key_id, tenantId: r.tenant_id, role: r.role },
      keyPrefix: r.key_prefix,
      csrfToken: r.csrf_token,
      expiresAt: new Date(r.expires_at),
    }
  );
}

export async function endConsoleSession(db: Queryable, id: string): Promise<void> {
  await db.query('update console_sessions set ended_at = now() where id_hash = $1 and ended_at is null', [hashOf(id)]);
}
