/**
 * usageEvents: the one long-running entity that delivers the usage-event outbox to the configured
 * sinks (src/services/eventDelivery.ts). Its activity delivers continuously for a few minutes
 * with heartbeats and returns; the workflow starts it again, and continues as new before its
 * history grows large. One workflow id for the cluster: however many workers start it, one runs.
 * A failed run (a database that is down, a worker killed) is retried with backoff, without end:
 * the sinks' cursors are in the database, so nothing is lost or skipped.
 */
import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';

export const USAGE_EVENTS_ID = 'usage-events';

export interface UsageEventsInput {
  /** How long each activity run delivers (default 5 minutes; short in tests). */
  runForMs?: number;
  /** Continue as new after this many runs. */
  maxRuns?: number;
}

const RUN_FOR_MS = 5 * 60_000;
const DEFAULT_MAX_RUNS = 100;

const { deliverUsageEvents } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  // A dead worker's run is noticed (and retried elsewhere) this soon.
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

export async function usageEvents(input: UsageEventsInput = {}): Promise<void> {
  for (let run = 0; ; run++) {
    await deliverUsageEvents({ runForMs: input.runForMs ?? RUN_FOR_MS });
    if (run + 1 >= (input.maxRuns ?? DEFAULT_MAX_RUNS) || workflowInfo().continueAsNewSuggested)
      await continueAsNew<typeof usageEvents>(input);
  }
}
