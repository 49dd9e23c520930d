import { StreamOut } from '../../activities/streamOut';
import type { StreamEvent } from '../../src/domain/stream';
import { MemoryRelay, type StreamRelay } from '../../src/services/streamRelay';

/** Reads a request's events from a relay until its end or error. */
async function readAll(relay: StreamRelay, requestId: string): Promise<StreamEvent[]> {
  const stop = new AbortController();
  const out: StreamEvent[] = [];
  for await (const e of relay.subscribe(requestId, stop.signal)) {
    out.push(e);
    if (e.type !== 'delta') stop.abort();
  }
  return out;
}

it('numbers the pieces in order, and the end says how many there were', async () => {
  const relay = new MemoryRelay();
  const reading = readAll(relay, 'r1');
  const s = new StreamOut(relay, 'r1', 'oa/m', '0.1');
  s.delta({ content: 'a' });
  s.delta({ content: 'b' });
  await s.end({ finishReason: 'stop', inputTokens: 1, outputTokens: 2 });
  expect(await reading).toEqual([
    { type: 'delta', model: 'oa/m', from: '0.1', seq: 0, content: 'a' },
    { type: 'delta', model: 'oa/m', from: '0.1', seq: 1, content: 'b' },
    { type: 'end', model: 'oa/m', from: '0.1', chunks: 2, finishReason: 'stop', inputTokens: 1, outputTokens: 2 },
  ]);
  expect(await relay.count('r1')).toBe(3);
  expect(s.answer.content).toBe('ab');
});

it('a relay that fails does not fail the call: the failure is kept, the answer still adds up', async () => {
  const relay = new MemoryRelay();
  let calls = 0;
  const flaky: StreamRelay = Object.assign(Object.create(relay) as StreamRelay, {
    publish: (id: string, e: StreamEvent) =>
      ++calls === 2 ? Promise.reject(new Error('redis went away')) : relay.publish(id, e),
  });
  const s = new StreamOut(flaky, 'r2', 'oa/m', '0.1');
  s.delta({ content: 'a' });
  s.delta({ content: 'b' });
  s.delta({ content: 'c' });
  await s.end({ finishReason: 'stop', inputTokens: 1, outputTokens: 3 });
  expect((s.failure as Error).message).toBe('redis went away');
  expect(s.answer.content).toBe('abc');
  // The reader sees the gap: seq 1 is missing, and the end counts three pieces.
  const events = await readAll(relay, 'r2');
  expect(events.map((e) => (e.type === 'delta' ? e.seq : e.type))).toEqual([0, 2, 'end']);
});
