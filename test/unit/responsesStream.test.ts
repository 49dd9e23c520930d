import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { echoedParams, responseObject, ResponsesCreateSchema, type ResponseHead } from '../../src/domain/responses';
import { responsesStreamWriter } from '../../src/domain/responsesStream';
import { deltasOf, type StreamDelta, type StreamEvent } from '../../src/domain/stream';

/** The events of a server-sent stream: the `event:` name, and the JSON data. */
function events(text: string): Array<{ event: string; data: any }> {
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => ({
      event: /^event: (.+)$/m.exec(block)![1]!,
      data: JSON.parse(/^data: (.+)$/m.exec(block)![1]!),
    }));
}

const NOW = new Date(1765090001_000);
const head = (over: Partial<ResponseHead> = {}): ResponseHead => ({
  requestId: 'R',
  createdAt: new Date(1765090000_000),
  params: echoedParams(ResponsesCreateSchema.parse({ model: 'auto', input: 'Hi' })),
  previousResponseId: null,
  background: false,
  store: true,
  ...over,
});
type End = Pick<Extract<StreamEvent, { type: 'end' }>, 'model' | 'finishReason' | 'inputTokens' | 'outputTokens'>;
const END: End = { model: 'oa/chat', finishReason: 'stop', inputTokens: 12, outputTokens: 3 };

/** A whole stream: the writer fed each delta, then the end. */
function run(
  deltas: StreamDelta[],
  end: End = END,
  o: { startingAfter?: number; eager?: boolean; h?: ResponseHead } = {},
) {
  const w = responsesStreamWriter({ head: o.h ?? head(), now: () => NOW, startingAfter: o.startingAfter });
  let text = o.eager ? w.open() : '';
  for (const d of deltas) text += w.delta({ ...d, model: end.model });
  return events(text + w.end(end));
}

// Every type we send is one of the SDK's stream event types (compile time and run time).
const KNOWN: Array<ResponseStreamEvent['type']> = [
  'response.created',
  'response.in_progress',
  'response.output_item.added',
  'response.output_item.done',
  'response.content_part.added',
  'response.content_part.done',
  'response.output_text.delta',
  'response.output_text.done',
  'response.function_call_arguments.delta',
  'response.function_call_arguments.done',
  'response.completed',
  'response.incomplete',
  'response.failed',
  'error',
];

/** Each event is named as its data's `type`, numbered 0, 1, 2…, and of a known type. */
function checkNumbering(evs: Array<{ event: string; data: any }>, from = 0) {
  evs.forEach((e, i) => {
    expect(e.data.type).toBe(e.event);
    expect(e.data.sequence_number).toBe(from + i);
    expect(KNOWN).toContain(e.event);
  });
}
const strip = (evs: Array<{ data: any }>) =>
  evs.map(({ data }) => {
    const { type, sequence_number: _n, ...rest } = data;
    return { type, ...rest };
  });

describe('responsesStreamWriter', () => {
  it('a streamed text answer is the golden sequence of §1.3', () => {
    const evs = run([{ content: 'Hello' }, { content: ' there' }]);
    checkNumbering(evs);
    const msg = { id: 'msg_R', type: 'message', role: 'assistant' };
    const at = { item_id: 'msg_R', output_index: 0, content_index: 0 };
    const done = {
      ...msg,
      status: 'completed',
      content: [{ type: 'output_text', text: 'Hello there', annotations: [] }],
    };
    const body = strip(evs);
    expect(body.slice(2, 9)).toEqual([
      { type: 'response.output_item.added', output_index: 0, item: { ...msg, status: 'in_progress', content: [] } },
      {
        type: 'response.content_part.added',
        ...at,
        part: { type: 'output_text', text: '', annotations: [] },
      },
      { type: 'response.output_text.delta', ...at, delta: 'Hello', logprobs: [] },
      { type: 'response.output_text.delta', ...at, delta: ' there', logprobs: [] },
      { type: 'response.output_text.done', ...at, text: 'Hello there', logprobs: [] },
      {
        type: 'response.content_part.done',
        ...at,
        part: { type: 'output_text', text: 'Hello there', annotations: [] },
      },
      { type: 'response.output_item.done', output_index: 0, item: done },
    ]);
    // The preamble: the Response in progress, with an empty output and no usage; the served model.
    for (const e of evs.slice(0, 2))
      expect(e.data.response).toMatchObject({
        id: 'resp_R',
        object: 'response',
        created_at: 1765090000,
        status: 'in_progress',
        model: 'oa/chat',
        output: [],
        usage: null,
      });
    expect(evs.map((e) => e.event).slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    // The end: the Response as GET will give it, with its output, usage and completed_at.
    expect(evs[9]!.event).toBe('response.completed');
    const stored = { content: 'Hello there', finishReason: 'stop', providerModel: 'p' };
    const get = responseObject(head(), {
      status: 'succeeded',
      model: 'oa/chat',
      response: stored,
      inputTokens: 12,
      outputTokens: 3,
      completedAt: NOW,
    });
    expect(evs[9]!.data.response).toEqual(get);
    expect(get).toMatchObject({ output: [done], completed_at: 1765090001, usage: { total_tokens: 15 } });
    expect(evs).toHaveLength(10);
  });

  it('a streamed function call is the golden sequence of §1.3', () => {
    const evs = run(
      [
        { toolCalls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
        { toolCalls: [{ index: 0, function: { arguments: '{"city":' } }] },
        { toolCalls: [{ index: 0, function: { arguments: '"Oslo"}' } }] },
      ],
      { ...END, finishReason: 'tool_calls' },
    );
    checkNumbering(evs);
    const call = { id: 'fc_R_0', type: 'function_call', call_id: 'call_1', name: 'get_weather' };
    const at = { item_id: 'fc_R_0', output_index: 0 };
    const done = { ...call, status: 'completed', arguments: '{"city":"Oslo"}' };
    expect(strip(evs.slice(2))).toEqual([
      { type: 'response.output_item.added', output_index: 0, item: { ...call, status: 'in_progress', arguments: '' } },
      { type: 'response.function_call_arguments.delta', ...at, delta: '{"city":' },
      { type: 'response.function_call_arguments.delta', ...at, delta: '"Oslo"}' },
      {
        type: 'response.function_call_arguments.done',
        ...at,
        name: 'get_weather',
        arguments: '{"city":"Oslo"}',
      },
      { type: 'response.output_item.done', output_index: 0, item: done },
      { type: 'response.completed', response: expect.objectContaining({ status: 'completed', output: [done] }) },
    ]);
  });

  it('text then two calls: output indexes in order, each call closed by the next, ids as GET gives them', () => {
    const toolCalls = [
      { id: 'c1', type: 'function' as const, function: { name: 'f', arguments: '{"a":1}' } },
      { id: 'c2', type: 'function' as const, function: { name: 'g', arguments: '{"b":2}' } },
    ];
    const evs = run(
      [
        { content: 'Let me check' },
        { toolCalls: [{ index: 0, id: 'c1', function: { name: 'f', arguments: '{"a"' } }] },
        { toolCalls: [{ index: 0, function: { arguments: ':1}' } }] },
        { toolCalls: [{ index: 1, id: 'c2', function: { name: 'g', arguments: '{"b":2}' } }] },
      ],
      { ...END, finishReason: 'tool_calls' },
    );
    checkNumbering(evs);
    expect(evs.map((e) => [e.event, e.data.output_index])).toEqual([
      ['response.created', undefined],
      ['response.in_progress', undefined],
      ['response.output_item.added', 0],
      ['response.content_part.added', 0],
      ['response.output_text.delta', 0],
      ['response.output_item.added', 1],
      ['response.function_call_arguments.delta', 1],
      ['response.function_call_arguments.delta', 1],
      ['response.function_call_arguments.done', 1],
      ['response.output_item.done', 1],
      ['response.output_item.added', 2],
      ['response.function_call_arguments.delta', 2],
      ['response.function_call_arguments.done', 2],
      ['response.output_item.done', 2],
      ['response.output_text.done', 0],
      ['response.content_part.done', 0],
      ['response.output_item.done', 0],
      ['response.completed', undefined],
    ]);
    const added = evs.filter((e) => e.event === 'response.output_item.added').map((e) => e.data.item.id);
    const finished = evs.filter((e) => e.event === 'response.output_item.done').map((e) => e.data.item.id);
    expect(added).toEqual(['msg_R', 'fc_R_0', 'fc_R_1']);
    expect(new Set(finished)).toEqual(new Set(added));
    const completed = evs[evs.length - 1]!.data.response;
    const get = responseObject(head(), {
      status: 'succeeded',
      model: 'oa/chat',
      response: { content: 'Let me check', finishReason: 'tool_calls', providerModel: 'p', toolCalls },
      inputTokens: 12,
      outputTokens: 3,
      completedAt: NOW,
    });
    expect(completed).toEqual(get);
  });

  it('a length finish ends with response.incomplete and an incomplete message', () => {
    const evs = run([{ content: 'Hel' }], { ...END, finishReason: 'length' });
    checkNumbering(evs);
    const last = evs[evs.length - 1]!;
    expect(last.event).toBe('response.incomplete');
    expect(last.data.response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      output: [{ id: 'msg_R', status: 'incomplete', content: [{ text: 'Hel' }] }],
    });
    expect(evs[evs.length - 2]!.data.item.status).toBe('incomplete');
  });

  it('an empty answer is one empty message, as its stored form is', () => {
    const evs = run([], { ...END, model: 'oa/x' });
    checkNumbering(evs);
    expect(evs.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(evs[0]!.data.response.model).toBe('oa/x');
    expect(evs[7]!.data.response.output).toEqual(
      responseObject(head(), {
        status: 'succeeded',
        response: { content: '', finishReason: 'stop', providerModel: 'p' },
      }).output,
    );
  });

  it('open() sends the preamble at once with the asked model (background: created is queued), once', () => {
    const w = responsesStreamWriter({ head: head({ background: true }), now: () => NOW });
    expect(w.opened).toBe(false);
    const pre = events(w.open());
    expect(w.opened).toBe(true);
    expect(pre.map((e) => [e.event, e.data.sequence_number, e.data.response.status, e.data.response.model])).toEqual([
      ['response.created', 0, 'queued', 'auto'],
      ['response.in_progress', 1, 'in_progress', 'auto'],
    ]);
    expect(pre[0]!.data.response).toMatchObject({ background: true, output: [] });
    const next = events(w.delta({ content: 'x', model: 'oa/chat' }));
    expect(next[0]).toMatchObject({ event: 'response.output_item.added', data: { sequence_number: 2 } });
  });

  it('starting_after: a replay from the first delta numbers every event the same and drops those sent', () => {
    const stored = {
      content: 'Hello there',
      toolCalls: [{ id: 'c1', type: 'function' as const, function: { name: 'f', arguments: '{}' } }],
    };
    const live: StreamDelta[] = [
      { content: 'Hello' },
      { content: ' there' },
      { toolCalls: [{ index: 0, id: 'c1', function: { name: 'f', arguments: '{}' } }] },
    ];
    const end = { ...END, finishReason: 'tool_calls' };
    const full = run(live, end, { eager: true, h: head({ background: true }) });
    checkNumbering(full);
    for (let k = -1; k < full.length; k++) {
      const resumed = run(live, end, { eager: true, startingAfter: k, h: head({ background: true }) });
      expect(resumed).toEqual(full.slice(k + 1));
      checkNumbering(resumed, k + 1);
    }
    // The stored answer sent whole (the relay no longer holds the stream) ends with the same
    // Response; its numbering follows its own deltas (one text delta here, not two).
    const whole = run(deltasOf(stored), end, { eager: true, h: head({ background: true }) });
    checkNumbering(whole);
    expect(whole[whole.length - 1]!.data.response).toEqual(full[full.length - 1]!.data.response);
  });

  it('a broken stream ends with an error event, numbered on', () => {
    const w = responsesStreamWriter({ head: head(), now: () => NOW });
    const sent = events(w.delta({ content: 'Hel', model: 'oa/chat' }));
    const err = events(w.error({ type: 'error', errorType: 'StreamInterrupted', message: 'relay lost', chunks: 1 }));
    expect(err).toEqual([
      {
        event: 'error',
        data: {
          type: 'error',
          code: 'stream_interrupted',
          message: 'relay lost',
          param: null,
          sequence_number: sent.length,
        },
      },
    ]);
  });

  it('a route failure after the preamble is response.failed with its error; a cancel is cancelled', () => {
    const w = responsesStreamWriter({ head: head({ background: true }), now: () => NOW });
    w.open();
    const [failed] = events(w.failed({ errorType: 'BudgetExceeded', message: 'over budget' }));
    expect(failed).toMatchObject({
      event: 'response.failed',
      data: {
        sequence_number: 2,
        response: {
          status: 'failed',
          error: { code: 'rate_limit_exceeded', message: 'over budget' },
          completed_at: 1765090001,
        },
      },
    });
    const c = responsesStreamWriter({ head: head({ background: true }), now: () => NOW });
    const evs = events(c.failed({ errorType: 'Cancelled', message: 'cancelled by the client' }));
    expect(evs.map((e) => [e.event, e.data.sequence_number])).toEqual([
      ['response.created', 0],
      ['response.in_progress', 1],
      ['response.failed', 2],
    ]);
    expect(evs[2]!.data.response).toMatchObject({ status: 'cancelled', error: null });
  });
});
