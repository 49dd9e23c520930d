/**
 * The request body's `switchyard` extension object: Switchyard's own settings for one request, in
 * the body for clients that cannot set headers (the OpenAI SDKs pass it with `extra_body`). Accepted
 * on chat completions, responses, messages and operations; the matching `X-Switchyard-*` header wins.
 */
import { z } from 'zod';
import { FitModeSchema } from './fitMode';

/** The cost–quality dial: 0 = the cheapest acceptable tier, 1 = the best available. */
export const QualitySchema = z.number().min(0).max(1);

export const SwitchyardRequestExtensionSchema = z
  .object({
    /** The cost–quality dial (`X-Switchyard-Quality` wins). */
    quality: QualitySchema.optional(),
    /**
     * A conversation longer than every candidate's window: `truncate` drops its oldest turns,
     * `summarize` replaces them with a summary, `off` refuses it (400). `X-Switchyard-Fit` wins.
     */
    fit: FitModeSchema.optional(),
  })
  .strict();
export type SwitchyardRequestExtension = z.infer<typeof SwitchyardRequestExtensionSchema>;
