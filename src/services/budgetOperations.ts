/**
 * Budgets as the request path reads them: the scopes a request spends in (tenant, and its user
 * when limited), their current windows from the ledger, and the view routing decides on. One
 * function for the workflow's decision, the dry run and `GET /v1/budgets`, so they agree.
 */
import type { Db, Queryable } from '../db';
import { release, reserve, settle, windowUsage } from '../db/budgetLedger';
import { reserveAndStart } from '../db/callStart';
import type { StoredBody } from '../db/requests';
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
  type WindowUsage,
} from '../domain/budget';
import type { SwitchyardConfig } from '../domain/config';
import type { AttemptRecord } from '../domain/request';
import { FreshCache } from './freshCache';

export interface BudgetState {
  scopes: Array<{ scope: string; limits: BudgetLimits }>;
  windows: WindowState[];
  view: BudgetView;
  alertThreshold: number;
}

/** Reads the windows' usage now: straight from the ledger, or through `cachedUsage`. */
export type UsageReader = (scopes: string[], at: number, configVersion?: number) => Promise<WindowUsage[]>;

/**
 * Routing's reader: at most one ledger read per scope set per `maxAgeMs` and process, shared by
 * concurrent requests, and a fresh one when the configuration (its limits) changes. Routing may
 * see usage a second late; the reservation before each call is what holds the limit, and it
 * always reads the ledger.
 */
export function cachedUsage(db: Db | Queryable, maxAgeMs = 1_000): UsageReader {
  const cache = new FreshCache<WindowUsage[]>(maxAgeMs);
  return (scopes, at, version) => cache.get(`${version}\n${scopes.join('\n')}`, () => windowUsage(db, scopes, at));
}

export async function budgetStateFor(
  usage: Db | Queryable | UsageReader,
  config: SwitchyardConfig,
  who: { tenantId: string; userId?: string },
  at: number,
  configVersion?: number,
): Promise<BudgetState | undefined> {
  const budget = config.tenants[who.tenantId]?.budget;
  const scopes = budgetScopes(budget, who.tenantId, who.userId);
  if (!budget || !scopes.length) return undefined;
  const ids = scopes.map((s) => s.scope);
  const stored = await (typeof usage === 'function' ? usage(ids, at, configVersion) : windowUsage(usage, ids, at));
  const windows = currentWindows(scopes, stored, at);
  return {
    scopes,
    windows,
    view: budgetView(windows, perRequestLimit(scopes), budget.alertThreshold),
    alertThreshold: budget.alertThreshold,
  };
}

export type CallReservation =
  | { ok: true; id?: string; request?: StoredBody; taken?: boolean }
  | { ok: false; message: string; window?: WindowState };

/**
 * Reserves a call's worst case in every window of the request's scopes, with the limits in force
 * now (they may have changed since the decision). Refused: why, and the window that refused.
 * With `start`, a granted reservation also records the attempt as started and returns the
 * request's body, in the same statement (`request` is then set).
 */
export async function reserveCall(
  db: Db,
  config: SwitchyardConfig,
  r: { id: string; tenantId: string; userId?: string; amountUsd: number; ttlMs: number; now: number },
  start?: { requestId: string; attempt: Omit<AttemptRecord, 'outcome' | 'latencyMs'>; fresh?: boolean },
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
  const input = {
    id: r.id,
    tenantId: r.tenantId,
    amountUsd: r.amountUsd,
    windows: applicableWindows(scopes, r.now),
    ttlMs: r.ttlMs,
    now: r.now,
  };
  const {
    reserved: res,
    request,
    taken,
  } = start
    ? await reserveAndStart(db, input, start.requestId, start.attempt, start.fresh)
    : { reserved: await reserve(db, input), request: undefined, taken: undefined };
  if (res.ok) return { ok: true, id: r.id, ...(request && { request }), ...(taken && { taken }) };
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
