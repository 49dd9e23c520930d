/**
 * `routing.classifier`: the optional configured model that classifies prompts the trained
 * classifier is unsure of (`./llmClassifier.ts`). Its own file, free of the classifier's imports,
 * so the configuration schema stays light.
 */
import { z } from 'zod';

export const LlmClassifierSettingsSchema = z
  .object({
    /** The model that classifies: a catalog id (`provider/model`) or a bare model name the catalog has once. */
    model: z.string().min(1),
    /** Asked when the trained task-type or complexity confidence is below this (default 0.6). */
    belowConfidence: z.number().gt(0).max(1).default(0.6),
    /**
     * The longest its call may take (default 2 s, at most 5 s: it runs inside the routing
     * decision, whose local activity has 10 s); past it the trained result stands.
     */
    timeoutMs: z.number().int().min(100).max(5_000).default(2_000),
    /** How long its answer for a prompt is kept (per tenant and model, shared by every worker); default a day. */
    cacheTtlSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .default(86_400),
  })
  .strict();
export type LlmClassifierSettings = z.infer<typeof LlmClassifierSettingsSchema>;

/** `routing.classifier`: absent (or without `llm`) = the trained classifier alone. */
export const ClassifierSettingsSchema = z.object({ llm: LlmClassifierSettingsSchema.optional() }).strict();
