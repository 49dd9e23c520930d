/** The request's final record, written once the workflow has its answer (or gave up). */
import * as requests from '../src/db/requests';
import { totalCost, type AttemptRecord } from '../src/domain/request';
import type { ActivityDeps } from './deps';

export function createOutcomeActivities(deps: ActivityDeps) {
  return {
    /** Final record of the request: status, chosen provider, every attempt, usage and cost. Returns the attempts. */
    async recordOutcome(input: {
      requestId: string;
      outcome: Omit<requests.RequestOutcome, 'attempts'>;
    }): Promise<AttemptRecord[]> {
      await requests.abandonStartedAttempts(deps.db, input.requestId);
      const attempts = await requests.listAttempts(deps.db, input.requestId);
      await requests.completeRequest(deps.db, input.requestId, {
        ...input.outcome,
        attempts,
        costUsd: totalCost(attempts),
      });
      return attempts;
    },
  };
}
