/**
 * The budget ledger: reserve → settle / release, atomically in Postgres.
 *
 * Why it cannot overspend: a reservation is one transaction that locks every applicable window
 * row (`select … for update`, always in the same order, so concurrent reservations queue instead
 * of deadlocking), checks `spent + reserved + amount ≤ limit` in SQL on exact decimals, and only
 * then adds to `reserved`. A concurrent reservation waits for the lock and sees the new total.
 * Settling moves the reservation's amount out of `reserved` and the real cost into `spent`;
 * releasing only frees it. Each step is idempotent by reservation id (one per request attempt),
 * and reservations that are never settled expire.
 */
import type { WindowKey } from '../domain/budget';
import type { Db, Queryable } from './index';

export interface RefusedWindow {
  scope: string;
  period: string;
  limitUsd: number;
  spentUsd: number;
  reservedUsd: number;
  remainingUsd: number;
  resetsAt: string;
}

export type ReserveResult = { ok: true; reservationId: string; amountUsd: number; duplicate: boolean } | { ok: false; refused: RefusedWindow };

const usd = (x: number) => x.toFixed(10);

interface StoredWindow {
  scope: string;
  period: string;
  start: string;
}

export async function reserve(db: Db, r: { id: string; amountUsd: number; windows: WindowKey[]; ttlMs: number; now: number }): Promise<ReserveResult> {
  return db.transaction(async (tx) => {
    const existing = await tx.query<{ status: string; amount_usd: number }>('select status, amount_usd from budget_reservations where id = $1', [r.id]);
    if (existing.rows[0]) return { ok: true, reservationId: r.id, amountUsd: existing.rows[0].amount_usd, duplicate: true };
    if (r.windows.length > 0) {
      await tx.query(
        `insert into budget_windows (scope, period, window_start, window_end, limit_usd)
         select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::numeric[])
         on conflict (scope, period, window_start) do update set limit_usd = excluded.limit_usd`,
        [r.windows.map((w) => w.scope), r.windows.map((w) => w.period), r.windows.map((w) => new Date(w.start)), r.windows.map((w) => new Date(w.end)), r.windows.map((w) => usd(w.limitUsd))],
      );
      const locked = await lockWindows(tx, r.windows.map((w) => ({ scope: w.scope, period: w.period, start: new Date(w.start).toISOString() })), usd(r.amountUsd));
      const over = locked.find((w) => !w.fits);
      if (over) {
        return {
          ok: false,
          refused: {
            scope: over.scope,
            period: over.period,
            limitUsd: over.limit_usd,
            spentUsd: over.spent_usd,
            reservedUsd: over.reserved_usd,
            remainingUsd: Math.max(0, Math.round((over.limit_usd - over.spent_usd - over.reserved_usd) * 1e10) / 1e10),
            resetsAt: new Date(over.window_end).toISOString(),
          },
        };
      }
      await adjust(tx, locked, { reserved: usd(r.amountUsd), spent: '0' });
    }
    const stored: StoredWindow[] = r.windows.map((w) => ({ scope: w.scope, period: w.period, start: new Date(w.start).toISOString() }));
    await tx.query(`insert into budget_reservations (id, amount_usd, windows, status, expires_at) values ($1, $2, $3, 'reserved', $4)`, [r.id, usd(r.amountUsd), JSON.stringify(stored), new Date(r.now + r.ttlMs)]);
    return { ok: true, reservationId: r.id, amountUsd: r.amountUsd, duplicate: false };
  });
}

interface LockedWindow {
  scope: string;
  period: string;
  window_start: Date;
  window_end: Date;
  limit_usd: number;
  spent_usd: number;
  reserved_usd: number;
  fits: boolean;
}

/** Locks the windows in a fixed order and says whether `amount` still fits in each. */
async function lockWindows(tx: Queryable, windows: StoredWindow[], amount: string): Promise<LockedWindow[]> {
  const res = await tx.query<LockedWindow>(
    `select scope, period, window_start, window_end, limit_usd, spent_usd, reserved_usd,
            (spent_usd + reserved_usd + $4::numeric) <= limit_usd as fits
     from budget_windows
     where (scope, period, window_start) in (select * from unnest($1::text[], $2::text[], $3::timestamptz[]))
     order by scope, period, window_start
     for update`,
    [windows.map((w) => w.scope), windows.map((w) => w.period), windows.map((w) => w.start), amount],
  );
  return res.rows;
}

/** Adds exact decimal deltas (USD, as strings) to reserved and spent of the given windows. */
async function adjust(tx: Queryable, windows: Array<{ scope: string; period: string; window_start: Date | string }>, delta: { reserved: string; spent: string }): Promise<void> {
  await tx.query(
    `update budget_windows set reserved_usd = reserved_usd + $4::numeric, spent_usd = spent_usd + $5::numeric
     where (scope, period, window_start) in (select * from unnest($1::text[], $2::text[], $3::timestamptz[]))`,
    [windows.map((w) => w.scope), windows.map((w) => w.period), windows.map((w) => new Date(w.window_start)), delta.reserved, delta.spent],
  );
}

/** Closes a reservation: settle to the real cost, or release it (failed call, or expired). Idempotent. */
async function close(db: Db, id: string, outcome: { status: 'settled'; actualUsd: number } | { status: 'released' | 'expired' }): Promise<boolean> {
  return db.transaction(async (tx) => {
    const actual = outcome.status === 'settled' ? usd(outcome.actualUsd) : null;
    const res = await tx.query<{ amount_usd: string; windows: StoredWindow[] }>(
      `update budget_reservations set status = $2, actual_usd = $3, closed_at = now()
       where id = $1 and status = 'reserved' returning amount_usd::text, windows`,
      [id, outcome.status, actual],
    );
    const row = res.rows[0];
    if (!row) return false;
    if (row.windows.length) {
      const locked = await lockWindows(tx, row.windows, '0');
      await adjust(tx, locked, { reserved: `-${row.amount_usd}`, spent: actual ?? '0' });
    }
    return true;
  });
}

export const settle = (db: Db, id: string, actualUsd: number) => close(db, id, { status: 'settled', actualUsd });
export const release = (db: Db, id: string) => close(db, id, { status: 'released' });

/** Releases reservations past their expiry (a crashed request must not hold budget forever). */
export async function expireStale(db: Db, now: number): Promise<number> {
  const stale = await db.query<{ id: string }>(`select id from budget_reservations where status = 'reserved' and expires_at < $1 order by expires_at limit 1000`, [new Date(now)]);
  let n = 0;
  for (const { id } of stale.rows) if (await close(db, id, { status: 'expired' })) n++;
  return n;
}

export interface WindowUsage {
  scope: string;
  period: string;
  windowStart: string;
  windowEnd: string;
  limitUsd: number;
  spentUsd: number;
  reservedUsd: number;
}

export async function windowUsage(db: Queryable, scope: string, at: number): Promise<WindowUsage[]> {
  const res = await db.query<{ scope: string; period: string; window_start: Date; window_end: Date; limit_usd: number; spent_usd: number; reserved_usd: number }>(
    `select * from budget_windows where scope = $1 and window_start <= $2 and window_end > $2 order by period`,
    [scope, new Date(at)],
  );
  return res.rows.map((w) => ({ scope: w.scope, period: w.period, windowStart: new Date(w.window_start).toISOString(), windowEnd: new Date(w.window_end).toISOString(), limitUsd: w.limit_usd, spentUsd: w.spent_usd, reservedUsd: w.reserved_usd }));
}
