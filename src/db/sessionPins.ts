/**
 * The `session_pins` table: which provider instance and model a session's last answer came from,
 * per tenant, until its expiry. Read by routing (only for a request that has a session), written
 * by the activity that settles a session's successful attempt. Shared by every process.
 */
import type { SessionPin } from '../domain/policy';
import type { Queryable } from './index';

/** The session's live pin (expired pins are not read), or undefined. */
export async function readPin(db: Queryable, tenantId: string, sessionKey: string): Promise<SessionPin | undefined> {
  const res = await db.query<{ provider: string; model_id: string; expires_at: Date | string }>(
    `select provider, model_id, expires_at from session_pins
     where tenant_id = $1 and session_key = $2 and expires_at > now()`,
    [tenantId, sessionKey],
  );
  const row = res.rows[0];
  return row && { provider: row.provider, modelId: row.model_id, expiresAt: new Date(row.expires_at).toISOString() };
}

/** One in this many writes also sweeps pins that expired (the table holds live sessions, not history). */
const SWEEP_ONE_IN = 100;

/**
 * Pins the session to the model that answered, for `ttlSeconds` from now (the database's clock),
 * in one statement: a later answer moves or refreshes it. Now and then the same statement removes
 * pins that have expired.
 */
export async function writePin(
  db: Queryable,
  p: { tenantId: string; sessionKey: string; provider: string; modelId: string; ttlSeconds: number },
  sweep = Math.random() < 1 / SWEEP_ONE_IN,
): Promise<void> {
  await db.query(
    // The sweep leaves this session's own row alone: one statement must not both delete and update it.
    `with swept as (delete from session_pins where $6::boolean and expires_at < now()
       and not (tenant_id = $1 and session_key = $2))
     insert into session_pins (tenant_id, session_key, provider, model_id, expires_at, updated_at)
     values ($1, $2, $3, $4, now() + make_interval(secs => $5::int), now())
     on conflict (tenant_id, session_key) do update set provider = excluded.provider,
       model_id = excluded.model_id, expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
    [p.tenantId, p.sessionKey, p.provider, p.modelId, Math.round(p.ttlSeconds), sweep],
  );
}
