/** The audit log: every change an admin or operator makes, who made it, and what it was before and after. */
import type { Queryable } from './index';

export interface Actor {
  keyId?: string;
  tenantId?: string;
  role?: string;
}

export interface AuditEntry {
  actor: Actor;
  /** The tenant the change concerns; undefined for the shared configuration as a whole. */
  tenantId?: string;
  action: string;
  target?: string;
  before?: unknown;
  after?: unknown;
}

export interface AuditRow {
  id: string;
  at: Date;
  actor_key_id: string | null;
  actor_tenant: string | null;
  actor_role: string | null;
  tenant_id: string | null;
  action: string;
  target: string | null;
  before: unknown;
  after: unknown;
}

const json = (x: unknown) => (x === undefined ? null : JSON.stringify(x));

export async function recordAudit(db: Queryable, e: AuditEntry): Promise<void> {
  await db.query(
    `insert into audit_log (actor_key_id, actor_tenant, actor_role, tenant_id, action, target, before, after)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      e.actor.keyId ?? null,
      e.actor.tenantId ?? null,
      e.actor.role ?? null,
      e.tenantId ?? null,
      e.action,
      e.target ?? null,
      json(e.before),
      json(e.after),
    ],
  );
}

/** Newest first; one tenant's entries, or all (`tenantId` undefined); `before` pages by id. */
export async function listAudit(
  db: Queryable,
  q: { tenantId?: string; limit: number; beforeId?: number },
): Promise<AuditRow[]> {
  const res = await db.query<AuditRow>(
    `select * from audit_log where ($1::text is null or tenant_id = $1) and ($2::bigint is null or id < $2)
     order by id desc limit $3`,
    [q.tenantId ?? null, q.beforeId ?? null, q.limit],
  );
  return res.rows;
}
