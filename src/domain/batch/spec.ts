/**
 * Batch jobs as data: what an item of each kind is, the options a batch runs with, the ids the
 * engine derives, and the arithmetic of progress. Pure, so the API, the activities and the
 * workflow share one definition.
 */
import { z } from 'zod';
import { ChatCompletionRequestSchema } from '../chat';
import type { RouteContext } from '../policy';

export const BATCH_KINDS = ['summarize', 'openai'] as const;
export type BatchKind = (typeof BATCH_KINDS)[number];

export const BATCH_STATUSES = ['queued', 'running', 'waiting', 'completed', 'cancelled', 'failed'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];
export const isFinished = (s: BatchStatus) => s === 'completed' || s === 'cancelled' || s === 'failed';

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

export const SUMMARY_STYLES = ['abstract', 'key_points'] as const;
export type SummaryStyle = (typeof SUMMARY_STYLES)[number];

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

export const MAX_BATCH_ITEMS = 50_000;

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
    }
  });
export type OpenAIBatchLine = z.infer<typeof OpenAIBatchLineSchema>;

/** The OpenAI embeddings body as a batch line carries it. */
export const EmbeddingsBodySchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(256)]),
    encoding_format: z.literal('float').optional(),
    dimensions: z.number().int().positive().optional(),
    user: z.string().max(256).optional(),
  })
  .strict();

/** What every item of a batch is routed with (stored on the batch, read by its activities). */
export interface BatchOptions {
  model: string;
  maxWords?: number;
  style?: SummaryStyle;
  overlapTokens?: number;
  concurrency: number;
  context: RouteContext;
  /** Endpoint of OpenAI batches (`/v1/chat/completions` or `/v1/embeddings`). */
  endpoint?: string;
  completionWindow?: string;
  metadata?: Record<string, string> | null;
}

/** The workflow's input: ids and counts only. */
export interface BatchJobInput {
  batchId: string;
  tenantId: string;
  kind: BatchKind;
  concurrency: number;
  /** How long to wait before checking again whether a blocked route has reopened. */
  recheckMs: number;
  /** The last item sequence number dispatched by earlier runs (continue-as-new). */
  cursor?: number;
  /** Items deferred by an outage, to run again (continue-as-new carries them). */
  deferred?: BatchItemRef[];
  /** Items dispatched before this run (continue-as-new), for the progress details. */
  startedBefore?: number;
  /** The earlier run was waiting out an outage until `until` (epoch ms). */
  waiting?: { until: number; reason: string };
}

export interface BatchItemRef {
  seq: number;
  itemId: string;
}

export interface BatchItemInput {
  batchId: string;
  tenantId: string;
  kind: BatchKind;
  seq: number;
  itemId: string;
}

/** How an item's run ended. `deferred`: blocked by an outage or budget; run it again after `retryAt`. */
export type BatchItemOutcome =
  | { status: 'succeeded' | 'failed' }
  | { status: 'deferred'; reason: string; retryAt?: string }
  | { status: 'cancelled' };

export const batchWorkflowId = (batchId: string) => `batch-${batchId}`;
export const itemWorkflowId = (batchId: string, itemId: string) => `batch-${batchId}/${itemId}`;
/** A request of an item's run: round 0 holds the chunks, later rounds combine their summaries. */
export const batchRequestId = (batchId: string, seq: number, run: number, round: number, index: number) =>
  `bt-${batchId}-${seq}-${run}-${round}-${index}`;

/** Ways a route ends that say "not now" rather than "never": the item waits instead of failing. */
export const DEFERRING_ENDINGS = new Set(['BudgetExceeded', 'NoCandidate', 'AllRateLimited']);

/** Output tokens to allow a summary of `maxWords` words with its key points. */
export const summaryOutputTokens = (maxWords: number) => Math.ceil(maxWords * 1.6) + 160;

/** Room the summarize prompt takes around the text (instructions and message framing). */
export const SUMMARY_PROMPT_TOKENS = 120;

/** The most document tokens one chunk may hold for a context window of `contextWindow`. */
export function chunkBudget(contextWindow: number, maxWords: number): number {
  return Math.max(64, contextWindow - summaryOutputTokens(maxWords) - SUMMARY_PROMPT_TOKENS);
}

export interface Progress {
  done: number;
  failed: number;
  total: number;
  startedAt?: string | null;
  now: number;
}

/** Seconds left at the rate observed since the batch started (undefined before the first item ends). */
export function etaSeconds(p: Progress): number | undefined {
  const finished = p.done + p.failed;
  if (!p.startedAt || finished === 0) return undefined;
  const elapsed = (p.now - Date.parse(p.startedAt)) / 1000;
  if (elapsed <= 0) return undefined;
  return Math.max(0, Math.round(((p.total - finished) * elapsed) / finished));
}

/** The JSONL parse of one line: the value, or the error that names the line and field. */
export function lineError(lineNo: number, path: readonly PropertyKey[], message: string): string {
  const field = path.map(String).join('.');
  return `line ${lineNo}: ${field ? `${field}: ` : ''}${message}`;
}
