/**
 * Malformed events mid-stream (issue 29, item 2), over real HTTP with the official openai SDK
 * streaming from Switchyard, against fake providers of both wire formats that put malformed events
 * between the pieces of their answer:
 *  - one malformed event (not JSON, or JSON that is not the format's event), or as many as the
 *    bound: skipped, the client gets the whole answer ending normally; the attempt's record and
 *    the Prometheus counter count them; the log names the request and why, never the event's text;
 *  - one more than the bound: the stream ends as a cut stream does (the client's iterator throws
 *    `interrupted after N chunks`, recorded as StreamInterrupted), and nothing falls back; the
 *    counter counts that last one too (the record counts those skipped).
 */
import type OpenAI from 'openai';
import { APIError } from 'openai';
import pino from 'pino';
import { Writable } from 'node:stream';
import { until } from '../support/chaos';
import { MALFORMED_MARKER, type WireFormat } from '../support/fakeProvider';
import { logSwallowedTo } from '../../src/services/metrics';
import { fakeCatalog, fakeModel, openaiClient, streamChat, useTestStack } from '../support/stack';

const CONTENT = 'one two three four five six seven eight nine ten';
const BOUND = 3;

// The process's warnings (where the worker's malformed-event lines go), kept to be read.
const logged: Array<Record<string, unknown>> = [];
logSwallowedTo(
  pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
          logged.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    }),
  ),
);

describe('malformed events mid-stream', () => {
  let client: OpenAI;

  const stack = useTestStack(
    {
      catalog: (f) =>
        fakeCatalog(f, [
          fakeModel('oa', 'primary', { qualityTier: 3 }),
          fakeModel('an', 'backup', { qualityTier: 4, inputPricePerMTok: 0.2 }),
        ]),
      config: {
        routing: { defaultStrategy: 'quality' },
        retry: {
          default: {
            maximumAttempts: 2,
            initialIntervalMs: 20,
            backoffCoefficient: 1,
            maximumIntervalMs: 20,
            timeoutMs: 20_000,
          },
        },
      },
      streamLimits: { firstTokenMs: 5_000, idleMs: 5_000, maxMalformed: BOUND },
    },
    { timeout: 120_000, resetFakes: true },
  );
  beforeAll(() => {
    client = openaiClient(stack);
  });
  beforeEach(() => {
    logged.length = 0;
  });

  const root = () => stack.baseURL.replace(/\/v1$/, '');

  /** The request's record once its workflow has finished (a stream's client may learn first). */
  async function record(id: string) {
    const now = async () =>
      (await (
        await fetch(`${stack.baseURL}/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
      ).json()) as {
        status: string;
        error?: { type: string; message: string };
        attempts: Array<{
          provider: string;
          model: string;
          outcome: string;
          errorType?: string;
          errorMessage?: string;
          malformedEvents?: number;
        }>;
      };
    let r = await now();
    await until(async () => (r = await now()).status !== 'running' && r.status !== 'received');
    return r;
  }

  /** The malformed-event counter for a model, from `/metrics`. */
  async function malformedCount(provider: string, model: string): Promise<number> {
    const res = await fetch(`${root()}/metrics`, { headers: { authorization: `Bearer ${stack.operatorKey}` } });
    const text = await res.text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('switchyard_stream_malformed_events_total{') &&
          l.includes(`provider="${provider}"`) &&
          l.includes(`model="${model}"`),
      );
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  const cases: Array<[string, WireFormat, 'primary' | 'backup']> = [
    ['oa/primary', 'openai', 'primary'],
    ['an/backup', 'anthropic', 'backup'],
  ];

  describe.each(cases)('%s (%s wire format)', (modelId, format, name) => {
    const provider = modelId.split('/')[0]!;

    it('one event that is not JSON: skipped, the whole answer ends normally, counted on the record and the metric, logged without its text', async () => {
      const before = await malformedCount(provider, modelId);
      stack.fakes[format].script(name, { kind: 'ok', content: CONTENT, malformedAfter: 3 });
      const s = await streamChat(client, { model: modelId });
      expect(s.error).toBeUndefined();
      expect(s.text).toBe(CONTENT);
      expect(s.chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
      expect(stack.fakes[format].callsFor(name)).toHaveLength(1);
      const r = await record(s.requestId);
      expect(r.status).toBe('succeeded');
      expect(r.attempts).toEqual([expect.objectContaining({ outcome: 'success', malformedEvents: 1 })]);
      expect(await malformedCount(provider, modelId)).toBe(before + 1);
      const lines = logged.filter((l) => l.msg === 'skipped a malformed event in a provider stream');
      expect(lines).toEqual([
        expect.objectContaining({ requestId: s.requestId, provider, model: modelId, reason: 'not JSON', count: 1 }),
      ]);
      // Neither the malformed event's text nor the answer's goes into the log.
      const all = JSON.stringify(logged);
      expect(all).not.toContain(MALFORMED_MARKER);
      expect(all).not.toContain('four five');
    });

    it(`as many as the bound (${BOUND}), JSON that is not the format's event: all skipped, the answer whole`, async () => {
      stack.fakes[format].script(name, {
        kind: 'ok',
        content: CONTENT,
        malformedAfter: 2,
        malformedEvents: BOUND,
        malformedShape: 'not-event',
      });
      const s = await streamChat(client, { model: modelId });
      expect(s.error).toBeUndefined();
      expect(s.text).toBe(CONTENT);
      const r = await record(s.requestId);
      expect(r.status).toBe('succeeded');
      expect(r.attempts).toEqual([expect.objectContaining({ outcome: 'success', malformedEvents: BOUND })]);
    });

    it('one more than the bound: the stream ends as a cut stream does, nothing falls back', async () => {
      const before = await malformedCount(provider, modelId);
      stack.fakes[format].script(name, { kind: 'ok', content: CONTENT, malformedAfter: 3, malformedEvents: BOUND + 1 });
      const s = await streamChat(client, { model: modelId });
      // What the client gets for a cut stream (streaming.test.ts): the iterator throws, no finish.
      expect(s.error).toBeInstanceOf(APIError);
      expect((s.error as Error).message).toMatch(/interrupted after 3 chunks: .*malformed/);
      expect(s.text).toBe('one two three');
      expect(s.chunks.some((c) => c.choices[0]?.finish_reason)).toBe(false);
      expect(stack.fakes.openai.calls.length + stack.fakes.anthropic.calls.length).toBe(1);
      const r = await record(s.requestId);
      expect(r.status).toBe('failed');
      expect(r.error!.type).toBe('StreamInterrupted');
      expect(r.attempts).toEqual([
        expect.objectContaining({
          outcome: 'error',
          errorType: 'StreamInterrupted',
          errorMessage: expect.stringMatching(
            /^interrupted after 3 chunks: .*4 malformed events.*\(MalformedResponse\)$/,
          ),
          malformedEvents: BOUND,
        }),
      ]);
      // The metric counts every malformed event, the one that ended the stream too; the record, those skipped.
      expect(await malformedCount(provider, modelId)).toBe(before + BOUND + 1);
      expect(logged.filter((l) => l.msg === 'skipped a malformed event in a provider stream')).toHaveLength(BOUND);
      expect(logged.filter((l) => l.msg === 'a malformed event past the bound ended a provider stream')).toEqual([
        expect.objectContaining({ requestId: s.requestId, count: BOUND + 1, ends: true }),
      ]);
    });
  });
});
