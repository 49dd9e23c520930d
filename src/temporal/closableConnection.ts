import {
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  type ConnectionOptions,
} from '@temporalio/client';

/** A client connection whose `close()` is safe while calls wait to be retried. */
export interface ClosableConnection {
  connection: Connection;
  /** Retries scheduled and not yet begun (for tests and diagnostics). */
  retriesWaiting(): number;
  /**
   * Stops scheduling retries, waits for those already scheduled to begin (at most the SDK's 5 s
   * backoff cap), then closes: each such call then ends with a status on the closed channel.
   */
  close(): Promise<void>;
}

/**
 * A Temporal client connection with the SDK's own gRPC retries, made safe to close. The SDK
 * retries a failed call (UNAVAILABLE, or RESOURCE_EXHAUSTED such as "workflow is closing" on a
 * signal) from a timer; a timer that fires after `Connection.close()` throws "Channel has been
 * shut down" out of the timer, an uncaught exception in whatever runs then (a process stopping,
 * the next test file). So retries are counted as they are scheduled and `close()` waits for them.
 */
export async function connectClosable(
  options: Omit<ConnectionOptions, 'interceptors'>,
  { lazy = false }: { lazy?: boolean } = {},
): Promise<ClosableConnection> {
  const retry = defaultGrpcRetryOptions();
  const waiting = new Set<NodeJS.Timeout>();
  let closing = false;
  const interceptor = makeGrpcRetryInterceptor({
    retryableDecider: (attempt, status) => !closing && retry.retryableDecider(attempt, status),
    delayFunction: (attempt, status) => {
      const ms = retry.delayFunction(attempt, status);
      // The interceptor's timer is not ours to see: one of the same length marks when it has begun.
      const mark = setTimeout(() => waiting.delete(mark), ms + 1);
      mark.unref();
      waiting.add(mark);
      return ms;
    },
  });
  const withRetries = { ...options, interceptors: [interceptor] };
  const connection = lazy ? Connection.lazy(withRetries) : await Connection.connect(withRetries);
  return {
    connection,
    retriesWaiting: () => waiting.size,
    async close() {
      closing = true;
      while (waiting.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
      await connection.close();
    },
  };
}
