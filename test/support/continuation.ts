/**
 * The setup the continuation tests share: routing by quality, one attempt per model (a cut stream
 * goes straight to the next candidate, which continues it), and stream limits short enough that a
 * stall is seen quickly.
 */
import type { StackOptions, TestStack } from './stack';

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

/**
 * Scripts a continuation that fails: `oa/primary` is cut after 3 pieces of `content`, and the
 * Anthropic backup refuses the prefill (a 400, as a model without prefill answers).
 */
export function scriptRefusedPrefill(fakes: TestStack['fakes'], content: string): void {
  fakes.openai.script('primary', { kind: 'ok', content, cutAfter: 3 });
  fakes.anthropic.script('backup', {
    kind: 'error',
    status: 400,
    errorType: 'invalid_request_error',
    message: 'This model does not support assistant message prefill.',
  });
}
