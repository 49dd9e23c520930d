/** The providerHealth entity's one side effect: publishing its breaker to the projection routing reads. */
import { publishBreakerState } from '../src/db/breakerStates';
import { openAlert } from '../src/db/alerts';
import { breakerConditions } from '../src/domain/alerts';
import { noteSwallowed } from '../src/services/metrics';
import type { BreakerSnapshot } from '../src/domain/breaker';
import type { ActivityDeps } from './deps';

export function createBreakerProjectionActivities(deps: ActivityDeps) {
  return {
    /** Local activity: stores the breaker as of the workflow's time `at` (an older write never wins). */
    async publishBreaker(input: { snapshot: BreakerSnapshot; at: number }): Promise<void> {
      await publishBreakerState(deps.db, input.snapshot, input.at);
      // The console shows a breaker's episode as soon as it opens (a forced open included), not
      // at the alert monitor's next look; the monitor sends the webhooks and resolves it.
      const [down] = breakerConditions([input.snapshot]);
      try {
        if (down) await openAlert(deps.db, down, input.at);
      } catch (err) {
        noteSwallowed('alert_open', err, { endpoint: input.snapshot.endpoint }, 'could not open a provider alert');
      }
    },
  };
}
