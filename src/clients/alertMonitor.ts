/**
 * Starts the cluster's one alertMonitor entity (signal-with-start on its fixed id: however many
 * workers start it, one runs) and wakes it when the configuration changes.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { ALERT_MONITOR_ID, evaluateNowSignal, type alertMonitor } from '../../workflows/alertMonitor';

export async function ensureAlertMonitor(
  client: Client,
  taskQueue: string,
  logger?: Pick<Logger, 'warn'>,
  workflowId = ALERT_MONITOR_ID,
): Promise<void> {
  try {
    await client.workflow.signalWithStart<typeof alertMonitor, []>('alertMonitor', {
      workflowId,
      taskQueue,
      args: [{}],
      signal: evaluateNowSignal,
      signalArgs: [],
    });
  } catch (err) {
    logger?.warn({ err }, 'could not start the alert monitor');
  }
}

/**
 * Asks the running monitor to evaluate now (a breaker was forced: its webhooks need not wait for
 * the next interval). Best effort: a monitor not running yet evaluates when it starts.
 */
export async function nudgeAlertMonitor(client: Client, workflowId = ALERT_MONITOR_ID): Promise<void> {
  await client.workflow
    .getHandle(workflowId)
    .signal(evaluateNowSignal)
    .catch(() => undefined);
}
