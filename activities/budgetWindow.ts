/** The budgetWindow entity's steps: a tick at the workflow's time, and webhook delivery of an alert. */
import * as budgets from '../src/db/budgetLedger';
import {
  applicableWindows,
  PERIODS,
  remainingUsd,
  tenantScope,
  userScope,
  windowEnd,
  type BudgetLimits,
  type WindowState,
} from '../src/domain/budget';
import type { ActivityDeps } from './deps';
import { postWebhook } from './webhook';

const DAY_MS = 86_400_000;

export function createBudgetWindowActivities(deps: ActivityDeps) {
  return {
    /**
     * One tick of a tenant's budgetWindow entity, at the workflow's time `at`: close the windows
     * that ended, open the current ones (with the limits in force), expire stale reservations,
     * raise alerts that crossed the threshold (once per window), and report the state.
     */
    async budgetTick(input: { tenantId: string; at: number }) {
      const budget = deps.config().config.tenants[input.tenantId]?.budget;
      const closed = await budgets.closeEndedWindows(deps.db, input.tenantId, input.at);
      const expired = await budgets.expireStale(deps.db, input.at, input.tenantId);
      if (!budget)
        return { active: false, closed, expired, alerts: [], windows: [], nextBoundaryAt: input.at + DAY_MS };
      const scopes = [
        { scope: tenantScope(input.tenantId), limits: budget as BudgetLimits },
        ...Object.entries(budget.users).map(([user, limits]) => ({ scope: userScope(input.tenantId, user), limits })),
      ];
      await budgets.openWindows(deps.db, input.tenantId, applicableWindows(scopes, input.at));
      const alerts = await budgets.raiseAlerts(
        deps.db,
        input.tenantId,
        budget.alertThreshold,
        input.at,
        budget.webhookUrl,
      );
      const windows: WindowState[] = (await budgets.tenantWindows(deps.db, input.tenantId, input.at)).map((w) => ({
        scope: w.scope,
        period: w.period,
        windowStart: w.windowStart,
        resetsAt: w.windowEnd,
        limitUsd: w.limitUsd,
        spentUsd: w.spentUsd,
        reservedUsd: w.reservedUsd,
        remainingUsd: remainingUsd(w),
      }));
      const periods = PERIODS.filter((p) =>
        [budget, budget.perUser ?? {}, ...Object.values(budget.users)].some((l) => l[`${p}Usd`] !== undefined),
      );
      const nextBoundaryAt = periods.length
        ? Math.min(...periods.map((p) => windowEnd(p, input.at)))
        : input.at + DAY_MS;
      return {
        active: true,
        closed,
        expired,
        alerts,
        windows,
        nextBoundaryAt,
        nextExpiryAt: await budgets.nextExpiry(deps.db, input.tenantId),
      };
    },

    /**
     * POSTs an alert to the tenant's webhook, on the address checked now (SSRF: a webhook is a
     * tenant's URL); a refused address or a redirect fails for good, a non-2xx answer is retried.
     */
    async deliverBudgetAlert(alert: budgets.BudgetAlert): Promise<void> {
      try {
        await postWebhook(
          deps,
          alert.webhookUrl!,
          { type: 'budget.threshold_crossed', ...alert },
          {
            'user-agent': 'switchyard-budget-alert',
          },
        );
      } catch (err) {
        // Stored with the alert: why it was not delivered (refused, redirected, HTTP status…).
        await budgets.markAlertDelivered(deps.db, alert, err instanceof Error ? err.message : String(err));
        throw err;
      }
      await budgets.markAlertDelivered(deps.db, alert);
    },
  };
}
