/**
 * The `alerts` episodes and their webhook deliveries (src/db/migrations/018_alerts.sql). Opening
 * is an insert that does nothing when the (kind, subject) already has an open episode, so any
 * process may open one (the alert monitor, the breaker projection, the API's rate limiter) and it
 * is opened once.
 */
import { randomBytes } from 'node:crypto';
import { SEVERITY, type AlertCondition, type AlertKind, type OpenAlert } from '../domain/alerts';
import { budgetAlertEventsCte } from './eventOutbox';
import type { Queryable, SqlParam } from './index';

export interface AlertRow {
  id: string;
  kind: AlertKind;
  subject: string;
  tenant_id: string | null;
  severity: string;
  summary: string;
  details: Record<string, unknown>;
  opened_at: Date;
  resolved_at: Date | null;
}

export interface DeliveryRow {
  alert_id: string;
  event: string;
  url_hash: string;
  url_host: string;
  status: string;
  attempts: number;
  at: Date;
  error: string | null;
}

const newId = () => `alert_${randomBytes(12).toString('hex')}`;
const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

/** Opens an episode unless one of its kind and subject is open; the new row, or undefined. */
export async function openAlert(db: Queryable, c: AlertCondition, at: number): Promise<AlertRow | undefined> {
  const res = await db.query<AlertRow>(
    `with ins as (
       insert into alerts (id, kind, subject, tenant_id, severity, summary, details, opened_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8)
       on conflict (kind, subject) where resolved_at is null do nothing
       returning *),
     -- A tenant's budget alert is a budget.alert usage event, in the same commit (src/db/eventOutbox.ts).
     events as (${budgetAlertEventsCte('ins')})
     select * from ins`,
    [newId(), c.kind, c.subject, c.tenantId, SEVERITY[c.kind], c.summary, JSON.stringify(c.details), new Date(at)],
  );
  return res.rows[0];
}

/** Resolves an open episode (once: a resolved one stays as it was). */
export async function resolveAlert(db: Queryable, id: string, at: number): Promise<boolean> {
  const res = await db.query('update alerts set resolved_at = $2 where id = $1 and resolved_at is null', [
    id,
    new Date(at),
  ]);
  return res.rowCount > 0;
}

/** Resolves the open episode of a kind and subject, if any (a breaker that closed). */
export async function resolveAlertOf(db: Queryable, kind: AlertKind, subject: string, at: number): Promise<void> {
  await db.query('update alerts set resolved_at = $3 where kind = $1 and subject = $2 and resolved_at is null', [
    kind,
    subject,
    new Date(at),
  ]);
}

export async function openAlerts(db: Queryable): Promise<OpenAlert[]> {
  const res = await db.query<{ id: string; kind: AlertKind; subject: string; details: unknown }>(
    'select id, kind, subject, details from alerts where resolved_at is null',
  );
  return res.rows.map((r) => ({ ...r, details: json(r.details as Record<string, unknown>) }));
}

/** Events the webhooks have not been told of yet: openings, then resolutions, oldest first. */
export async function unnotifiedEvents(
  db: Queryable,
  limit = 100,
): Promise<Array<{ alertId: string; event: 'opened' | 'resolved' }>> {
  const res = await db.query<{ id: string; event: 'opened' | 'resolved' }>(
    `select id, 'opened' as event, opened_at as t from alerts where open_notified_at is null
     union all
     select id, 'resolved' as event, resolved_at as t from alerts
      where resolved_at is not null and resolve_notified_at is null and open_notified_at is not null
     order by t limit $1`,
    [limit],
  );
  return res.rows.map((r) => ({ alertId: r.id, event: r.event }));
}

/** The webhooks were told of the event (or gave up on): it is not sent again. */
export async function markNotified(db: Queryable, alertId: string, event: 'opened' | 'resolved', at: number) {
  const column = event === 'opened' ? 'open_notified_at' : 'resolve_notified_at';
  await db.query(`update alerts set ${column} = coalesce(${column}, $2) where id = $1`, [alertId, new Date(at)]);
}

export async function getAlert(db: Queryable, id: string): Promise<AlertRow | undefined> {
  const res = await db.query<AlertRow>('select * from alerts where id = $1', [id]);
  return res.rows[0] && { ...res.rows[0], details: json(res.rows[0].details) };
}

export async function deliveriesOf(db: Queryable, alertIds: string[]): Promise<DeliveryRow[]> {
  if (!alertIds.length) return [];
  const res = await db.query<DeliveryRow>(
    'select * from alert_deliveries where alert_id = any($1) order by at, url_host',
    [alertIds],
  );
  return res.rows;
}

/** Records one attempt of a webhook's delivery of an event. */
export async function recordDelivery(
  db: Queryable,
  d: { alertId: string; event: string; urlHash: string; urlHost: string; status: string; error?: string },
  at: number,
): Promise<void> {
  await db.query(
    `insert into alert_deliveries (alert_id, event, url_hash, url_host, status, attempts, at, error)
     values ($1, $2, $3, $4, $5, 1, $6, $7)
     on conflict (alert_id, event, url_hash) do update set status = excluded.status,
       attempts = alert_deliveries.attempts + 1, at = excluded.at, error = excluded.error`,
    [d.alertId, d.event, d.urlHash, d.urlHost, d.status, new Date(at), d.error ?? null],
  );
}

export interface AlertFilter {
  status: 'open' | 'resolved' | 'all';
  kinds?: AlertKind[];
  /** Only this tenant's (members and admins). */
  tenantId?: string;
  limit: number;
  /** After this (opened_at, id), newest first. */
  after?: { openedAt: string; id: string };
}

export async function listAlertRows(db: Queryable, f: AlertFilter): Promise<AlertRow[]> {
  const where: string[] = [];
  const params: SqlParam[] = [];
  const p = (v: SqlParam) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.status === 'open') where.push('resolved_at is null');
  if (f.status === 'resolved') where.push('resolved_at is not null');
  if (f.kinds) where.push(`kind = any(${p(f.kinds)})`);
  if (f.tenantId !== undefined) where.push(`tenant_id = ${p(f.tenantId)}`);
  if (f.after) where.push(`(opened_at, id) < (${p(new Date(f.after.openedAt))}, ${p(f.after.id)})`);
  const res = await db.query<AlertRow>(
    `select * from alerts ${where.length ? `where ${where.join(' and ')}` : ''}
     order by opened_at desc, id desc limit ${p(f.limit)}`,
    params,
  );
  return res.rows.map((r) => ({ ...r, details: json(r.details) }));
}

/** Current budget windows with their tenant (for budget alerts). */
export async function currentBudgetWindows(db: Queryable, at: number) {
  const res = await db.query<{
    tenant_id: string;
    scope: string;
    period: string;
    window_start: Date;
    window_end: Date;
    limit_usd: string;
    spent_usd: string;
  }>(
    `select tenant_id, scope, period, window_start, window_end, limit_usd::text, spent_usd::text from budget_windows
      where tenant_id is not null and closed_at is null and window_start <= $1 and window_end > $1`,
    [new Date(at)],
  );
  return res.rows.map((r) => ({
    tenantId: r.tenant_id,
    scope: r.scope,
    period: r.period,
    windowStart: new Date(r.window_start).toISOString(),
    windowEnd: new Date(r.window_end).toISOString(),
    limitUsd: Number(r.limit_usd),
    spentUsd: Number(r.spent_usd),
  }));
}

/** p95 latency and count of completed requests per provider/model since `since`. */
export async function latencyStats(db: Queryable, since: number) {
  const res = await db.query<{ provider: string; model: string; n: string; p95: string }>(
    `select provider, model, count(*)::text as n,
            (percentile_cont(0.95) within group (order by latency_ms))::text as p95
       from requests
      where completed_at >= $1 and latency_ms is not null and provider is not null and model is not null
      group by provider, model`,
    [new Date(since)],
  );
  return res.rows.map((r) => ({ provider: r.provider, model: r.model, count: Number(r.n), p95Ms: Number(r.p95) }));
}

/** Updates an open episode's details (a rate-limit episode's later end); it stays the same episode. */
export async function refreshAlertDetails(
  db: Queryable,
  kind: AlertKind,
  subject: string,
  details: Record<string, unknown>,
): Promise<void> {
  await db.query('update alerts set details = $3 where kind = $1 and subject = $2 and resolved_at is null', [
    kind,
    subject,
    JSON.stringify(details),
  ]);
}
