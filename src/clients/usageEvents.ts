/**
 * Starts the cluster's one usageEvents entity (its fixed id, the running one kept: however many
 * workers start it, one runs). Returns the run id it started or found (undefined: not started).
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { USAGE_EVENTS_ID, type usageEvents, type UsageEventsInput } from '../../workflows/usageEvents';

export async function ensureUsageEvents(
  client: Client,
  taskQueue: string,
  logger?: Pick<Logger, 'warn'>,
  workflowId = USAGE_EVENTS_ID,
  input: UsageEventsInput = {},
): Promise<string | undefined> {
  try {
    const handle = await client.workflow.start<typeof usageEvents>('usageEvents', {
      workflowId,
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    return handle.firstExecutionRunId;
  } catch (err) {
    logger?.warn({ err }, 'could not start the usage-event deliverer');
    return undefined;
  }
}
