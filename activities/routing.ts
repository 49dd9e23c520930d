/** The request's first workflow task, as local activities: classify it, then decide its route. */
import { ApplicationFailure } from '@temporalio/common';
import * as requests from '../src/db/requests';
import { classify, type Classification } from '../src/domain/classify';
import { UnknownModelError } from '../src/domain/policy';
import type { PlannedRoute, RouteRequestInput } from '../src/domain/request';
import { cachedUsage } from '../src/services/budgetOperations';
import { planRoute } from '../src/services/routePlan';
import type { ActivityDeps } from './deps';
import { classifyInputOf, loadRequest } from './storedRequest';

export function createRoutingActivities(deps: ActivityDeps) {
  // Budget usage for routing: one ledger read per tenant (and user) per second, not one per request.
  const usage = cachedUsage(deps.db);
  return {
    /** Local activity: what kind of task this is, how hard and how large. */
    async classifyRequest(input: { requestId: string; operation: string }): Promise<Classification> {
      const r = await loadRequest(deps.db, input.requestId);
      return classify({ operation: input.operation, ...classifyInputOf(r) });
    },

    /**
     * Local activity: the routing decision — a pure function of its input, the configuration
     * version, breaker and budget views — stored with that input so it can be read back and replayed.
     */
    async decideRoute(input: { route: RouteRequestInput; classification: Classification }): Promise<PlannedRoute> {
      const config = deps.config();
      let plan;
      try {
        plan = await planRoute(
          { db: deps.db, config, health: deps.health, usage },
          input.route,
          input.classification,
          new Date(),
        );
      } catch (err) {
        if (err instanceof UnknownModelError) throw ApplicationFailure.nonRetryable(err.message, 'NotFound');
        throw err;
      }
      await requests.saveDecision(deps.db, input.route.requestId, {
        classification: input.classification,
        decision: plan.planned,
        decisionInput: plan.decisionInput,
        configVersion: config.version,
      });
      return plan.planned;
    },
  };
}
