import type { WindowState } from '../domain/budget';

/** A budget window in the API's snake_case: `GET /v1/budgets` and the 429 `budget_exceeded` agree. */
export function windowJson(w: WindowState) {
  return {
    scope: w.scope,
    window: w.period,
    limit_usd: w.limitUsd,
    spent_usd: w.spentUsd,
    reserved_usd: w.reservedUsd,
    remaining_usd: w.remainingUsd,
    window_start: w.windowStart,
    resets_at: w.resetsAt,
  };
}
