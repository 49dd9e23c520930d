/**
 * Budget arithmetic, pure: which spend windows a reservation counts against, where each window
 * starts and ends (UTC boundaries: midnight, Monday, the 1st), and the worst-case cost a
 * reservation holds before the call.
 */
import { z } from 'zod';
import type { Model } from './catalog';
import { ceilUsd, roundUsd } from './usd';

export const PERIODS = ['daily', 'weekly', 'monthly'] as const;
export type Period = (typeof PERIODS)[number];

/** Start of the window containing `at` (ms since epoch, UTC). */
export function windowStart(period: Period, at: number): number {
  const d = new Date(at);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = d.getUTCDate();
  switch (period) {
    case 'daily':
      return Date.UTC(y, m, day);
    case 'weekly': {
      // ISO weeks start on Monday.
      const sinceMonday = (d.getUTCDay() + 6) % 7;
      return Date.UTC(y, m, day - sinceMonday);
    }
    case 'monthly':
      return Date.UTC(y, m, 1);
  }
}

/** Start of the next window: when this one rolls over. */
export function windowEnd(period: Period, at: number): number {
  const start = new Date(windowStart(period, at));
  const y = start.getUTCFullYear();
  const m = start.getUTCMonth();
  const day = start.getUTCDate();
  switch (period) {
    case 'daily':
      return Date.UTC(y, m, day + 1);
    case 'weekly':
      return Date.UTC(y, m, day + 7);
    case 'monthly':
      return Date.UTC(y, m + 1, 1);
  }
}

export interface BudgetLimits {
  perRequestUsd?: number;
  dailyUsd?: number;
  weeklyUsd?: number;
  monthlyUsd?: number;
}

export interface WindowKey {
  /** `tenant:<id>` or `user:<tenant>:<user>`. */
  scope: string;
  period: Period;
  start: number;
  end: number;
  limitUsd: number;
}

/** The windows a reservation at `at` must fit in, for each scope that has limits. */
export function applicableWindows(scopes: Array<{ scope: string; limits: BudgetLimits }>, at: number): WindowKey[] {
  const out: WindowKey[] = [];
  for (const { scope, limits } of scopes) {
    for (const period of PERIODS) {
      const limitUsd = limits[`${period}Usd` as const];
      if (limitUsd === undefined) continue;
      out.push({ scope, period, start: windowStart(period, at), end: windowEnd(period, at), limitUsd });
    }
  }
  // A stable order: concurrent reservations lock rows in the same order and cannot deadlock.
  return out.sort((a, b) => a.scope.localeCompare(b.scope) || PERIODS.indexOf(a.period) - PERIODS.indexOf(b.period));
}

const usdLimit = z.number().positive().max(1e9);

/** Spend limits in USD; each is optional. */
export const BudgetLimitsSchema = z
  .object({
    perRequestUsd: usdLimit.optional(),
    dailyUsd: usdLimit.optional(),
    weeklyUsd: usdLimit.optional(),
    monthlyUsd: usdLimit.optional(),
  })
  .strict();

/** A tenant's budget: its own limits, and optionally limits per user within it. */
export const TenantBudgetSchema = BudgetLimitsSchema.extend({
  /** Fraction of a window's limit at which its alert is raised (once per window). */
  alertThreshold: z.number().gt(0).max(1).default(0.8),
  /** Receives a POST with the alert as JSON (retried); alerts are stored either way. */
  webhookUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Limits for every user of the tenant (X-Switchyard-User / `user`), unless `users` names them. */
  perUser: BudgetLimitsSchema.optional(),
  /** Limits for named users; replaces `perUser` for them. */
  users: z.record(z.string().min(1).max(256), BudgetLimitsSchema).default({}),
}).strict();
export type TenantBudget = z.infer<typeof TenantBudgetSchema>;

/** A call attempt's reservation: one per attempt, so a retried task of the same attempt finds its own. */
export const reservationIdOf = (requestId: string, candidateIndex: number, attempt: number) =>
  `${requestId}:${candidateIndex}:${attempt}`;

export const tenantScope = (tenantId: string) => `tenant:${tenantId}`;
export const userScope = (tenantId: string, userId: string) => `user:${tenantId}:${userId}`;

/** The scopes a request of (tenant, user) spends in, each with its limits. */
export function budgetScopes(
  budget: TenantBudget | undefined,
  tenantId: string,
  userId?: string,
): Array<{ scope: string; limits: BudgetLimits }> {
  if (!budget) return [];
  const out = [{ scope: tenantScope(tenantId), limits: budget as BudgetLimits }];
  const user = userId ? (budget.users[userId] ?? budget.perUser) : undefined;
  if (userId && user) out.push({ scope: userScope(tenantId, userId), limits: user });
  return out;
}

/** The tightest per-request limit of the scopes, if any. */
export function perRequestLimit(scopes: Array<{ limits: BudgetLimits }>): number | undefined {
  const limits = scopes.map((s) => s.limits.perRequestUsd).filter((x): x is number => x !== undefined);
  return limits.length ? Math.min(...limits) : undefined;
}

/**
 * Our tokenizer's count is not the provider's (other tokenizers, per-message framing), so the
 * reservation covers a margin over it: a reservation must never be smaller than the real cost.
 */
export const INPUT_TOKEN_MARGIN = { factor: 1.25, plus: 16 };

/** What a call reserves: worst-case input (with the margin) plus the whole output cap, rounded up to 1e-10 USD. */
export function reservationUsd(
  model: Pick<Model, 'inputPricePerMTok' | 'outputPricePerMTok' | 'maxOutputTokens'>,
  inputTokens: number,
  maxOutputTokens: number,
  capability: 'chat' | 'embeddings' = 'chat',
): number {
  const input = Math.ceil(inputTokens * INPUT_TOKEN_MARGIN.factor) + INPUT_TOKEN_MARGIN.plus;
  const output = capability === 'embeddings' ? 0 : Math.min(maxOutputTokens, model.maxOutputTokens);
  return ceilUsd((input * model.inputPricePerMTok + output * model.outputPricePerMTok) / 1e6);
}

/** A window's state as the policy and the API see it. */
export interface WindowState {
  scope: string;
  period: Period;
  windowStart: string;
  resetsAt: string;
  limitUsd: number;
  spentUsd: number;
  reservedUsd: number;
  remainingUsd: number;
}

/** What a window has left: its limit less what is spent and reserved, never below zero. */
export const remainingUsd = (w: { limitUsd: number; spentUsd: number; reservedUsd: number }): number =>
  Math.max(0, roundUsd(w.limitUsd - w.spentUsd - w.reservedUsd));

/**
 * The budget as routing sees it: the least remaining across windows, the per-request limit, and
 * whether any window is past its alert threshold (then cheaper models are preferred).
 */
export interface BudgetView {
  remainingUsd?: number;
  perRequestUsd?: number;
  nearLimit?: boolean;
  /** The window with the least remaining: named in a 429. */
  tightest?: WindowState;
}

export function budgetView(
  windows: WindowState[],
  perRequestUsd: number | undefined,
  alertThreshold: number,
): BudgetView {
  if (!windows.length) return perRequestUsd === undefined ? {} : { perRequestUsd };
  const tightest = [...windows].sort((a, b) => a.remainingUsd - b.remainingUsd)[0]!;
  // Rounded to the ledger's 1e-10: 0.7 + 0.1 is 0.7999999999999999 in floating point.
  const nearLimit = windows.some((w) => roundUsd(w.spentUsd + w.reservedUsd) >= roundUsd(alertThreshold * w.limitUsd));
  return {
    remainingUsd: tightest.remainingUsd,
    ...(perRequestUsd !== undefined && { perRequestUsd }),
    nearLimit,
    tightest,
  };
}

/** Current windows for scopes, from stored rows where they exist (a window nobody spent in is full). */
export function currentWindows(
  scopes: Array<{ scope: string; limits: BudgetLimits }>,
  stored: Array<{ scope: string; period: string; windowStart?: string; spentUsd: number; reservedUsd: number }>,
  at: number,
): WindowState[] {
  return applicableWindows(scopes, at).map((w) => {
    // The same window (a cached read from before a rollover holds the previous one).
    const row = stored.find(
      (s) =>
        s.scope === w.scope &&
        s.period === w.period &&
        (s.windowStart === undefined || new Date(s.windowStart).getTime() === w.start),
    );
    const spentUsd = row?.spentUsd ?? 0;
    const reservedUsd = row?.reservedUsd ?? 0;
    return {
      scope: w.scope,
      period: w.period,
      windowStart: new Date(w.start).toISOString(),
      resetsAt: new Date(w.end).toISOString(),
      limitUsd: w.limitUsd,
      spentUsd,
      reservedUsd,
      remainingUsd: remainingUsd({ limitUsd: w.limitUsd, spentUsd, reservedUsd }),
    };
  });
}

/** A window's row in the ledger. */
export interface WindowUsage {
  scope: string;
  period: Period;
  windowStart: string;
  windowEnd: string;
  limitUsd: number;
  spentUsd: number;
  reservedUsd: number;
}

/** A window the budget entity closed at its boundary. */
export interface ClosedWindow extends WindowUsage {
  closedAt: string;
}

/** A window's threshold alert, raised once per window. */
export interface BudgetAlert {
  scope: string;
  period: Period;
  windowStart: string;
  tenantId: string;
  threshold: number;
  limitUsd: number;
  spentUsd: number;
  raisedAt: string;
  webhookUrl?: string;
}
