/**
 * The `templates` and `template_labels` tables (migration 020). A scope is a tenant id, or null for
 * an operator-wide template. Versions are immutable rows; a delete hides them (`deleted_at`).
 */
import { randomUUID } from 'node:crypto';
import type { TemplateDefaults, TemplateMessage } from '../domain/templates';
import type { Db, Queryable } from './index';

/** A tenant id, or null: operator-wide. */
export type TemplateScope = string | null;

export interface TemplateRow {
  id: string;
  tenant_id: string | null;
  name: string;
  version: number;
  description: string | null;
  messages: TemplateMessage[];
  variables_schema: Record<string, unknown>;
  defaults: TemplateDefaults;
  created_at: Date;
  created_by: string | null;
  deleted_at: Date | null;
}

export interface LabelRow {
  label: string;
  version: number;
  updated_at: Date;
  updated_by: string | null;
}

// `coalesce(tenant_id, '')` is the unique indexes' scope: null (global) compares equal to itself.
const IN_SCOPE = `coalesce(tenant_id, '') = coalesce($1::text, '') and name = $2`;
/** The advisory lock class of template creates (with the scope and name's hash as the second key). */
const TEMPLATE_LOCK = 727_026;

export interface NewTemplateVersion {
  scope: TemplateScope;
  name: string;
  description?: string;
  messages: TemplateMessage[];
  variablesSchema: Record<string, unknown>;
  defaults: TemplateDefaults;
  createdBy?: string;
}

/** Stores the next version of a template (1 for a new name; after a delete, numbering goes on). */
export async function insertTemplateVersion(db: Db, t: NewTemplateVersion): Promise<TemplateRow> {
  return db.transaction(async (tx) => {
    // Creates of one name wait for each other (the lock is the transaction's), so each takes the next number;
    // the unique index would refuse a duplicate anyway.
    await tx.query(`select pg_advisory_xact_lock(${TEMPLATE_LOCK}, hashtext(coalesce($1::text, '') || ' ' || $2))`, [
      t.scope,
      t.name,
    ]);
    const res = await tx.query<TemplateRow>(
      `insert into templates (id, tenant_id, name, version, description, messages, variables_schema, defaults, created_by)
       select $3::text, $1::text, $2::text, coalesce(max(version), 0) + 1, $4::text, $5::jsonb, $6::jsonb, $7::jsonb, $8::text
       from templates where ${IN_SCOPE}
       returning *`,
      [
        t.scope,
        t.name,
        `tpl_${randomUUID().replace(/-/g, '')}`,
        t.description ?? null,
        JSON.stringify(t.messages),
        JSON.stringify(t.variablesSchema),
        JSON.stringify(t.defaults),
        t.createdBy ?? null,
      ],
    );
    return res.rows[0]!;
  });
}

/** Whether a scope has a template of this name (one not deleted). */
export async function templateExists(db: Queryable, scope: TemplateScope, name: string): Promise<boolean> {
  const res = await db.query(`select 1 from templates where ${IN_SCOPE} and deleted_at is null limit 1`, [scope, name]);
  return res.rows.length > 0;
}

/** A template's versions not deleted, oldest first. */
export async function listVersions(db: Queryable, scope: TemplateScope, name: string): Promise<TemplateRow[]> {
  const res = await db.query<TemplateRow>(
    `select * from templates where ${IN_SCOPE} and deleted_at is null order by version`,
    [scope, name],
  );
  return res.rows;
}

/** One version, deleted or not (a request record may name it). */
export async function getVersion(
  db: Queryable,
  scope: TemplateScope,
  name: string,
  version: number,
): Promise<TemplateRow | undefined> {
  const res = await db.query<TemplateRow>(`select * from templates where ${IN_SCOPE} and version = $3`, [
    scope,
    name,
    version,
  ]);
  return res.rows[0];
}

/** The latest version of each template a tenant sees: its own and the global ones (not deleted), by name. */
export async function listLatest(db: Queryable, tenantId: string): Promise<TemplateRow[]> {
  const res = await db.query<TemplateRow>(
    `select distinct on (coalesce(tenant_id, ''), name) * from templates
     where (tenant_id = $1 or tenant_id is null) and deleted_at is null
     order by coalesce(tenant_id, ''), name, version desc`,
    [tenantId],
  );
  return res.rows.sort((a, b) => a.name.localeCompare(b.name) || (a.tenant_id === null ? 1 : -1));
}

/** The labels of several templates of one tenant's view, in one query: `scope\u0000name` → labels. */
export async function labelsOfMany(db: Queryable, tenantId: string, names: string[]): Promise<Map<string, LabelRow[]>> {
  const res = await db.query<LabelRow & { tenant_id: string | null; name: string }>(
    `select tenant_id, name, label, version, updated_at, updated_by from template_labels
     where (tenant_id = $1 or tenant_id is null) and name = any($2::text[]) order by label`,
    [tenantId, names],
  );
  const out = new Map<string, LabelRow[]>();
  for (const r of res.rows) {
    const key = `${r.tenant_id ?? ''}\u0000${r.name}`;
    out.set(key, [
      ...(out.get(key) ?? []),
      { label: r.label, version: r.version, updated_at: r.updated_at, updated_by: r.updated_by },
    ]);
  }
  return out;
}

export async function listLabels(db: Queryable, scope: TemplateScope, name: string): Promise<LabelRow[]> {
  const res = await db.query<LabelRow>(
    `select label, version, updated_at, updated_by from template_labels where ${IN_SCOPE} order by label`,
    [scope, name],
  );
  return res.rows;
}

export async function getLabel(
  db: Queryable,
  scope: TemplateScope,
  name: string,
  label: string,
): Promise<number | undefined> {
  const res = await db.query<{ version: number }>(
    `select version from template_labels where ${IN_SCOPE} and label = $3`,
    [scope, name, label],
  );
  return res.rows[0]?.version;
}

/** Points a label at a version; returns the version it pointed at before (undefined: a new label). */
export async function setLabel(
  db: Db,
  l: { scope: TemplateScope; name: string; label: string; version: number; updatedBy?: string },
): Promise<number | undefined> {
  return db.transaction(async (tx) => {
    const before = await tx.query<{ version: number }>(
      `select version from template_labels where ${IN_SCOPE} and label = $3 for update`,
      [l.scope, l.name, l.label],
    );
    if (before.rows[0]) {
      await tx.query(
        `update template_labels set version = $4, updated_at = now(), updated_by = $5 where ${IN_SCOPE} and label = $3`,
        [l.scope, l.name, l.label, l.version, l.updatedBy ?? null],
      );
    } else {
      await tx.query(
        `insert into template_labels (tenant_id, name, label, version, updated_by) values ($1, $2, $3, $4, $5)`,
        [l.scope, l.name, l.label, l.version, l.updatedBy ?? null],
      );
    }
    return before.rows[0]?.version;
  });
}

/** Hides every version of a template and drops its labels; returns how many versions it hid. */
export async function deleteTemplate(db: Db, scope: TemplateScope, name: string): Promise<number> {
  return db.transaction(async (tx) => {
    const hidden = await tx.query(
      `update templates set deleted_at = now() where ${IN_SCOPE} and deleted_at is null returning id`,
      [scope, name],
    );
    await tx.query(`delete from template_labels where ${IN_SCOPE}`, [scope, name]);
    return hidden.rows.length;
  });
}
