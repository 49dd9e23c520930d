/**
 * Malformed events in a provider's stream (issue 29, item 2): `readEvents` skips and reports them
 * up to the bound and fails past it; the openai and anthropic adapters, streaming over real HTTP
 * from the fake providers, hand on the whole answer around them, and still throw what the SDK's
 * own stream threw for a provider's error event.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { AnthropicAdapter } from '../../../src/providers/anthropic/adapter';
import { toProviderFailure } from '../../../src/providers/errors';
import { OpenAIAdapter } from '../../../src/providers/openai/adapter';
import {
  MalformedStreamError,
  readEvents,
  type EventReading,
  type MalformedEvent,
  type ServerSentEvent,
} from '../../../src/providers/sse';
import type { ProviderAdapter } from '../../../src/providers/types';
import { startFakeProvider, type FakeProvider, type WireFormat } from '../../support/fakeProvider';

const CONTENT = 'one two three four five six';

async function* eventsOf(...data: string[]): AsyncGenerator<ServerSentEvent> {
  for (const d of data) yield { event: null, data: d };
}

/** Reads numbers; `skip` is a keep-alive; anything else is malformed. */
const readNumber = (sse: ServerSentEvent): EventReading<number> =>
  sse.data === 'skip' ? { ignore: true } : /^\d+$/.test(sse.data) ? { value: Number(sse.data) } : { malformed: 'nan' };

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

describe('readEvents', () => {
  it('skips malformed events up to the bound, reporting each with its count and size, and ignores keep-alives', async () => {
    const seen: MalformedEvent[] = [];
    const values = await collect(
      readEvents(eventsOf('1', 'x', 'skip', '2', 'yy', '3'), readNumber, { max: 2, onMalformed: (e) => seen.push(e) }),
    );
    expect(values).toEqual([1, 2, 3]);
    expect(seen).toEqual([
      { reason: 'nan', bytes: 1, count: 1 },
      { reason: 'nan', bytes: 2, count: 2 },
    ]);
  });

  it('one past the bound throws MalformedStreamError after the values before it; bound 0 fails at the first', async () => {
    const values: number[] = [];
    const err = await (async () => {
      for await (const v of readEvents(eventsOf('1', 'x', '2', 'y', '3'), readNumber, { max: 1 })) values.push(v);
    })().catch((e: unknown) => e);
    expect(values).toEqual([1, 2]);
    expect(err).toBeInstanceOf(MalformedStreamError);
    expect((err as MalformedStreamError).count).toBe(2);
    const first = await collect(readEvents(eventsOf('x'), readNumber, { max: 0 })).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(MalformedStreamError);
  });

  it('past the bound is a MalformedResponse, saying how many and why, never what the event held', () => {
    const f = toProviderFailure(new MalformedStreamError(4, 3, 'not JSON'), 'oa', 'primary');
    expect(f.type).toBe('MalformedResponse');
    expect(f.message).toBe(
      'oa/primary returned a malformed response: 4 malformed events in the stream, more than the 3 allowed (the last: not JSON)',
    );
  });
});

describe.each(['openai', 'anthropic'] as const)('the %s adapter streaming past malformed events', (format) => {
  let fake: FakeProvider;
  let adapter: ProviderAdapter;
  beforeAll(async () => {
    fake = await startFakeProvider(format);
    const opts = { providerId: 'p', apiKey: 'k', baseURL: fake.url, timeoutMs: 10_000 };
    adapter = format === 'openai' ? new OpenAIAdapter(opts) : new AnthropicAdapter(opts);
  });
  afterAll(() => fake.close());

  const call = (maxMalformed: number, seen: MalformedEvent[], pieces: string[] = []) =>
    adapter.chatStream(
      { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
      { limits: { firstTokenMs: 5_000, idleMs: 5_000, maxMalformed }, onMalformed: (e) => seen.push(e) },
      (d) => {
        if (d.content) pieces.push(d.content);
      },
    );

  it.each(['not-json', 'not-event'] as const)('%s: skipped and reported, the answer whole', async (shape) => {
    fake.script('m', { kind: 'ok', content: CONTENT, malformedAfter: 2, malformedEvents: 2, malformedShape: shape });
    const seen: MalformedEvent[] = [];
    const pieces: string[] = [];
    const out = await call(2, seen, pieces);
    expect(out.content).toBe(CONTENT);
    expect(pieces.join('')).toBe(CONTENT);
    expect(out.finishReason).toBe('stop');
    const reason = shape === 'not-json' ? 'not JSON' : expect.stringMatching(/^not a /);
    expect(seen).toEqual([
      { reason, bytes: expect.any(Number), count: 1 },
      { reason, bytes: expect.any(Number), count: 2 },
    ]);
  });

  it('past the bound: MalformedStreamError after the pieces before it', async () => {
    fake.script('m', { kind: 'ok', content: CONTENT, malformedAfter: 2, malformedEvents: 2 });
    const pieces: string[] = [];
    const err = await call(1, [], pieces).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedStreamError);
    expect(pieces.join('')).toBe('one two');
  });
});

describe("a provider's error event mid-stream is still its failure, not a malformed event", () => {
  const frames: Record<WireFormat, string> = {
    openai: 'data: {"error": {"message": "upstream broke", "type": "server_error", "code": null}}\n\n',
    anthropic:
      'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n',
  };
  it.each(['openai', 'anthropic'] as const)('%s', async (format) => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(frames[format]);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const opts = {
        providerId: 'p',
        apiKey: 'k',
        baseURL: `http://127.0.0.1:${port}${format === 'openai' ? '/v1' : ''}`,
        timeoutMs: 10_000,
      };
      const a = format === 'openai' ? new OpenAIAdapter(opts) : new AnthropicAdapter(opts);
      const seen: MalformedEvent[] = [];
      const err = await a
        .chatStream(
          { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
          { limits: { firstTokenMs: 5_000, idleMs: 5_000 }, onMalformed: (e) => seen.push(e) },
          () => undefined,
        )
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(format === 'openai' ? OpenAI.APIError : Anthropic.APIError);
      expect((err as Error).message).toMatch(format === 'openai' ? /upstream broke/ : /Overloaded/);
      expect(seen).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
