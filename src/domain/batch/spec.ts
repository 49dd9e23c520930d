/**
 * Batch jobs as data: what an item of each kind is, the options a batch runs with, the ids the
 * engine derives, and the arithmetic of progress. Pure, so the API, the activities and the
 * workflow share one definition.
 */
import { z } from 'zod';
import { ChatCompletionRequestSchema, EmbeddingsBodySchema } from '../chat';
import { BATCHABLE_OPERATIONS } from '../operations';
import { AUTO_MODELS } from '../policy/types';
import { SUMMARY_STYLES, type BatchKind, type TextOperationKind } from './job';

export * from './job';

/** The operations with batches, as the registry declares them, and every batch kind. */
export const TEXT_OPERATION_KINDS: readonly TextOperationKind[] = BATCHABLE_OPERATIONS;
export const BATCH_KINDS: readonly BatchKind[] = [...TEXT_OPERATION_KINDS, 'openai'];

/** Item ids become part of workflow ids (`batch-<batchId>/<itemId>`): printable, no slash, bounded. */
export const ItemIdSchema = z
  .string()
  .min(1, 'required')
  .max(128, 'at most 128 characters')
  .regex(/^[\x21-\x2e\x30-\x7e]+$/, 'printable ASCII without spaces or "/"');

export const DocumentSchema = z
  .object({
    id: z.union([ItemIdSchema, z.number().int().nonnegative().transform(String)]),
    text: z.string({ error: 'required' }).min(1, 'must not be empty').max(400_000, 'longer than 400,000 characters'),
    metadata: z.record(z.string().max(64), z.union([z.string().max(512), z.number(), z.boolean()])).optional(),
  })
  .strict();
export type BatchDocument = z.infer<typeof DocumentSchema>;

/** Options of a summarization batch (in the JSON body, or the query string of a JSONL upload). */
export const SummarizeOptionsSchema = z
  .object({
    maxWords: z.coerce.number().int().min(10).max(2_000).default(120),
    style: z.enum(SUMMARY_STYLES).default('abstract'),
    model: z.string().min(1).max(200).default('auto'),
    concurrency: z.coerce.number().int().min(1).optional(),
    /** Tokens of each chunk's start that repeat the previous chunk's end. */
    overlapTokens: z.coerce.number().int().min(0).max(2_000).default(100),
    webhookUrl: z.url().max(2_000).optional(),
    user: z.string().max(256).optional(),
    workspace: z.string().max(256).optional(),
    region: z.string().max(16).optional(),
    compliance: z.union([z.string().max(200), z.array(z.string().max(50)).max(10)]).optional(),
    metadata: z.record(z.string().max(64), z.string().max(512)).optional(),
  })
  .strict();
export type SummarizeOptions = z.infer<typeof SummarizeOptionsSchema>;

const labels = (max: number, each: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()) : v),
    z.array(z.string().min(1).max(each)).min(1).max(max),
  );

/**
 * Options of an intent, sentiment or entities batch: the summarize options that apply to every
 * operation (model, concurrency, webhook, request attributes), and the operation's own.
 */
export const OperationBatchOptionsSchema = SummarizeOptionsSchema.omit({
  maxWords: true,
  style: true,
  overlapTokens: true,
}).extend({
  intents: labels(50, 100)
    .refine((l) => l.length >= 2, 'at least two intents')
    .optional(),
  types: labels(30, 50).optional(),
});
export type OperationBatchOptions = z.infer<typeof OperationBatchOptionsSchema>;

export const MAX_BATCH_ITEMS = 50_000;

const isAuto = (model: unknown) => typeof model === 'string' && AUTO_MODELS.has(model);

/** One line of an OpenAI batch input file. */
export const OpenAIBatchLineSchema = z
  .object({
    custom_id: ItemIdSchema,
    method: z.literal('POST'),
    url: z.enum(['/v1/chat/completions', '/v1/embeddings']),
    body: z.record(z.string(), z.unknown()),
  })
  .strict()
  .superRefine((line, ctx) => {
    const schema = line.url === '/v1/chat/completions' ? ChatCompletionRequestSchema : EmbeddingsBodySchema;
    const parsed = schema.safeParse(line.body);
    if (!parsed.success) {
      for (const issue of parsed.error.issues.slice(0, 1))
        ctx.addIssue({ code: 'custom', path: ['body', ...issue.path], message: issue.message });
    } else if (line.url === '/v1/chat/completions' && (line.body as { stream?: unknown }).stream === true) {
      ctx.addIssue({ code: 'custom', path: ['body', 'stream'], message: 'streaming is not available in a batch' });
    } else if (line.url === '/v1/chat/completions' && line.body.models !== undefined && isAuto(line.body.model)) {
      // As the API refuses the same body: the chain follows a named model, and `auto` would drop it.
      ctx.addIssue({
        code: 'custom',
        path: ['body', 'models'],
        message: "'models' is a fallback chain after a named model: name one in 'model', not auto.",
      });
    }
  });
export type OpenAIBatchLine = z.infer<typeof OpenAIBatchLineSchema>;

/** The JSONL parse of one line: the value, or the error that names the line and field. */
export function lineError(lineNo: number, path: readonly PropertyKey[], message: string): string {
  const field = path.map(String).join('.');
  return `line ${lineNo}: ${field ? `${field}: ` : ''}${message}`;
}
