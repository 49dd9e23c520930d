/**
 * Streaming, as data: the events a provider call relays to the API process holding the client's
 * connection, how a stream's pieces add up to the answer, and how events become each wire
 * format's server-sent events (OpenAI `chat.completion.chunk`s, Anthropic message events).
 * Pure, so both sides (the activity and the API) share one definition.
 */
import type { ToolCall } from './chat';

/** A piece of a tool call as OpenAI streams it: the first piece carries the id and name. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

/** What one provider chunk adds to the answer. */
export interface StreamDelta {
  content?: string;
  toolCalls?: ToolCallDelta[];
}

/**
 * What the relay carries for a request: its deltas in order, then exactly one `end` (the answer is
 * complete and stored) or `error` (the stream broke after deltas were sent: the client must see
 * an error, never a normal end).
 */
export type StreamEvent =
  | ({ type: 'delta'; model: string; from: string; seq: number } & StreamDelta)
  | {
      type: 'end';
      model: string;
      from: string;
      /** Deltas the call sent: the reader checks it got them all. */
      chunks: number;
      finishReason: string;
      inputTokens: number;
      outputTokens: number;
    }
  | { type: 'error'; errorType: string; message: string; chunks: number }
  /**
   * The stream passes to another call (a fallback continuing a broken stream, issue 29): its
   * deltas follow from `to`, numbered on from `chunks`, the pieces `from` had sent.
   */
  | { type: 'continued'; from: string; to: string; model: string; chunks: number };

/** Who sent an event: the call (candidate and attempt). One stream has one sender. */
export const senderOf = (candidateIndex: number, attempt: number) => `${candidateIndex}.${attempt}`;

/**
 * The longest a streamed call may run (Temporal's start-to-close for it): a stream is bounded by
 * its first-token and idle limits, not by the whole-call timeout of a non-streamed call.
 */
export const STREAM_CALL_MAX_MS = 10 * 60_000;

/** The answer so far, built from deltas. */
export interface StreamAnswer {
  content: string;
  toolCalls: ToolCall[];
  chunks: number;
}

export const emptyAnswer = (): StreamAnswer => ({ content: '', toolCalls: [], chunks: 0 });

/** Adds a delta to the answer (tool call pieces joined by their index, as OpenAI's clients do). */
export function addDelta(a: StreamAnswer, d: StreamDelta): void {
  a.chunks++;
  if (d.content) a.content += d.content;
  for (const t of d.toolCalls ?? []) {
    const call = (a.toolCalls[t.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
    if (t.id) call.id = t.id;
    if (t.function?.name) call.function.name += t.function.name;
    if (t.function?.arguments) call.function.arguments += t.function.arguments;
  }
}

/**
 * A streamed answer's content and tool calls as an answer says them: the calls in index order
 * (an index never sent leaves no hole), and content null when the model only called tools.
 */
export function answerParts(a: StreamAnswer): { content: string | null; toolCalls?: ToolCall[] } {
  const toolCalls = a.toolCalls.filter(Boolean);
  return {
    content: a.content === '' && toolCalls.length ? null : a.content,
    ...(toolCalls.length > 0 && { toolCalls }),
  };
}

/** A stored answer as the deltas a client would have seen (when it was not streamed as it ran). */
export function deltasOf(stored: { content: string | null; toolCalls?: ToolCall[] }): StreamDelta[] {
  const out: StreamDelta[] = [];
  if (stored.content) out.push({ content: stored.content });
  stored.toolCalls?.forEach((c, index) =>
    out.push({ toolCalls: [{ index, id: c.id, type: 'function', function: c.function }] }),
  );
  return out;
}

/** One server-sent event: `data:` lines, with an `event:` line when the format names its events. */
export function sse(data: unknown, event?: string): string {
  return `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

export interface StreamWriter {
  /**
   * The format's opening events, sent at once rather than with the first delta (the Responses
   * API's background streams: `response.created` before the first token). Formats without one
   * open lazily in `delta`/`end`, so a failure before the first token stays a plain HTTP error.
   */
  open?(): string;
  /** Server-sent events for a delta. */
  delta(d: StreamDelta & { model: string }): string;
  /** The normal end: the final chunk(s) and the format's terminator. */
  end(
    e: Pick<Extract<StreamEvent, { type: 'end' }>, 'model' | 'finishReason' | 'inputTokens' | 'outputTokens'>,
  ): string;
  /** A broken stream: an error event in the format's error shape, and no terminator. */
  error(e: Extract<StreamEvent, { type: 'error' }>): string;
}

/** OpenAI's `chat.completion.chunk` stream, ending with `data: [DONE]`. */
export function openaiStreamWriter(o: { id: string; created: number; includeUsage: boolean }): StreamWriter {
  let first = true;
  let model = '';
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
    id: o.id,
    object: 'chat.completion.chunk',
    created: o.created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(o.includeUsage && { usage: null }),
  });
  return {
    delta(d) {
      model = d.model;
      const delta: Record<string, unknown> = {
        ...(first && { role: 'assistant' }),
        ...(d.content !== undefined && { content: d.content }),
        ...(d.toolCalls && {
          tool_calls: d.toolCalls.map((t) => ({ ...t, ...(t.id !== undefined && { type: 'function' }) })),
        }),
      };
      first = false;
      return sse(chunk(delta, null));
    },
    end(e) {
      model = e.model;
      const usage = {
        prompt_tokens: e.inputTokens,
        completion_tokens: e.outputTokens,
        total_tokens: e.inputTokens + e.outputTokens,
      };
      return [
        sse(chunk(first ? { role: 'assistant', content: '' } : {}, e.finishReason)),
        o.includeUsage ? sse({ ...chunk({}, null), choices: [], usage }) : '',
        sse('[DONE]'),
      ].join('');
    },
    error(e) {
      return sse({
        error: {
          message: e.message,
          type: 'server_error',
          param: null,
          code: e.errorType === 'StreamInterrupted' ? 'stream_interrupted' : e.errorType,
        },
      });
    },
  };
}

const ANTHROPIC_STOP: Record<string, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  content_filter: 'refusal',
  tool_calls: 'tool_use',
};

/** The Anthropic stop reason for an OpenAI finish reason. */
export const anthropicStopReason = (finish: string): string => ANTHROPIC_STOP[finish] ?? 'end_turn';

/**
 * Anthropic's message stream: message_start, a content block per text run or tool call
 * (text_delta / input_json_delta), message_delta with the stop reason and usage, message_stop.
 */
export function anthropicStreamWriter(o: { id: string; inputTokens: number }): StreamWriter {
  let started = false;
  /** The open block: its index, and the tool call index it streams (undefined: text). */
  let open: { index: number; tool?: number } | undefined;
  let next = 0;
  const start = (model: string) => {
    if (started) return '';
    started = true;
    return sse(
      {
        type: 'message_start',
        message: {
          id: o.id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: o.inputTokens, output_tokens: 0 },
        },
      },
      'message_start',
    );
  };
  const close = () => {
    if (!open) return '';
    const out = sse({ type: 'content_block_stop', index: open.index }, 'content_block_stop');
    open = undefined;
    return out;
  };
  const openBlock = (tool: number | undefined, block: Record<string, unknown>) => {
    const out = close();
    open = { index: next++, ...(tool !== undefined && { tool }) };
    return out + sse({ type: 'content_block_start', index: open.index, content_block: block }, 'content_block_start');
  };
  return {
    delta(d) {
      let out = start(d.model);
      if (d.content) {
        if (!open || open.tool !== undefined) out += openBlock(undefined, { type: 'text', text: '' });
        out += sse(
          { type: 'content_block_delta', index: open!.index, delta: { type: 'text_delta', text: d.content } },
          'content_block_delta',
        );
      }
      for (const t of d.toolCalls ?? []) {
        if (open?.tool !== t.index)
          out += openBlock(t.index, { type: 'tool_use', id: t.id ?? '', name: t.function?.name ?? '', input: {} });
        if (t.function?.arguments)
          out += sse(
            {
              type: 'content_block_delta',
              index: open!.index,
              delta: { type: 'input_json_delta', partial_json: t.function.arguments },
            },
            'content_block_delta',
          );
      }
      return out;
    },
    end(e) {
      return [
        start(e.model),
        close(),
        sse(
          {
            type: 'message_delta',
            delta: { stop_reason: anthropicStopReason(e.finishReason), stop_sequence: null },
            usage: { input_tokens: e.inputTokens, output_tokens: e.outputTokens },
          },
          'message_delta',
        ),
        sse({ type: 'message_stop' }, 'message_stop'),
      ].join('');
    },
    error(e) {
      return sse(
        {
          type: 'error',
          error: { type: e.errorType === 'StreamInterrupted' ? 'api_error' : 'overloaded_error', message: e.message },
        },
        'error',
      );
    },
  };
}
