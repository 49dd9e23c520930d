/**
 * Continuation (issue 29 item 1): a stream that broke after pieces reached the client is finished
 * by another candidate that can take the answer so far as the assistant's partial message (a
 * prefill) and go on from there. Pure, so the workflow (which candidate continues) and the
 * activities (the answer so far, the prefill, the join) share one definition.
 *
 * No answer text goes through the workflow: it passes the request id, the candidate that broke
 * and how many pieces the client got; the continuing call reads the pieces from the relay.
 */
import type { ChatMessage } from './chat';
import { addDelta, emptyAnswer, type StreamAnswer, type StreamEvent } from './stream';

/** The catalog capability of a model that can continue a partial answer (Anthropic's prefill, vLLM's `continue_final_message`). */
export const CONTINUATION = 'continuation';

/** What the workflow tells a continuing call: where the broken stream stopped (ids and counts only). */
export interface ContinueFrom {
  /** The candidate whose stream broke. */
  candidateIndex: number;
  /** Pieces the client received from it (and from any earlier continuation): the relay's deltas to read. */
  chunks: number;
}

/** A candidate as the continuation choice reads it. */
export interface ContinuationCandidate {
  modelId: string;
  /** The model declares the `continuation` capability (recorded in the plan by `decideRoute`). */
  continues?: boolean;
}

/**
 * The next candidate after `after` that may continue a broken stream, and the ones passed over
 * with why (for the decision record). `skip` is the fallback rules' own reason to skip (a context
 * window that overflowed…). Undefined index: none can continue, the stream ends with its error.
 */
export function continuationAfter(
  candidates: readonly ContinuationCandidate[],
  after: number,
  skip: (index: number) => string | undefined = () => undefined,
): { index?: number; passed: Array<{ modelId: string; why: string }> } {
  const passed: Array<{ modelId: string; why: string }> = [];
  for (let i = after + 1; i < candidates.length; i++) {
    const c = candidates[i]!;
    if (!c.continues) {
      passed.push({ modelId: c.modelId, why: 'cannot continue a partial answer (no continuation capability)' });
      continue;
    }
    const why = skip(i);
    if (why) {
      passed.push({ modelId: c.modelId, why });
      continue;
    }
    return { index: i, passed };
  }
  return { passed };
}

/**
 * The answer the client holds: the first `chunks` deltas of the request's relay events, in order
 * (a `continued` hand-over passes the stream to its next sender), and who sent the last of them.
 * Undefined when the relay does not hold them all in order (expired, or a gap): then nothing can
 * be continued safely.
 */
export function answerSoFar(
  events: readonly StreamEvent[],
  chunks: number,
): { answer: StreamAnswer; from: string } | undefined {
  const a = emptyAnswer();
  let from: string | undefined;
  for (const ev of events) {
    if (a.chunks === chunks) break;
    if (ev.type === 'continued') {
      if (ev.from !== from || ev.chunks !== a.chunks) return undefined;
      from = ev.to;
      continue;
    }
    if (ev.type !== 'delta') return undefined;
    from ??= ev.from;
    if (ev.from !== from || ev.seq !== a.chunks) return undefined;
    addDelta(a, ev);
  }
  return a.chunks === chunks && chunks > 0 && from !== undefined ? { answer: a, from } : undefined;
}

/** The pieces (deltas) a request's relay holds. */
export const deltasIn = (events: readonly StreamEvent[]): number => events.filter((e) => e.type === 'delta').length;

/** Why a partial answer cannot be carried over (undefined: it can). */
export function cannotCarry(a: StreamAnswer): string | undefined {
  // A tool call half-streamed has arguments cut mid-JSON; a prefill is text only, so the call
  // could only be restarted, and its first half is already with the client.
  if (a.toolCalls.some(Boolean)) return 'the stream broke inside a tool call, which a prefill cannot carry over';
  if (a.content === '') return 'no text was sent to continue from';
  return undefined;
}

/**
 * The prefill: the request's messages, then the answer so far as the assistant's last message.
 * Trailing whitespace is held back (Anthropic refuses a final assistant turn ending in it); the
 * continuing call then drops the continuation's leading whitespace, which the client already has.
 */
export function prefillMessages(messages: readonly ChatMessage[], a: StreamAnswer): ChatMessage[] {
  return [...messages, { role: 'assistant', content: a.content.trimEnd() }];
}

/** The decision record's line for a continued stream. */
export const continuedLine = (chunks: number, modelId: string): string =>
  `continued after ${chunks} pieces on ${modelId}`;
