/**
 * The Responses API's event stream (`POST /v1/responses` with `stream: true`, and
 * `GET /v1/responses/{id}?stream=true`): OpenAI's typed events, each numbered by
 * `sequence_number`, built from the same relayed deltas as chat's chunks.
 *
 * The numbering depends only on the deltas: the stream always opens with the same two events
 * (`response.created`, `response.in_progress`), and each delta adds the same events whenever it is
 * written. So a stream replayed from its first delta numbers every event as the first time did,
 * and `startingAfter: N` drops the events numbered N and below: the client continues where it
 * broke off. Pure: the time the stream ends is the caller's `now`.
 */
import {
  outputCallIdOf,
  outputMessageIdOf,
  outputText,
  responseObject,
  type Instant,
  type OutputFunctionCall,
  type OutputItem,
  type OutputMessage,
  type ResponseHead,
  type ResponseProgress,
} from './responses';
import { addDelta, answerParts, emptyAnswer, sse, type StreamWriter } from './stream';

export interface ResponsesStreamWriter extends StreamWriter {
  /** The preamble at once (`response.created`, `response.in_progress`): background streams. */
  open(): string;
  /**
   * The route failed after the preamble was sent: `response.failed` with the Response's `error`
   * (or its `cancelled` status when the client cancelled it).
   */
  failed(e: { errorType: string; message: string }): string;
  /** Whether the preamble was written (until then a failure can still be an HTTP error). */
  readonly opened: boolean;
}

export interface ResponsesStreamOptions {
  /** The response the stream is of (its id, echoed params, `created_at`…). */
  head: ResponseHead;
  /** Events numbered up to this one were already sent: drop them (`starting_after`). */
  startingAfter?: number;
  /** The time now (for `completed_at`), asked only when the stream ends. */
  now: () => Instant;
}

/** A finish reason that leaves the response incomplete. */
const isIncomplete = (finishReason: string) => finishReason === 'length' || finishReason === 'content_filter';

export function responsesStreamWriter(o: ResponsesStreamOptions): ResponsesStreamWriter {
  const { head } = o;
  const rid = head.requestId;
  let sequence = 0;
  let opened = false;
  const answer = emptyAnswer();
  /** The output items in the order they were added: their `output_index`. */
  const items: OutputItem[] = [];
  let message: { index: number; text: string } | undefined;
  /** The call being streamed: its output index and the tool call index it is. */
  let call: { index: number; tool: number } | undefined;
  /** The tool call index of each call item streamed (a piece for a closed call only joins the answer). */
  const streamed = new Map<number, string>();

  // Written at once (`sse` serializes it), so an item's later changes never reach an earlier event.
  const event = (type: string, fields: Record<string, unknown>): string => {
    const n = sequence++;
    return n > (o.startingAfter ?? -1) ? sse({ type, ...fields, sequence_number: n }, type) : '';
  };

  const response = (progress: ResponseProgress) => responseObject(head, progress);
  /** `response.created` and `response.in_progress`: the asked model (eager) or the served one (lazy). */
  const preamble = (model?: string): string => {
    if (opened) return '';
    opened = true;
    const m = model !== undefined ? { model } : {};
    return (
      event('response.created', { response: response({ status: head.background ? 'received' : 'running', ...m }) }) +
      event('response.in_progress', { response: response({ status: 'running', ...m }) })
    );
  };

  const openMessage = (): string => {
    const item: OutputMessage = {
      id: outputMessageIdOf(rid),
      type: 'message',
      status: 'in_progress',
      role: 'assistant',
      content: [],
    };
    message = { index: items.length, text: '' };
    items.push(item);
    return (
      event('response.output_item.added', { output_index: message.index, item: item }) +
      event('response.content_part.added', {
        item_id: item.id,
        output_index: message.index,
        content_index: 0,
        part: outputText(''),
      })
    );
  };

  const closeMessage = (status: 'completed' | 'incomplete'): string => {
    if (!message) return '';
    const { index, text } = message;
    const item = items[index] as OutputMessage;
    item.status = status;
    item.content = [outputText(text)];
    const at = { item_id: item.id, output_index: index, content_index: 0 };
    return (
      event('response.output_text.done', { ...at, text, logprobs: [] }) +
      event('response.content_part.done', { ...at, part: outputText(text) }) +
      event('response.output_item.done', { output_index: index, item: item })
    );
  };

  const closeCall = (): string => {
    if (!call) return '';
    const { index } = call;
    call = undefined;
    const item = items[index] as OutputFunctionCall;
    item.status = 'completed';
    return (
      event('response.function_call_arguments.done', {
        item_id: item.id,
        output_index: index,
        name: item.name,
        arguments: item.arguments,
      }) + event('response.output_item.done', { output_index: index, item: item })
    );
  };

  const openCall = (tool: number, id: string, name: string): string => {
    const item: OutputFunctionCall = {
      id: outputCallIdOf(rid, streamed.size),
      type: 'function_call',
      status: 'in_progress',
      call_id: id,
      name,
      arguments: '',
    };
    streamed.set(tool, item.id);
    call = { index: items.length, tool };
    items.push(item);
    return event('response.output_item.added', { output_index: call.index, item: item });
  };

  return {
    get opened() {
      return opened;
    },

    open() {
      return preamble();
    },

    delta(d) {
      let out = preamble(d.model);
      addDelta(answer, d);
      if (d.content) {
        if (!message) out += openMessage();
        message!.text += d.content;
        out += event('response.output_text.delta', {
          item_id: outputMessageIdOf(rid),
          output_index: message!.index,
          content_index: 0,
          delta: d.content,
          logprobs: [],
        });
      }
      for (const t of d.toolCalls ?? []) {
        if (call?.tool !== t.index) {
          if (streamed.has(t.index)) continue; // a late piece of a closed call: in the final answer only
          out += closeCall() + openCall(t.index, t.id ?? '', t.function?.name ?? '');
        }
        const piece = t.function?.arguments;
        if (!piece) continue;
        const item = items[call!.index] as OutputFunctionCall;
        item.arguments += piece;
        out += event('response.function_call_arguments.delta', {
          item_id: item.id,
          output_index: call!.index,
          delta: piece,
        });
      }
      return out;
    },

    end(e) {
      let out = preamble(e.model) + closeCall();
      const incomplete = isIncomplete(e.finishReason);
      // An answer with no text and no call is one empty message, as its stored form says.
      if (items.length === 0) out += openMessage();
      out += closeMessage(incomplete ? 'incomplete' : 'completed');
      const parts = answerParts(answer);
      const final = response({
        status: 'succeeded',
        model: e.model,
        response: { ...parts, finishReason: e.finishReason, providerModel: e.model },
        inputTokens: e.inputTokens,
        outputTokens: e.outputTokens,
        completedAt: o.now(),
      });
      // The items as streamed (their output_index), each call with all its pieces.
      const toolOf = new Map([...streamed].map(([tool, id]) => [id, tool]));
      final.output = items.map((item) => {
        const whole = item.type === 'function_call' ? answer.toolCalls[toolOf.get(item.id)!] : undefined;
        return whole ? { ...item, name: whole.function.name, arguments: whole.function.arguments } : item;
      });
      return out + event(incomplete ? 'response.incomplete' : 'response.completed', { response: final });
    },

    error(e) {
      return event('error', {
        code: e.errorType === 'StreamInterrupted' ? 'stream_interrupted' : e.errorType,
        message: e.message,
        param: null,
      });
    },

    failed(e) {
      return (
        preamble() +
        event('response.failed', {
          response: response({
            status: 'failed',
            error: { type: e.errorType, message: e.message },
            completedAt: o.now(),
          }),
        })
      );
    },
  };
}
