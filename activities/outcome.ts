/** The request's final record, when it ends without an answer (a success is recorded by its call). */
import type { RequestOutcome } from '../src/db/requests';
import type { AttemptRecord } from '../src/domain/request';
import { finishRequest, reportAbandoned } from '../src/services/attempts';
import type { ActivityDeps } from './deps';

export function createOutcomeActivities(deps: ActivityDeps) {
  return {
    /** Final record of a request no candidate answered: status, error, every attempt. Returns the attempts. */
    async recordOutcome(input: { requestId: string; outcome: RequestOutcome }): Promise<AttemptRecord[]> {
      const { attempts, abandoned } = await deps.db.transaction((tx) =>
        finishRequest(tx, input.requestId, input.outcome),
      );
      reportAbandoned(deps.health, abandoned);
      return attempts;
    },
  };
}
