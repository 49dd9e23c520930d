/**
 * Context fitting (issue 26): a conversation longer than every candidate's context window may be
 * fitted instead of refused with a 400. `truncate` drops the oldest turns, keeping every system
 * (and developer) message and the latest turns: at least the last user message and everything
 * after it; an assistant's tool calls stay with their tool results. `summarize` drops the same
 * turns and puts a summary of them (a routed request of its own) before the kept turns. Pure: the
 * routing decision (`src/services/contextFit.ts`) reads the request and stores the result.
 */
import { contentText, type ChatMessage } from './chat';
import type { FitMode } from './fitMode';

export { FIT_MODES, FitModeSchema, type FitMode } from './fitMode';

/** The request's own mode (body or header), else its tenant's default, else off. */
export const fitModeOf = (request: FitMode | undefined, tenant: FitMode | undefined): FitMode =>
  request ?? tenant ?? 'off';

const isInstruction = (m: ChatMessage): boolean => m.role === 'system' || m.role === 'developer';

/**
 * The conversation's turns, as indexes into `messages`: each user message starts one, and the
 * assistant's answers, tool calls and tool results after it belong to it. Dropped or kept whole: a
 * tool result never loses its call (providers refuse that), and the kept conversation starts with
 * a user message (Anthropic's Messages API requires it). System messages are in none.
 */
export function turnsOf(messages: readonly ChatMessage[]): number[][] {
  const turns: number[][] = [];
  messages.forEach((m, i) => {
    if (isInstruction(m)) return;
    const last = turns[turns.length - 1];
    if (m.role !== 'user' && last) last.push(i);
    else turns.push([i]);
  });
  return turns;
}

/** The model whose window the conversation is fitted to, and the tokens its prompt may have there. */
export interface FitTarget {
  modelId: string;
  window: number;
  /** Its window less the room kept for the output (the request's cap, up to the model's): the prompt's limit. */
  inputBudget: number;
}

/**
 * The target: of the models the context-window filter removed (the only ones a shorter prompt
 * brings back; any other filter's removal stands), the one that takes the longest prompt once
 * the output's room is kept, which loses the fewest turns. Undefined: no model was removed for its window.
 */
export function fitTarget(
  rejected: ReadonlyArray<{ modelId: string; filter: string; contextWindow?: number; neededTokens?: number }>,
  inputTokens: number,
): FitTarget | undefined {
  let best: FitTarget | undefined;
  for (const r of rejected) {
    if (r.filter !== 'context-window' || r.contextWindow === undefined || r.neededTokens === undefined) continue;
    const inputBudget = r.contextWindow - (r.neededTokens - inputTokens);
    if (!best || inputBudget > best.inputBudget) best = { modelId: r.modelId, window: r.contextWindow, inputBudget };
  }
  return best;
}

export interface Truncation {
  ok: true;
  /** The fitted conversation: system messages where they were, the kept turns. */
  messages: ChatMessage[];
  /** The dropped turns' messages, oldest first (what a summary summarizes). */
  dropped: ChatMessage[];
  /** Where in `messages` the first kept turn is: a summary goes just before it. */
  firstKept: number;
  droppedTokens: number;
  keptTokens: number;
  tokensBefore: number;
  tokensSaved: number;
}

export interface Unfit {
  ok: false;
  /** Why no truncation fits, for the 400's message and the decision. */
  reason: string;
  /** The fewest tokens a truncation can leave: system messages and the last user turn onwards. */
  minimumTokens: number;
}

/**
 * Drops the fewest oldest turns so the conversation counts at most `budget` tokens (with `reserve`
 * tokens more still free: room for a summary). The kept turns always include the last user
 * message's turn and all after it; when even those and the system messages do not fit, `Unfit`.
 * `count` is the prompt's token count as the routing decision counts it (per-message framing
 * included), so a fitted prompt passes the context-window filter it failed.
 */
export function truncate(
  messages: readonly ChatMessage[],
  count: (messages: ChatMessage[]) => number,
  budget: number,
  reserve = 0,
): Truncation | Unfit {
  const turns = turnsOf(messages);
  const tokensBefore = count([...messages]);
  // The turns that may go: all but the last (the last user message's, with what follows it).
  const droppable = Math.max(0, turns.length - 1);
  const without = (k: number): { kept: ChatMessage[]; dropped: ChatMessage[]; firstKept: number } => {
    const gone = new Set(turns.slice(0, k).flat());
    const kept: ChatMessage[] = [];
    const dropped: ChatMessage[] = [];
    let firstKept = -1;
    messages.forEach((m, i) => {
      if (gone.has(i)) return void dropped.push(m);
      if (firstKept < 0 && !isInstruction(m)) firstKept = kept.length;
      kept.push(m);
    });
    return { kept, dropped, firstKept: firstKept < 0 ? kept.length : firstKept };
  };
  const fits = (k: number) => count(without(k).kept) + reserve <= budget;
  if (!fits(droppable)) {
    const minimumTokens = count(without(droppable).kept);
    return {
      ok: false,
      minimumTokens,
      reason:
        `the system messages and the latest turn alone have ${minimumTokens} tokens` +
        (reserve ? ` (${reserve} more kept for a summary)` : '') +
        `, more than the ${budget} the largest window leaves for the prompt`,
    };
  }
  // The fewest turns dropped that fit: the count falls as turns go, so a binary search finds it.
  let lo = 0;
  let hi = droppable;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (fits(mid)) hi = mid;
    else lo = mid + 1;
  }
  const { kept, dropped, firstKept } = without(lo);
  const keptTokens = count(kept);
  return {
    ok: true,
    messages: kept,
    dropped,
    firstKept,
    droppedTokens: dropped.length ? count(dropped) : 0,
    keptTokens,
    tokensBefore,
    tokensSaved: tokensBefore - keptTokens,
  };
}

export const SUMMARY_PREFIX = 'Summary of the earlier conversation: ';

/** The fitted conversation with the dropped turns' summary as a system message before the kept turns. */
export function withSummary(t: Pick<Truncation, 'messages' | 'firstKept'>, summary: string): ChatMessage[] {
  const note: ChatMessage = { role: 'system', content: `${SUMMARY_PREFIX}${summary.trim()}` };
  return [...t.messages.slice(0, t.firstKept), note, ...t.messages.slice(t.firstKept)];
}

/** The summary's length in words, asked of the summarizing request. */
export const SUMMARY_MAX_WORDS = 100;
/**
 * Tokens kept free for the summary when choosing the turns to drop: its words (English averages
 * under 1.5 tokens a word; models overrun the limit a little), the prefix and the message's framing.
 */
export const SUMMARY_RESERVE_TOKENS = SUMMARY_MAX_WORDS * 2 + 16;

/** The dropped turns as one text for the summarize operation: "role: content" per message. */
export function transcriptOf(dropped: readonly ChatMessage[]): string {
  return dropped
    .map((m) => {
      const text = contentText(m.content);
      const calls =
        m.role === 'assistant' && m.tool_calls?.length
          ? `[called ${m.tool_calls.map((c) => `${c.function.name}(${c.function.arguments})`).join(', ')}]`
          : '';
      return `${m.role}: ${[text, calls].filter(Boolean).join(' ')}`;
    })
    .join('\n\n');
}

/** What the decision records of a fitting (`fit` in the decision JSON, GET /v1/requests/:id). */
export interface FitRecord {
  mode: 'truncate' | 'summarize';
  /** The model and window the conversation was fitted to. */
  target_model: string;
  window: number;
  dropped_messages: number;
  /** Messages replaced by the summary (0 for truncate, or when summarizing fell back). */
  summarized_messages: number;
  tokens_before: number;
  tokens_after: number;
  tokens_saved: number;
  /** The summarizing request (its own row; the cached summary's request on a cache hit). */
  summary_request_id?: string;
  /** The summary came from the cache (the same turns summarized before for this tenant). */
  cached?: boolean;
  /** Summarizing did not work out: the conversation was truncated instead, and why. */
  fallback?: string;
  /** No fitting could help (the request ended with its 400): why. */
  unfit?: string;
}

/** The decision's note of a fitting: one line for the workflow's details and the answer's notes. */
export function fitNote(f: FitRecord): string {
  if (f.unfit) return `fit (${f.mode}): not possible: ${f.unfit}`;
  const how =
    f.summarized_messages > 0
      ? `summarized ${f.summarized_messages} earlier messages${f.cached ? ' (cached summary)' : ''}`
      : `dropped ${f.dropped_messages} earlier messages`;
  return `fit (${f.mode}): ${how} to fit ${f.target_model}'s ${f.window}-token window (${f.tokens_before} → ${f.tokens_after} prompt tokens)${f.fallback ? `; summary not used: ${f.fallback}` : ''}`;
}
