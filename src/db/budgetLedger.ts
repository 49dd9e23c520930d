/**
 * The budget ledger: reserve → settle / release, atomically in Postgres.
 *
 * Why it cannot overspend: a reservation is one call of `budget_reserve` (migration 005), which
 * locks every applicable window row (`for update`, always in the same order, so concurrent
 * reservations queue instead of deadlocking), checks `spent + reserved + amount ≤ limit` on exact
 * decimals, and only then adds to `reserved`. A concurrent reservation waits for the lock and sees
 * the new total. Settling moves the reservation's amount out of `reserved` and the real cost into
 * `spent`; releasing only frees it. Each step is idempotent by reservation id (one per provider
 * call attempt), and reservations that are never settled expire.
 *
 * Why it is fast enough: one statement per reservation, so a window's row lock is held for the
 * function's few microseconds of work and its commit, not for client round trips.
 */
import {
  remainingUsd,
  type BudgetAlert,
  type ClosedWindow,
  type Period,
  type WindowKey,
  type WindowUsage,
} from '../domain/budget';

export type { BudgetAlert, ClosedWindow, WindowUsage } from '../domain/budget';
import type { Db, Queryable, SqlParam } from './index';

export interface RefusedWindow {
  scope: string;
  period: Period;
  limitUsd: number;
  spentUsd: number;
  reservedUsd: number;
  remainingUsd: number;
  resetsAt: string;
}

export type ReserveResult =
  { ok: true; reservationId: string; duplicate: boolean } | { ok: false; refused: RefusedWindow };

/** Exact decimal text for numeric parameters (no float formatting surprises). */
export const usd = (x: number) => x.toFixed(10);

export interface ReserveInput {
  id: string;
  tenantId?: string;
  amountUsd: number;
  windows: WindowKey[];
  ttlMs: number;
  now: number;
}

/** The row `budget_reserve` returns: granted, a duplicate of a reservation made before, or refused (with the window). */
export interface ReserveRow {
  status: string;
  scope: string;
  period: Period;
  limit_usd: number;
  spent_usd: number;
  reserved_usd: number;
  window_end: Date;
}

/** The `budget_reserve` call and its parameters, numbered from `$first` (other statements embed it). */
export function reserveCallSql(r: ReserveInput, first = 1): { sql: string; params: SqlParam[] } {
  const w = r.windows;
  const types = ['', '', '::numeric', '::text[]', '::text[]', '::timestamptz[]', '::timestamptz[]', '::numeric[]', ''];
  return {
    sql: `budget_reserve(${types.map((t, i) => `$${first + i}${t}`).join(', ')})`,
    params: [
      r.id,
      r.tenantId ?? null,
      usd(r.amountUsd),
      w.map((x) => x.scope),
      w.map((x) => x.period),
      w.map((x) => new Date(x.start)),
      w.map((x) => new Date(x.end)),
      w.map((x) => usd(x.limitUsd)),
      new Date(r.now + r.ttlMs),
    ],
  };
}

export function reserveResultOf(row: ReserveRow, id: string): ReserveResult {
  if (row.status !== 'refused') return { ok: true, reservationId: id, duplicate: row.status === 'duplicate' };
  const limitUsd = Number(row.limit_usd);
  const spentUsd = Number(row.spent_usd);
  const reservedUsd = Number(row.reserved_usd);
  return {
    ok: false,
    refused: {
      scope: row.scope,
      period: row.period,
      limitUsd,
      spentUsd,
      reservedUsd,
      remainingUsd: remainingUsd({ limitUsd, spentUsd, reservedUsd }),
      resetsAt: new Date(row.window_end).toISOString(),
    },
  };
}

export async function reserve(db: Queryable, r: ReserveInput): Promise<ReserveResult> {
  const call = reserveCallSql(r);
  const res = await db.query<ReserveRow>(`select * from ${call.sql}`, call.params);
  return reserveResultOf(res.rows[0]!, r.id);
}

async function close(
  db: Queryable,
  id: string,
  status: 'settled' | 'released' | 'expired',
  actualUsd: number | null,
): Promise<boolean> {
  const res = await db.query<{ closed: boolean }>('select budget_close($1, $2, $3::numeric) as closed', [
    id,
    status,
    actualUsd === null ? null : usd(actualUsd),
  ]);
  return res.rows[0]!.closed;
}

/**
 * Settles reservations at their whole reserved amount: for calls whose real cost is unknown (their
 * worker died mid-call, and the provider may have answered and charged), the worst case is spent.
 */
export async function settleAtReserved(db: Queryable, ids: string[]): Promise<number> {
  if (!ids.length) return 0;
  const res = await db.query<{ closed: boolean }>(
    `select budget_close(id, 'settled', amount_usd) as closed from budget_reservations
     where id = any($1::text[]) and status = 'reserved' order by id`,
    [ids],
  );
  return res.rows.filter((r) => r.closed).length;
}

/** Settles to the real cost (spent += actual; the rest of the reservation is freed). Idempotent. */
export const settle = (db: Queryable, id: string, actualUsd: number) => close(db, id, 'settled', actualUsd);
/** Frees a reservation without spending (the call failed before costing anything). Idempotent. */
export const release = (db: Queryable, id: string) => close(db, id, 'released', null);

/** Releases reservations past their expiry (a crashed call must not hold budget forever). */
export async function expireStale(db: Db, now: number, tenantId?: string): Promise<number> {
  const stale = await db.query<{ id: string }>(
    `select id from budget_reservations where status = 'reserved' and expires_at < $1 and ($2::text is null or tenant_id = $2) order by expires_at limit 1000`,
    [new Date(now), tenantId ?? null],
  );
  let n = 0;
  for (const { id } of stale.rows) if (await close(db, id, 'expired', null)) n++;
  return n;
}

interface WindowRow {
  scope: string;
  period: Period;
  window_start: Date;
  window_end: Date;
  limit_usd: number;
  spent_usd: number;
  reserved_usd: number;
  closed_at: Date | null;
}

const toUsage = (w: WindowRow): WindowUsage => ({
  scope: w.scope,
  period: w.period,
  windowStart: new Date(w.window_start).toISOString(),
  windowEnd: new Date(w.window_end).toISOString(),
  limitUsd: Number(w.limit_usd),
  spentUsd: Number(w.spent_usd),
  reservedUsd: Number(w.reserved_usd),
});

/** The windows of the given scopes that contain `at`. */
export async function windowUsage(db: Queryable, scopes: string | string[], at: number): Promise<WindowUsage[]> {
  const res = await db.query<WindowRow>(
    `select * from budget_windows where scope = any($1::text[]) and window_start <= $2 and window_end > $2 order by scope, period`,
    [Array.isArray(scopes) ? scopes : [scopes], new Date(at)],
  );
  return res.rows.map(toUsage);
}

/** Opens (or updates the limit of) the current windows: the rollover's new windows exist at once. */
export async function openWindows(db: Queryable, tenantId: string, windows: WindowKey[]): Promise<void> {
  if (!windows.length) return;
  await db.query(
    `insert into budget_windows (scope, period, window_start, window_end, limit_usd, tenant_id)
     select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::numeric[], $6::text[])
     on conflict (scope, period, window_start) do update set limit_usd = excluded.limit_usd, tenant_id = excluded.tenant_id
       where budget_windows.limit_usd is distinct from excluded.limit_usd or budget_windows.tenant_id is distinct from excluded.tenant_id`,
    [
      windows.map((w) => w.scope),
      windows.map((w) => w.period),
      windows.map((w) => new Date(w.start)),
      windows.map((w) => new Date(w.end)),
      windows.map((w) => usd(w.limitUsd)),
      windows.map(() => tenantId),
    ],
  );
}

/** Marks the tenant's windows that ended by `at` as closed (recorded once); returns them. */
export async function closeEndedWindows(db: Queryable, tenantId: string, at: number): Promise<ClosedWindow[]> {
  const res = await db.query<WindowRow>(
    `update budget_windows set closed_at = $2 where tenant_id = $1 and window_end <= $2 and closed_at is null returning *`,
    [tenantId, new Date(at)],
  );
  return res.rows
    .map((w) => ({ ...toUsage(w), closedAt: new Date(w.closed_at!).toISOString() }))
    .sort(
      (a, b) =>
        a.windowEnd.localeCompare(b.windowEnd) || a.scope.localeCompare(b.scope) || a.period.localeCompare(b.period),
    );
}

/**
 * Raises the alert of every open window of the tenant whose spend reached `threshold` × limit and
 * that has none yet. The alert's key is its window's, so it is raised once per window whoever
 * asks how often; returns only the alerts raised by this call.
 */
interface AlertRow {
  scope: string;
  period: Period;
  window_start: Date;
  tenant_id: string;
  threshold: number;
  limit_usd: number;
  spent_usd: number;
  raised_at: Date;
  webhook_url: string | null;
  delivered_at: Date | null;
}

const toAlert = (a: AlertRow): BudgetAlert & { deliveredAt?: string } => ({
  scope: a.scope,
  period: a.period,
  windowStart: new Date(a.window_start).toISOString(),
  tenantId: a.tenant_id,
  threshold: Number(a.threshold),
  limitUsd: Number(a.limit_usd),
  spentUsd: Number(a.spent_usd),
  raisedAt: new Date(a.raised_at).toISOString(),
  ...(a.webhook_url && { webhookUrl: a.webhook_url }),
  ...(a.delivered_at && { deliveredAt: new Date(a.delivered_at).toISOString() }),
});

export async function raiseAlerts(
  db: Queryable,
  tenantId: string,
  threshold: number,
  at: number,
  webhookUrl?: string,
): Promise<BudgetAlert[]> {
  const res = await db.query<AlertRow>(
    `insert into budget_alerts (scope, period, window_start, tenant_id, threshold, limit_usd, spent_usd, raised_at, webhook_url)
     select scope, period, window_start, tenant_id, $2::numeric, limit_usd, spent_usd, $3, $4 from budget_windows
     where tenant_id = $1 and closed_at is null and window_start <= $3 and window_end > $3 and spent_usd >= $2::numeric * limit_usd
     on conflict do nothing
     returning *`,
    [tenantId, threshold.toFixed(4), new Date(at), webhookUrl ?? null],
  );
  return res.rows.map(toAlert);
}

export async function markAlertDelivered(
  db: Queryable,
  a: Pick<BudgetAlert, 'scope' | 'period' | 'windowStart'>,
  error?: string,
): Promise<void> {
  await db.query(
    `update budget_alerts set delivered_at = case when $4::text is null then now() else delivered_at end, delivery_error = $4 where scope = $1 and period = $2 and window_start = $3`,
    [a.scope, a.period, new Date(a.windowStart), error ?? null],
  );
}

export async function listAlerts(
  db: Queryable,
  tenantId: string,
): Promise<Array<BudgetAlert & { deliveredAt?: string }>> {
  const res = await db.query<AlertRow>(
    `select * from budget_alerts where tenant_id = $1 order by raised_at, scope, period`,
    [tenantId],
  );
  return res.rows.map(toAlert);
}

/** When the tenant's next open reservation expires, if it has one. */
export async function nextExpiry(db: Queryable, tenantId: string): Promise<number | undefined> {
  const res = await db.query<{ at: Date | null }>(
    `select min(expires_at) as at from budget_reservations where status = 'reserved' and tenant_id = $1`,
    [tenantId],
  );
  const at = res.rows[0]?.at;
  return at ? new Date(at).getTime() : undefined;
}

/** Every window of the tenant (tenant and user scopes) that contains `at`. */
export async function tenantWindows(db: Queryable, tenantId: string, at: number): Promise<WindowUsage[]> {
  const res = await db.query<WindowRow>(
    `select * from budget_windows where tenant_id = $1 and window_start <= $2 and window_end > $2 order by scope, period`,
    [tenantId, new Date(at)],
  );
  return res.rows.map(toUsage);
}
