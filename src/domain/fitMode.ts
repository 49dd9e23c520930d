/** Context fitting's modes (issue 26; the logic is in `./fit`): on its own, as the schemas of requests and tenants read it. */
import { z } from 'zod';

export const FIT_MODES = ['off', 'truncate', 'summarize'] as const;
export const FitModeSchema = z.enum(FIT_MODES);
export type FitMode = z.infer<typeof FitModeSchema>;
