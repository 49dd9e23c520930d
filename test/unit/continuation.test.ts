import { answerSoFar, cannotCarry, continuationAfter, deltasIn, prefillMessages } from '../../src/domain/continuation';
import { ApplicationFailure } from '@temporalio/common';
import { carriedAnswer, resumeIfStarted } from '../../activities/callSteps/admit';
import { StreamOut } from '../../activities/streamOut';
import type { Queryable } from '../../src/db';
import type { CallModelInput } from '../../src/domain/request';
import type { StreamEvent } from '../../src/domain/stream';
import { MemoryRelay } from '../../src/services/streamRelay';
import { callInput } from '../support/callInput';

const delta = (from: string, seq: number, content: string): StreamEvent => ({
  type: 'delta',
  model: 'm',
  from,
  seq,
  content,
});

describe('continuationAfter', () => {
  const candidates = [
    { modelId: 'a', continues: true },
    { modelId: 'b' },
    { modelId: 'c', continues: true },
    { modelId: 'd', continues: true },
  ];

  it('the next candidate that can continue, passing over the others with why', () => {
    expect(continuationAfter(candidates, 0)).toEqual({
      index: 2,
      passed: [{ modelId: 'b', why: expect.stringMatching(/no continuation capability/) }],
    });
  });

  it("the fallback rules' own skip passes a capable candidate over too", () => {
    const r = continuationAfter(candidates, 0, (i) => (i === 2 ? 'context window too small' : undefined));
    expect(r.index).toBe(3);
    expect(r.passed.map((p) => [p.modelId, p.why])).toEqual([
      ['b', expect.any(String)],
      ['c', 'context window too small'],
    ]);
  });

  it('none after the last: no index (the stream ends with its error)', () => {
    expect(continuationAfter(candidates, 3)).toEqual({ passed: [] });
    expect(continuationAfter([{ modelId: 'a' }, { modelId: 'b' }], 0).index).toBeUndefined();
  });
});

describe('answerSoFar', () => {
  it('the first N deltas in order, and the sender of the last', () => {
    const events = [delta('0.1', 0, 'one'), delta('0.1', 1, ' two'), delta('0.1', 2, ' three')];
    expect(answerSoFar(events, 2)).toEqual({ answer: { content: 'one two', toolCalls: [], chunks: 2 }, from: '0.1' });
  });

  it('follows a hand-over to a continuing call', () => {
    const events: StreamEvent[] = [
      delta('0.1', 0, 'one'),
      { type: 'continued', from: '0.1', to: '2.1', model: 'b', chunks: 1 },
      delta('2.1', 1, ' two'),
    ];
    expect(answerSoFar(events, 2)).toEqual({ answer: { content: 'one two', toolCalls: [], chunks: 2 }, from: '2.1' });
    expect(deltasIn(events)).toBe(2);
  });

  it('a gap, a second sender or too few pieces: nothing to continue from', () => {
    expect(answerSoFar([delta('0.1', 0, 'a'), delta('0.1', 2, 'c')], 2)).toBeUndefined();
    expect(answerSoFar([delta('0.1', 0, 'a'), delta('0.2', 1, 'b')], 2)).toBeUndefined();
    expect(answerSoFar([delta('0.1', 0, 'a')], 2)).toBeUndefined();
    expect(answerSoFar([], 0)).toBeUndefined();
  });
});

describe('carrying an answer over', () => {
  it('text can be carried; a tool call cut mid-way or nothing at all cannot', () => {
    expect(cannotCarry({ content: 'Hello', toolCalls: [], chunks: 1 })).toBeUndefined();
    expect(
      cannotCarry({
        content: '',
        toolCalls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"ci' } }],
        chunks: 2,
      }),
    ).toMatch(/tool call/);
    expect(cannotCarry({ content: '', toolCalls: [], chunks: 1 })).toMatch(/no text/);
  });

  it("the prefill is the assistant's last message, its trailing whitespace held back", () => {
    const messages = [{ role: 'user' as const, content: 'Count.' }];
    expect(prefillMessages(messages, { content: 'one two ', toolCalls: [], chunks: 2 })).toEqual([
      { role: 'user', content: 'Count.' },
      { role: 'assistant', content: 'one two' },
    ]);
  });
});

describe('a continuing StreamOut', () => {
  const carried = { answer: { content: 'one two', toolCalls: [], chunks: 2 }, from: '0.1' };

  it('hands over with its first piece and numbers on; its answer is the whole text', async () => {
    const relay = new MemoryRelay();
    await relay.publish('r', delta('0.1', 0, 'one'));
    await relay.publish('r', delta('0.1', 1, ' two'));
    const s = new StreamOut(relay, 'r', 'an/b', '2.1', carried);
    expect(s.own).toBe(0);
    s.delta({ content: ' three' });
    await s.end({ finishReason: 'stop', inputTokens: 1, outputTokens: 1 });
    expect((await relay.read('r')).slice(2)).toEqual([
      { type: 'continued', from: '0.1', to: '2.1', model: 'an/b', chunks: 2 },
      { type: 'delta', model: 'an/b', from: '2.1', seq: 2, content: ' three' },
      { type: 'end', model: 'an/b', from: '2.1', chunks: 3, finishReason: 'stop', inputTokens: 1, outputTokens: 1 },
    ]);
    expect(s.answer.content).toBe('one two three');
    expect([s.carried, s.own, s.carriedContent]).toEqual([2, 1, 'one two']);
    expect(answerSoFar(await relay.read('r'), 3)?.answer.content).toBe('one two three');
  });

  it('refused before its first piece: nothing on the stream (the next continuation takes it from the same sender)', async () => {
    const relay = new MemoryRelay();
    const s = new StreamOut(relay, 'r', 'an/b', '2.1', carried);
    await s.flush();
    expect(await relay.read('r')).toEqual([]);
    expect(carried.answer.content).toBe('one two');
  });
});

describe('a worker that died mid-stream, and reading the answer back', () => {
  // No answer stored, no attempts: the database of a stream cut by a dead worker.
  const noRows: Queryable = { query: async () => ({ rows: [], rowCount: 0 }), exec: async () => undefined } as never;
  const input = (over: Partial<CallModelInput> = {}) => callInput({ requestId: 'r', stream: true, ...over });
  const failureOf = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e as ApplicationFailure,
    );

  it('continuable: the retried call ends it as StreamInterrupted with the pieces sent, and leaves the stream open', async () => {
    const relay = new MemoryRelay();
    for (const [i, t] of ['one', ' two', ' three'].entries()) await relay.publish('r', delta('0.1', i, t));
    const f = await failureOf(resumeIfStarted(noRows, relay, input({ continuable: true })));
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect([f!.type, f!.details]).toEqual(['StreamInterrupted', [{ chunks: 3 }]]);
    expect(await relay.count('r')).toBe(3); // no error event: a continuation may follow
  });

  it("takeOver: a fallback finding an earlier candidate's begun stream ends StreamInterrupted with takeOver, stream open", async () => {
    const relay = new MemoryRelay();
    for (const [i, t] of ['one', ' two'].entries()) await relay.publish('r', delta('0.1', i, t));
    // Candidate 1 (it can continue), called after candidate 0's worker died with no retry left.
    const f = await failureOf(resumeIfStarted(noRows, relay, input({ candidateIndex: 1, takeOver: true })));
    expect([f!.type, f!.details]).toEqual(['StreamInterrupted', [{ chunks: 2, takeOver: true }]]);
    expect(await relay.count('r')).toBe(2); // no error event: this candidate continues it
    // Also when a later one could continue: this one takes it over first.
    const g = await failureOf(
      resumeIfStarted(noRows, relay, input({ candidateIndex: 1, takeOver: true, continuable: true })),
    );
    expect(g!.details).toEqual([{ chunks: 2, takeOver: true }]);
    // Its own earlier attempt's pieces are not an earlier candidate's: today's error event, no take-over.
    const own = await failureOf(resumeIfStarted(noRows, relay, input({ candidateIndex: 0, takeOver: true })));
    expect(own!.details).toEqual([{ chunks: 2 }]);
    expect(await relay.count('r')).toBe(3);
  });

  it('without takeOver, a fallback finding a begun stream ends it with an error event (as before)', async () => {
    const relay = new MemoryRelay();
    await relay.publish('r', delta('0.1', 0, 'one'));
    const f = await failureOf(resumeIfStarted(noRows, relay, input({ candidateIndex: 1 })));
    expect(f!.details).toEqual([{ chunks: 1 }]);
    expect((await relay.read('r')).at(-1)).toMatchObject({ type: 'error', errorType: 'StreamInterrupted' });
  });

  it('a continuing call that had not taken the stream over is not a resume; one that had is', async () => {
    const relay = new MemoryRelay();
    await relay.publish('r', delta('0.1', 0, 'one'));
    const cont = input({ candidateIndex: 2, continueFrom: { candidateIndex: 0, chunks: 1 } });
    expect(await resumeIfStarted(noRows, relay, cont)).toBeUndefined();
    await relay.publish('r', { type: 'continued', from: '0.1', to: '2.1', model: 'an/b', chunks: 1 });
    await relay.publish('r', delta('2.1', 1, ' two'));
    const f = await failureOf(resumeIfStarted(noRows, relay, cont));
    expect([f!.type, f!.details]).toEqual(['StreamInterrupted', [{ chunks: 2 }]]);
  });

  it('the answer so far comes from the relay; pieces it no longer holds cannot be continued (not retried)', async () => {
    const relay = new MemoryRelay();
    await relay.publish('r', delta('0.1', 0, 'one'));
    const ok = await carriedAnswer(relay, { ...input(), continueFrom: { candidateIndex: 0, chunks: 1 } });
    expect(ok).toEqual({ answer: { content: 'one', toolCalls: [], chunks: 1 }, from: '0.1' });
    const f = await failureOf(carriedAnswer(relay, { ...input(), continueFrom: { candidateIndex: 0, chunks: 4 } }));
    expect([f!.type, f!.nonRetryable]).toEqual(['ContinuationImpossible', true]);
    expect(f!.message).toMatch(/no longer holds the 4 pieces/);
  });
});
