/**
 * Routing settings from the configuration file: each candidate's retry policy (attempts, backoff,
 * timeout, extra non-retryable types) by provider and by model, and the fallback options.
 * Pure schema + merge logic; `src/configFile.ts` reads the file.
 */
import { z } from 'zod';
import { FAILURE_TYPES, NON_RETRYABLE_TYPES } from './failures';

export interface CallPolicy {
  maximumAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  timeoutMs: number;
  nonRetryableTypes: string[];
}

export const RetrySchema = z
  .object({
    maximumAttempts: z.number().int().min(1).max(10),
    initialIntervalMs: z.number().int().min(0).max(600_000),
    backoffCoefficient: z.number().min(1).max(10),
    maximumIntervalMs: z.number().int().min(0).max(3_600_000),
    /** Per-attempt timeout of the provider call. */
    timeoutMs: z.number().int().min(100).max(600_000),
    /** Failure types not retried on this candidate in addition to the taxonomy's own (e.g. RateLimited). */
    nonRetryable: z.array(z.enum(FAILURE_TYPES)).default([]),
  })
  .strict();
export type RetrySettings = z.infer<typeof RetrySchema>;

export const DEFAULT_RETRY: RetrySettings = {
  maximumAttempts: 3,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 20_000,
  timeoutMs: 60_000,
  nonRetryable: [],
};

export const SettingsSchema = z
  .object({
    retry: z
      .object({
        default: RetrySchema.partial().default({}),
        providers: z.record(z.string(), RetrySchema.partial()).default({}),
        models: z.record(z.string(), RetrySchema.partial()).default({}),
      })
      .strict()
      .default({ default: {}, providers: {}, models: {} }),
    fallback: z
      .object({
        /**
         * Try another model when a provider's content filter refuses the request. Off by default:
         * the client gets the provider's own reason and code (a 400), as the provider would give it;
         * routing around a filter is an operator's explicit choice.
         */
        onContentFilter: z.boolean().default(false),
        /** How many times invalid structured output may escalate to a stronger model. */
        maxEscalations: z.number().int().min(0).max(5).default(2),
        /** Candidates per request, the first included. */
        maxCandidates: z.number().int().min(1).max(10).default(3),
        /**
         * Explicit fallback chains: a model's catalog id → the models tried after it, in order,
         * when a request names it (the strategy adds no others). Wins over the catalog model's
         * own `fallbacks`; a request's `models` wins over both.
         */
        chains: z.record(z.string(), z.array(z.string().min(1)).min(1).max(9)).optional(),
      })
      .strict()
      .default({ onContentFilter: false, maxEscalations: 2, maxCandidates: 3 }),
  })
  .strict();
export type Settings = z.infer<typeof SettingsSchema>;

export const DEFAULT_SETTINGS: Settings = SettingsSchema.parse({});

/** The call policy of one candidate: defaults ← settings default ← provider ← model. */
export function callPolicyFor(
  settings: Settings,
  provider: string,
  modelId: string,
  base: RetrySettings = DEFAULT_RETRY,
): CallPolicy {
  const merged: RetrySettings = {
    ...base,
    ...settings.retry.default,
    ...settings.retry.providers[provider],
    ...settings.retry.models[modelId],
  };
  return {
    maximumAttempts: merged.maximumAttempts,
    initialIntervalMs: merged.initialIntervalMs,
    backoffCoefficient: merged.backoffCoefficient,
    maximumIntervalMs: merged.maximumIntervalMs,
    timeoutMs: merged.timeoutMs,
    nonRetryableTypes: [...new Set([...NON_RETRYABLE_TYPES, ...merged.nonRetryable])],
  };
}
