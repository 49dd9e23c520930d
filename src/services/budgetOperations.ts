/**
 * Budgets as the request path reads them: the scopes a request spends in (tenant, and its user
 * when limited), their current windows from the ledger, and the view routing decides on. One
 * function for the workflow's decision, the dry run and `GET /v1/budgets`, so they agree.
 */
import type { Db, Queryable } from '../db';
import { release, reserve, settle, windowUsage } from '../db/budgetLedger';
import {
  applicableWindows,
  budgetScopes,
  budgetView,
  windowStart,
  currentWindows,
  perRequestLimit,
  type BudgetLimits,
  type BudgetView,
  type WindowState,
} from '../domain/budget';
import type { SwitchyardConfig } from '../domain/config';

export interface BudgetState {
  scopes: Array<{ scope: string; limits: BudgetLimits }>;
  windows: WindowState[];
  view: BudgetView;
  alertThreshold: number;
}

export async function budgetStateFor(
  db: Db | Queryable,
  config: SwitchyardConfig,
  who: { tenantId: string; userId?: string },
  at: number,
): Promise<BudgetState | undefined> {
  const budget = config.tenants[who.tenantId]?.budget;
  const scopes = budgetScopes(budget, who.tenantId, who.userId);
  if (!budget || !scopes.length) return undefined;
  const stored = await windowUsage(
    db,
    scopes.map((s) => s.scope),
    at,
  );
  const windows = currentWindows(scopes, stored, at);
  return {
    scopes,
    windows,
    view: budgetView(windows, perRequestLimit(scopes), budget.alertThreshold),
    alertThreshold: budget.alertThreshold,
  };
}

export type CallReservation = { ok: true; id?: string } | { ok: false; message: string; window?: WindowState };

/**
 * Reserves a call's worst case in every window of the request's scopes, with the limits in force
 * now (they may have changed since the decision). Refused: why, and the window that refused.
 */
export async function reserveCall(
  db: Db,
  config: SwitchyardConfig,
  r: { id: string; tenantId: string; userId?: string; amountUsd: number; ttlMs: number; now: number },
): Promise<CallReservation> {
  const budget = config.tenants[r.tenantId]?.budget;
  const scopes = budgetScopes(budget, r.tenantId, r.userId);
  if (!scopes.length) return { ok: true };
  const perRequest = perRequestLimit(scopes);
  if (perRequest !== undefined && r.amountUsd > perRequest)
    return {
      ok: false,
      message: `worst case $${r.amountUsd.toFixed(6)} exceeds the per-request limit of $${perRequest}`,
    };
  const res = await reserve(db, {
    id: r.id,
    tenantId: r.tenantId,
    amountUsd: r.amountUsd,
    windows: applicableWindows(scopes, r.now),
    ttlMs: r.ttlMs,
    now: r.now,
  });
  if (res.ok) return { ok: true, id: r.id };
  const w = res.refused;
  return {
    ok: false,
    message: `worst case $${r.amountUsd.toFixed(6)} does not fit the ${w.period} budget of ${w.scope}: $${w.remainingUsd.toFixed(6)} of $${w.limitUsd} left, resets at ${w.resetsAt}`,
    window: {
      scope: w.scope,
      period: w.period,
      windowStart: new Date(windowStart(w.period, r.now)).toISOString(),
      resetsAt: w.resetsAt,
      limitUsd: w.limitUsd,
      spentUsd: w.spentUsd,
      reservedUsd: w.reservedUsd,
      remainingUsd: w.remainingUsd,
    },
  };
}

/** Closes a call's reservation in the caller's transaction: settled to what it cost, or released if nothing. */
export async function closeCall(tx: Queryable, id: string, costUsd: number): Promise<void> {
  if (costUsd > 0) await settle(tx, id, costUsd);
  else await release(tx, id);
}
