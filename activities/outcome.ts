/** The request's final record, when it ends without an answer (a success is recorded by its call). */
import * as requests from '../src/db/requests';
import { totalCost, type AttemptRecord } from '../src/domain/request';
import { abandonUnfinishedAttempts, reportAbandoned } from '../src/services/attempts';
import type { ActivityDeps } from './deps';

export function createOutcomeActivities(deps: ActivityDeps) {
  return {
    /** Final record of the request: status, chosen provider, every attempt, usage and cost. Returns the attempts. */
    async recordOutcome(input: {
      requestId: string;
      outcome: Omit<requests.RequestOutcome, 'attempts'>;
    }): Promise<AttemptRecord[]> {
      let abandoned: string[] = [];
      const attempts = await deps.db.transaction(async (tx) => {
        abandoned = await abandonUnfinishedAttempts(tx, input.requestId);
        const attempts = await requests.listAttempts(tx, input.requestId);
        await requests.completeRequest(tx, input.requestId, {
          ...input.outcome,
          attempts,
          costUsd: totalCost(attempts),
        });
        return attempts;
      });
      reportAbandoned(deps.health, abandoned);
      return attempts;
    },
  };
}
