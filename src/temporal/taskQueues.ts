/** Task queue names. One activity queue per provider: a bulkhead, and a place for server-side rate limits. */
export const providerTaskQueue = (providerId: string): string => `llm-${providerId}`;

/**
 * Batch items' requests run on their own queue, served by a worker with fewer slots than the
 * interactive one: a batch cannot take the slots interactive requests need.
 */
export const batchTaskQueue = (taskQueue: string): string => `${taskQueue}-batch`;
