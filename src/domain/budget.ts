/**
 * Budget arithmetic, pure: which spend windows a reservation counts against, where each window
 * starts and ends (UTC boundaries: midnight, Monday, the 1st), and the worst-case cost a
 * reservation holds before the call.
 */
import { costUsd, type Model } from './catalog';

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

/** The most a call can cost: every input token, plus the whole output cap. */
export function worstCaseCost(model: Pick<Model, 'inputPricePerMTok' | 'outputPricePerMTok' | 'maxOutputTokens'>, inputTokens: number, maxOutputTokens: number): number {
  return costUsd(model, inputTokens, Math.min(maxOutputTokens, model.maxOutputTokens));
}
