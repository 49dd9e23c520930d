/** Circuit-breaker settings (the configuration's `breakers`), apart from the state machine the workflow bundles. */
import { z } from 'zod';

export const BreakerSettingsSchema = z
  .object({
    failureThreshold: z.number().int().min(1).default(3),
    windowMs: z.number().int().min(1_000).default(60_000),
    /** Also trip when the failure rate over at least `minCalls` calls in the window reaches this. */
    failureRateThreshold: z.number().min(0).max(1).default(0.5),
    minCalls: z.number().int().min(1).default(20),
    cooldownMs: z.number().int().min(100).default(60_000),
    maxCooldownMs: z
      .number()
      .int()
      .min(100)
      .default(30 * 60_000),
    probeSlots: z.number().int().min(1).default(1),
    /** A granted probe slot that reports nothing within this long is given back. */
    probeTimeoutMs: z.number().int().min(1_000).default(120_000),
  })
  .strict();
export type BreakerSettings = z.infer<typeof BreakerSettingsSchema>;
export const DEFAULT_BREAKER: BreakerSettings = BreakerSettingsSchema.parse({});
