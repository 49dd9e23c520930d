import {
  addDelta,
  anthropicStreamWriter,
  deltasOf,
  emptyAnswer,
  openaiStreamWriter,
  type StreamEvent,
} from '../../src/domain/stream';

/** The JSON payloads of server-sent events, with their event names. */
const events = (text: string) =>
  text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const event = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)![1]!;
      return { event, data: data === '[DONE]' ? data : (JSON.parse(data) as any) };
    });

const end: Extract<StreamEvent, { type: 'end' }> = {
  type: 'end',
  model: 'oa/m',
  from: '0.1',
  chunks: 3,
  finishReason: 'tool_calls',
  inputTokens: 7,
  outputTokens: 3,
};

describe('addDelta', () => {
  it('joins text and tool call pieces by index, as OpenAI clients do', () => {
    const a = emptyAnswer();
    addDelta(a, { content: 'Hel' });
    addDelta(a, { content: 'lo' });
    addDelta(a, { toolCalls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'f', arguments: '' } }] });
    addDelta(a, { toolCalls: [{ index: 1, id: 'c2', function: { name: 'g', arguments: '{"b"' } }] });
    addDelta(a, { toolCalls: [{ index: 0, function: { arguments: '{"a":1}' } }] });
    addDelta(a, { toolCalls: [{ index: 1, function: { arguments: ':2}' } }] });
    expect(a.content).toBe('Hello');
    expect(a.chunks).toBe(6);
    expect(a.toolCalls).toEqual([
      { id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
      { id: 'c2', type: 'function', function: { name: 'g', arguments: '{"b":2}' } },
    ]);
  });

  it('a stored answer replays as the deltas that build it back', () => {
    const stored = {
      content: 'x',
      toolCalls: [{ id: 'c', type: 'function' as const, function: { name: 'f', arguments: '{}' } }],
    };
    const a = emptyAnswer();
    for (const d of deltasOf(stored)) addDelta(a, d);
    expect({ content: a.content, toolCalls: a.toolCalls }).toEqual(stored);
  });
});

describe('openaiStreamWriter', () => {
  it('role in the first chunk only, finish chunk, usage chunk when asked, then [DONE]', () => {
    const w = openaiStreamWriter({ id: 'chatcmpl-1', created: 1, includeUsage: true });
    const out = events(
      w.delta({ model: 'oa/m', content: 'a' }) +
        w.delta({ model: 'oa/m', toolCalls: [{ index: 0, id: 'c', function: { name: 'f', arguments: '' } }] }) +
        w.end(end),
    );
    expect(out.map((e) => e.data === '[DONE]' || e.data.choices[0]?.delta)).toEqual([
      { role: 'assistant', content: 'a' },
      { tool_calls: [{ index: 0, id: 'c', type: 'function', function: { name: 'f', arguments: '' } }] },
      {},
      undefined,
      true,
    ]);
    expect(out[2]!.data.choices[0].finish_reason).toBe('tool_calls');
    expect(out[3]!.data).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
    });
    expect(out.slice(0, 3).every((e) => e.data.usage === null)).toBe(true);
  });

  it('without include_usage: no usage field, no usage chunk', () => {
    const w = openaiStreamWriter({ id: 'x', created: 1, includeUsage: false });
    const out = events(w.delta({ model: 'm', content: 'a' }) + w.end({ ...end, finishReason: 'stop' }));
    expect(out).toHaveLength(3);
    expect('usage' in out[0]!.data).toBe(false);
  });

  it('an error is an error object with no [DONE] after it', () => {
    const w = openaiStreamWriter({ id: 'x', created: 1, includeUsage: false });
    const text = w.error({
      type: 'error',
      errorType: 'StreamInterrupted',
      message: 'interrupted after 2 chunks',
      chunks: 2,
    });
    expect(events(text)).toEqual([
      {
        event: undefined,
        data: {
          error: {
            message: 'interrupted after 2 chunks',
            type: 'server_error',
            param: null,
            code: 'stream_interrupted',
          },
        },
      },
    ]);
    expect(text).not.toContain('[DONE]');
  });
});

describe('anthropicStreamWriter', () => {
  it('opens and closes a block per text run and tool call, then message_delta and message_stop', () => {
    const w = anthropicStreamWriter({ id: 'msg_1', inputTokens: 5 });
    const out = events(
      w.delta({ model: 'm', content: 'Let me look.' }) +
        w.delta({ model: 'm', toolCalls: [{ index: 0, id: 'c', function: { name: 'f', arguments: '' } }] }) +
        w.delta({ model: 'm', toolCalls: [{ index: 0, function: { arguments: '{"a":1}' } }] }) +
        w.end(end),
    );
    expect(out.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(out.every((e) => e.data.type === e.event)).toBe(true);
    expect(out[4]!.data).toEqual({
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'tool_use', id: 'c', name: 'f', input: {} },
    });
    expect(out[5]!.data.delta).toEqual({ type: 'input_json_delta', partial_json: '{"a":1}' });
    expect(out[7]!.data).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 3 } });
  });

  it('an answer with no pieces still starts and ends the message', () => {
    const w = anthropicStreamWriter({ id: 'msg_1', inputTokens: 5 });
    expect(events(w.end({ ...end, finishReason: 'length' })).map((e) => e.event)).toEqual([
      'message_start',
      'message_delta',
      'message_stop',
    ]);
  });
});
