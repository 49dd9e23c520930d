/** Task queue names. One activity queue per provider: a bulkhead, and a place for server-side rate limits. */
export const providerTaskQueue = (providerId: string): string => `llm-${providerId}`;
