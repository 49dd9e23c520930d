/**
 * Activities: every side effect of routing a request, one concern per file. Each group is built
 * by a factory that takes its dependencies (`ActivityDeps`), so tests pass an in-memory database
 * and fake provider servers while the worker passes the real pool, SDK clients and breaker port.
 * Workflows import only the type `Activities`.
 */
import { createAlertActivities } from './alerts';
import { createBatchActivities } from './batch';
import { createBreakerProjectionActivities } from './breakerProjection';
import { createBudgetWindowActivities } from './budgetWindow';
import { createCallModelActivity } from './callModel';
import type { ActivityDeps } from './deps';
import { createOutcomeActivities } from './outcome';
import { createRoutingActivities } from './routing';
import { createUsageEventActivities } from './usageEvents';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createRoutingActivities(deps),
    ...createCallModelActivity(deps),
    ...createBudgetWindowActivities(deps),
    ...createOutcomeActivities(deps),
    ...createBreakerProjectionActivities(deps),
    ...createBatchActivities(deps),
    ...createAlertActivities(deps),
    ...createUsageEventActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
