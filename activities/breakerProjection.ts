/** The providerHealth entity's one side effect: publishing its breaker to the projection routing reads. */
import { publishBreakerState } from '../src/db/breakerStates';
import type { BreakerSnapshot } from '../src/domain/breaker';
import type { ActivityDeps } from './deps';

export function createBreakerProjectionActivities(deps: ActivityDeps) {
  return {
    /** Local activity: stores the breaker as of the workflow's time `at` (an older write never wins). */
    async publishBreaker(input: { snapshot: BreakerSnapshot; at: number }): Promise<void> {
      await publishBreakerState(deps.db, input.snapshot, input.at);
    },
  };
}
