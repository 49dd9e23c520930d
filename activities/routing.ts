/** The request's first workflow task, as local activities: classify it, then decide its route. */
import { ApplicationFailure } from '@temporalio/common';
import * as requests from '../src/db/requests';
import { classify, type Classification } from '../src/domain/classify';
import { UnknownModelError } from '../src/domain/policy';
import type { PlannedRoute, RouteRequestInput, RoutedCandidate } from '../src/domain/request';
import { cachedUsage } from '../src/services/budgetOperations';
import { planRoute } from '../src/services/routePlan';
import type { ActivityDeps } from './deps';
import { classifyInputOf, loadRequest, type StoredRequest } from './storedRequest';

const classifyStored = (operation: string, r: StoredRequest): Classification =>
  classify({ operation, ...classifyInputOf(r) });

const onSharedQueue = (c: RoutedCandidate): RoutedCandidate => ({ ...c, callQueue: 'shared' });

export function createRoutingActivities(deps: ActivityDeps) {
  // Budget usage for routing: one ledger read per tenant (and user) per second, not one per request.
  const usage = cachedUsage(deps.db);
  return {
    /** Local activity: what kind of task this is, how hard and how large. */
    async classifyRequest(input: { requestId: string; operation: string }): Promise<Classification> {
      return classifyStored(input.operation, await loadRequest(deps.db, input.requestId));
    },

    /**
     * Local activity: the routing decision — a pure function of its input, the configuration
     * version, breaker and budget views — stored with that input so it can be read back and replayed.
     */
    async decideRoute(input: { route: RouteRequestInput; classification?: Classification }): Promise<PlannedRoute> {
      const config = deps.config();
      // Without a classification (`classifyInDecide`), this step classifies too: one local activity.
      const classification =
        input.classification ??
        classifyStored(input.route.operation, await loadRequest(deps.db, input.route.requestId));
      let plan;
      try {
        plan = await planRoute(
          { db: deps.db, config, health: deps.health, usage },
          input.route,
          classification,
          new Date(),
        );
      } catch (err) {
        if (err instanceof UnknownModelError) throw ApplicationFailure.nonRetryable(err.message, 'NotFound');
        throw err;
      }
      if ((deps.callQueues ?? 'shared') === 'shared')
        plan = { ...plan, planned: { ...plan.planned, candidates: plan.planned.candidates.map(onSharedQueue) } };
      await requests.saveDecision(deps.db, input.route.requestId, {
        classification,
        decision: plan.planned,
        decisionInput: plan.decisionInput,
        configVersion: config.version,
      });
      return input.classification ? plan.planned : { ...plan.planned, classification };
    },
  };
}
