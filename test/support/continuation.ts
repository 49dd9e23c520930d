/**
 * The setup the continuation tests share: routing by quality, one attempt per model (a cut stream
 * goes straight to the next candidate, which continues it), and stream limits short enough that a
 * stall is seen quickly.
 */
import type { StackOptions } from './stack';

/** One attempt per model, 20 s each: a failed call is its candidate's last. */
export const ONE_ATTEMPT_RETRIES = {
  default: {
    maximumAttempts: 1,
    initialIntervalMs: 20,
    backoffCoefficient: 1,
    maximumIntervalMs: 20,
    timeoutMs: 20_000,
  },
};

/** A continuation test's stack: this catalog, quality routing, one attempt each, 5 s to the first token, 1.5 s idle. */
export const continuationStack = (
  catalog: StackOptions['catalog'],
  more: Omit<StackOptions, 'catalog' | 'config' | 'streamLimits'> = {},
): StackOptions => ({
  ...more,
  catalog,
  config: { routing: { defaultStrategy: 'quality' }, retry: ONE_ATTEMPT_RETRIES },
  streamLimits: { firstTokenMs: 5_000, idleMs: 1_500 },
});
