/**
 * A batch job's engine-side definitions, free of schema libraries (the workflows import them):
 * kinds and statuses, the workflow inputs, the ids the engine derives, and progress arithmetic.
 */
import type { BatchableOperation } from '../operations';
import type { RouteContext } from '../policy';
import type { RouteFailureDetails } from '../request';

/**
 * The operations the registry gives batches (`src/domain/operations.ts`). `summarize`: documents →
 * summaries (chunked and combined); the others: texts → that operation's result, one request each.
 * A type only: the registry holds zod schemas. The lists of kinds are in `./spec`.
 */
export type TextOperationKind = BatchableOperation;
/** A text operation's kind, or `openai`: OpenAI batch lines → responses. */
export type BatchKind = TextOperationKind | 'openai';

export const SUMMARY_STYLES = ['abstract', 'key_points'] as const;
export type SummaryStyle = (typeof SUMMARY_STYLES)[number];

export const BATCH_STATUSES = ['queued', 'running', 'waiting', 'completed', 'cancelled', 'failed'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];
export const isFinished = (s: BatchStatus) => s === 'completed' || s === 'cancelled' || s === 'failed';

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
  /** Intent batches: the labels to choose from. Entities batches: the types to find. */
  intents?: string[];
  types?: string[];
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

/** A batch request's route failure as the batch engine reads it: its ending and what the route recorded. */
export interface ItemRouteFailure {
  type: string;
  details?: Partial<Pick<RouteFailureDetails, 'budget' | 'retryAt' | 'candidates'>>;
}

/** An item to run again later: why, and when at the earliest (else after the job's recheck interval). */
export interface Deferral {
  reason: string;
  retryAt?: string;
  /** Deferred for a strict request's ending (`ModelUnavailable`): batch jobs defer these since issue 27. */
  strict?: true;
}

/**
 * The ending a route allowed to substitute would have had for the same failure of the same one
 * model: a strict request (substitution none) says `ModelUnavailable` for all of them, so the
 * batch engine decides on the failure underneath. Its one model filtered out: no candidate (and
 * `retryAt` when by an open breaker); rate limited: every candidate rate limited; anything else
 * (a refused key, an unknown model, a timeout, an overload): every candidate failed.
 */
export function substitutableEnding(f: ItemRouteFailure): string {
  if (f.type !== 'ModelUnavailable') return f.type;
  const errors = (f.details?.candidates ?? []).filter((o) => o.outcome === 'error');
  if (errors.length === 0) return 'NoCandidate';
  if (errors.every((o) => o.errorType === 'RateLimited')) return 'AllRateLimited';
  return 'AllCandidatesFailed';
}

/**
 * Whether a batch request's route failure means "not now" rather than "never": an exhausted
 * budget, every candidate's breaker open, or every candidate rate limited. The item then waits
 * instead of failing. A strict request's `ModelUnavailable` defers exactly when the ending the
 * same failure has with substitution allowed does (`substitutableEnding`); `model` is the model
 * the item names, for the reason.
 */
export function deferralOf(f: ItemRouteFailure, model: string): Deferral | undefined {
  const ending = substitutableEnding(f);
  if (ending === 'BudgetExceeded') {
    const b = f.details?.budget;
    return {
      reason: `budget exhausted${b ? ` (${b.scope} ${b.period}, resets at ${b.resetsAt})` : ''}`,
      retryAt: b?.resetsAt,
    };
  }
  if (ending !== 'NoCandidate' && ending !== 'AllRateLimited') return undefined;
  const retryAt = f.details?.retryAt;
  if (f.type !== 'ModelUnavailable') {
    if (retryAt) return { reason: `every candidate's breaker is open`, retryAt };
    return ending === 'AllRateLimited' ? { reason: 'every candidate is rate limited' } : undefined;
  }
  const name = f.details?.candidates?.[0]?.modelId ?? model;
  if (retryAt) return { reason: `the breaker of ${name} is open (substitution none)`, retryAt, strict: true };
  return ending === 'AllRateLimited'
    ? { reason: `${name} is rate limited (substitution none)`, strict: true }
    : undefined;
}

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

/**
 * What a progress view shows of a batch: counts, the rate since it started (finished items per
 * minute, until it finished; null before the first item ends), the time left while it runs, and
 * why it waits (the reason the workflow recorded: a budget, a breaker, a rate limit), else null.
 */
export function batchProgress(
  p: Progress & { finishedAt?: string | null; status: BatchStatus; statusReason: string | null },
) {
  const finished = p.done + p.failed;
  const end = p.finishedAt ? Date.parse(p.finishedAt) : p.now;
  const minutes = p.startedAt ? (end - Date.parse(p.startedAt)) / 60_000 : 0;
  const open = p.status === 'running' || p.status === 'waiting';
  return {
    progress: { total: p.total, completed: p.done, failed: p.failed },
    rate_per_minute: finished > 0 && minutes > 0 ? finished / minutes : null,
    eta_seconds: open ? (etaSeconds(p) ?? null) : null,
    waiting_reason: p.status === 'waiting' ? p.statusReason : null,
  };
}
