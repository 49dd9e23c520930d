/**
 * Context fitting in the routing decision (issue 26): a chat request whose conversation no
 * candidate's window takes, with fitting on (its own `fit`, else its tenant's), is fitted to the
 * window of the model the context-window filter removed that takes the longest prompt
 * (`fitTarget`), and decided again. The fitted conversation is stored beside the client's body
 * (`fitted_body`: its calls send it; the record keeps both), and the decision records `fit`.
 *
 * `summarize` needs a summary of the dropped turns: from the tenant's cache (sha256 of the turns),
 * else from a summarizing request this decision inserts (`<id>-fit`, operation `summarize`, the
 * turns as its text) for the workflow to run as its child; the workflow then decides again with
 * its outcome. A summary that failed, or does not fit with the kept turns, falls back to
 * truncation, the decision saying why.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../db';
import { readFitSummary, setFittedBody, writeFitSummary } from '../db/fitSummaries';
import * as requests from '../db/requests';
import { ChatCompletionRequestSchema, type ChatMessage } from '../domain/chat';
import type { Classification } from '../domain/classify';
import type { SwitchyardConfig } from '../domain/config';
import { fitsNoWindow } from '../domain/fallback';
import {
  fitModeOf,
  fitTarget,
  SUMMARY_MAX_WORDS,
  SUMMARY_RESERVE_TOKENS,
  transcriptOf,
  truncate,
  withSummary,
  type FitRecord,
  type FitTarget,
  type Truncation,
} from '../domain/fit';
import { DEFAULT_OUTPUT_TOKENS } from '../domain/limits';
import { SummaryResultSchema } from '../domain/operations';
import type { FitSummaryStep, PlannedRoute, RouteRequestInput } from '../domain/request';
import { readAnswer } from '../domain/storedAnswer';
import { countMessageTokens } from '../domain/tokens';

/** The summarizing request of request `id` (its row; its workflow is `req-<id>-fit`, the parent's child). */
export const fitRequestIdOf = (requestId: string) => `${requestId}-fit`;
/** The summarize operation's longest text: a longer transcript keeps its latest part. */
const MAX_TRANSCRIPT_CHARS = 400_000;

/** What the workflow reports of the summarizing child when it decides again. */
export interface FitSummaryOutcome {
  step: FitSummaryStep;
  /** The child failed (its error's message): fall back to truncation. */
  failed?: string;
}

export type FitResult =
  /** Fitting is off, not for this request, or not needed. */
  | { kind: 'none' }
  /** Fitting could not help: the request ends with its 400, the record says why. */
  | { kind: 'unfit'; fit: FitRecord }
  /** The conversation is fitted (and stored): decide again with this classification. */
  | { kind: 'fitted'; fit: FitRecord; classification: Classification }
  /** A summary is needed first: the workflow runs this child request, then decides again. */
  | { kind: 'summarize'; step: FitSummaryStep };

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Fits the request's conversation when its plan found no candidate for the window alone and
 * fitting is on. `outcome`: the summarizing child's, on the decision after it ran.
 */
export async function fitConversation(
  db: Db,
  config: SwitchyardConfig,
  route: RouteRequestInput,
  plan: Pick<PlannedRoute, 'candidates' | 'rejected'>,
  classification: Classification,
  outcome?: FitSummaryOutcome,
): Promise<FitResult> {
  const mode = fitModeOf(route.context.fit, config.tenants[route.tenantId]?.fit);
  if (mode === 'off' || route.operation !== 'chat') return { kind: 'none' };
  if (plan.candidates.length > 0 || !fitsNoWindow(plan.rejected)) return { kind: 'none' };
  const target = fitTarget(plan.rejected, classification.inputTokens);
  if (!target) return { kind: 'none' };

  const stored = await requests.getRequestBody(db, route.requestId, { original: true });
  const body = (stored?.body ?? {}) as Record<string, unknown>;
  const raw = (body.messages ?? []) as unknown[];
  const parsed = ChatCompletionRequestSchema.parse(body).messages;
  // The stored messages as the client sent them (parsing may drop fields a provider still wants).
  const rawOf = new Map<ChatMessage, unknown>(parsed.map((m, i) => [m, raw[i]]));
  const store = async (messages: ChatMessage[], fit: FitRecord): Promise<FitResult> => {
    await setFittedBody(db, route.requestId, { ...body, messages: messages.map((m) => rawOf.get(m) ?? m) });
    const tokens = countMessageTokens(messages);
    return {
      kind: 'fitted',
      fit,
      classification: {
        ...classification,
        inputTokens: tokens,
        requiredContext: tokens + (route.maxOutputTokens ?? DEFAULT_OUTPUT_TOKENS),
        signals: [...classification.signals, `fit:${mode} ${classification.inputTokens} → ${tokens} tokens`],
      },
    };
  };
  const record = (t: Truncation, extra: Partial<FitRecord> & { tokensAfter?: number } = {}): FitRecord => {
    const { tokensAfter = t.keptTokens, ...rest } = extra;
    return {
      mode,
      target_model: target.modelId,
      window: target.window,
      dropped_messages: t.dropped.length,
      summarized_messages: 0,
      tokens_before: t.tokensBefore,
      tokens_after: tokensAfter,
      tokens_saved: t.tokensBefore - tokensAfter,
      ...rest,
    };
  };
  /** Truncation alone: `truncate`'s mode, or summarizing's fallback (`why`). */
  const truncated = async (why?: string): Promise<FitResult> => {
    const t = truncate(parsed, countMessageTokens, target.inputBudget);
    if (!t.ok) return unfit(mode, target, t.reason, classification.inputTokens);
    return store(t.messages, record(t, why ? { fallback: why } : {}));
  };
  if (mode === 'truncate') return truncated();

  // Summarize: the turns to drop leave room for the summary.
  const t = truncate(parsed, countMessageTokens, target.inputBudget, SUMMARY_RESERVE_TOKENS);
  if (!t.ok) return truncated('no room for a summary beside the latest turn');
  const dropped = t.dropped.map((m) => rawOf.get(m) ?? m);
  const turnsHash = sha256(JSON.stringify(dropped));
  const summarized = async (summary: string, extra: Partial<FitRecord>): Promise<FitResult> => {
    const messages = withSummary(t, summary);
    const tokensAfter = countMessageTokens(messages);
    if (tokensAfter > target.inputBudget)
      return truncated(`the summary (${tokensAfter} tokens with the kept turns) did not fit`);
    return store(messages, record(t, { summarized_messages: t.dropped.length, tokensAfter, ...extra }));
  };

  const cached = await readFitSummary(db, route.tenantId, turnsHash);
  if (cached) return summarized(cached.summary, { summary_request_id: cached.summaryRequestId, cached: true });

  if (outcome) {
    const id = outcome.step.requestId;
    if (outcome.failed) return truncated(`summarizing failed (${id}): ${outcome.failed}`);
    const summary = await summaryOf(db, id);
    if (!summary) return truncated(`summarizing request ${id} left no summary`);
    await writeFitSummary(db, { tenantId: route.tenantId, turnsHash, summary, summaryRequestId: id });
    return summarized(summary, { summary_request_id: id, cached: false });
  }

  // No summary yet: the summarizing request, for the workflow to run as its child.
  const requestId = fitRequestIdOf(route.requestId);
  const workflowId = `req-${requestId}`;
  const transcript = transcriptOf(t.dropped);
  await requests.insertRequest(db, {
    requestId,
    workflowId,
    tenantId: route.tenantId,
    operation: 'summarize',
    requestedModel: 'auto',
    body: {
      text: transcript.length > MAX_TRANSCRIPT_CHARS ? transcript.slice(-MAX_TRANSCRIPT_CHARS) : transcript,
      maxWords: SUMMARY_MAX_WORDS,
      model: 'auto',
    },
    bodyHash: turnsHash,
    endUser: route.context.userId,
  });
  return { kind: 'summarize', step: { requestId, workflowId } };
}

function unfit(mode: FitRecord['mode'], target: FitTarget, why: string, tokens: number): FitResult {
  return {
    kind: 'unfit',
    fit: {
      mode,
      target_model: target.modelId,
      window: target.window,
      dropped_messages: 0,
      summarized_messages: 0,
      tokens_before: tokens,
      tokens_after: tokens,
      tokens_saved: 0,
      unfit: why,
    },
  };
}

/** The summary a finished summarizing request answered (undefined: it did not succeed). */
async function summaryOf(db: Db, requestId: string): Promise<string | undefined> {
  const row = await requests.getRequest(db, requestId);
  if (row?.status !== 'succeeded' || !row.response) return undefined;
  const result = SummaryResultSchema.safeParse(readAnswer(row.response, 'chat').result);
  return result.success ? result.data.summary : undefined;
}
