/**
 * alertMonitor: the one long-running entity that evaluates every alert condition across the
 * cluster, on a durable timer: evaluate (an activity: open and resolve episodes in Postgres) →
 * deliver each event the webhooks have not heard → wait `evaluateEverySeconds` (or a signal) →
 * again; continue as new before its history grows large. One workflow id for the cluster, so
 * however many workers start it, one runs; episodes are opened once whoever opens them (the
 * database's unique index), and sent once by this workflow.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineSignal,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';

export interface AlertMonitorInput {
  /** Continue as new after this many evaluations (small in tests). */
  maxTicks?: number;
}

export const ALERT_MONITOR_ID = 'alert-monitor';
/** Evaluate now: a breaker was forced, or the configuration changed. */
export const evaluateNowSignal = defineSignal('evaluateNow');

const { evaluateAlerts, giveUpAlertEvent } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});
// A webhook that is down is retried with backoff for about four minutes, then given up on
// (every attempt's error stays on the alert).
const { deliverAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 7 },
});

const DEFAULT_MAX_TICKS = 400;

export async function alertMonitor(input: AlertMonitorInput = {}): Promise<void> {
  let nudged = false;
  setHandler(evaluateNowSignal, () => {
    nudged = true;
  });
  for (let tick = 0; ; tick++) {
    nudged = false;
    const r = await evaluateAlerts({ at: Date.now() });
    for (const event of r.due) {
      try {
        await deliverAlert(event);
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        log.warn('alert event not delivered', {
          alertId: event.alertId,
          event: event.event,
          error: err.cause?.message,
        });
        await giveUpAlertEvent(event);
      }
    }
    if (tick + 1 >= (input.maxTicks ?? DEFAULT_MAX_TICKS) || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof alertMonitor>(input);
    }
    await condition(() => nudged, r.evaluateEveryMs);
  }
}
