/**
 * A stream whose provider never sends a first token fails over at once: the first-token timeout
 * ends that candidate (`FirstTokenTimeout`, not retried on it), so the client waits one timeout,
 * not one per retry. Over real HTTP with the official `openai` client, streaming chat and the
 * Responses API, with the production retry policy (three attempts, 1 s then 2 s apart): model A's
 * fake never sends a first token (no answer at all, or the stream's opening and then nothing),
 * model B answers. A's fake is called exactly once, the answer is B's, and the request's record
 * shows one `FirstTokenTimeout` on A, then B's success. And the breaker hears it: a model whose
 * streams keep sending no first token is routed around once its breaker opens.
 */
import type OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { Behaviour } from '../support/fakeProvider';
import { until } from '../support/chaos';
import { recordHistory } from '../support/histories';
import { fakeCatalog, fakeModel, openaiClient, useTestStack } from '../support/stack';

const FIRST_TOKEN_MS = 2_000;
const BREAKER_THRESHOLD = 3;
const ANSWER = 'from the backup';

describe('a first-token timeout fails over at once', () => {
  let client: OpenAI;
  const stack = useTestStack(
    {
      catalog: (f) =>
        fakeCatalog(f, [
          fakeModel('oa', 'stalls', { qualityTier: 4 }),
          fakeModel('an', 'answers', { qualityTier: 3 }),
          // Its own breaker: the breaker case below opens it, and no other case names it.
          fakeModel('oa', 'silent', { qualityTier: 1 }),
        ]),
      breakers: true,
      config: {
        routing: { defaultStrategy: 'quality' },
        // The shipped threshold (3 failures in a minute), spelled out: the cases above it leave
        // oa/stalls at most its third failure, so none of them finds its breaker open.
        breakers: { failureThreshold: BREAKER_THRESHOLD, windowMs: 60_000, cooldownMs: 60_000 },
        // The shipped attempts and backoff, spelled out: three attempts per candidate, 1 s then 2 s
        // apart (a retried first-token timeout would call A three times before the fallback).
        retry: {
          default: { maximumAttempts: 3, initialIntervalMs: 1_000, backoffCoefficient: 2, timeoutMs: 30_000 },
        },
      },
      streamLimits: { firstTokenMs: FIRST_TOKEN_MS, idleMs: 30_000 },
    },
    { timeout: 120_000, resetFakes: true },
  );
  beforeAll(() => {
    client = openaiClient(stack);
  });

  interface RecordBody {
    status: string;
    model?: string;
    attempts: Array<{
      provider: string;
      model: string;
      attempt: number;
      outcome: string;
      errorType?: string;
      errorMessage?: string;
    }>;
  }
  /** `GET /v1/requests/{id}` once its workflow has finished (a stream's client may learn first). */
  async function record(id: string): Promise<RecordBody> {
    const now = async () =>
      (await (
        await fetch(`${stack.baseURL}/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
      ).json()) as RecordBody;
    let r = await now();
    await until(async () => !['running', 'received'].includes((r = await now()).status));
    return r;
  }

  /** What every case checks: A asked once, B's answer, one first-token timeout on record, one wait. */
  async function expectFailedOverOnce(requestId: string, elapsedMs: number) {
    expect(stack.fakes.openai.callsFor('stalls')).toHaveLength(1);
    expect(stack.fakes.anthropic.callsFor('answers')).toHaveLength(1);
    const r = await record(requestId);
    expect(r.status).toBe('succeeded');
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.attempt, a.outcome, a.errorType])).toEqual([
      ['oa/stalls', 1, 'error', 'FirstTokenTimeout'],
      ['an/answers', 1, 'success', undefined],
    ]);
    expect(r.attempts[0]!.errorMessage).toBe(`oa/stalls: no first token within ${FIRST_TOKEN_MS} ms`);
    // It waited out the first-token limit once (one call to A above: not three waits). How long a
    // client waits beyond that is not asserted: timings are noisy on a loaded machine.
    expect(elapsedMs).toBeGreaterThanOrEqual(FIRST_TOKEN_MS);
  }

  it.each<[string, Behaviour]>([
    ['no answer at all', { kind: 'hang' }],
    ["the stream's opening, then nothing", { kind: 'ok', content: 'never sent', stallAfter: 0 }],
  ])('streamed chat, provider A sends %s: one call to A, the answer from B', async (_, stall) => {
    stack.fakes.openai.setDefault('stalls', stall);
    stack.fakes.anthropic.setDefault('answers', { kind: 'ok', content: ANSWER });
    const started = Date.now();
    const { data, response } = await client.chat.completions
      .create({ model: 'oa/stalls', messages: [{ role: 'user', content: 'Hello' }], stream: true })
      .withResponse();
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of data) chunks.push(c);
    const elapsed = Date.now() - started;
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(ANSWER);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(response.headers.get('x-switchyard-model')).toBe('an/answers');
    const requestId = response.headers.get('x-switchyard-request-id')!;
    await expectFailedOverOnce(requestId, elapsed);
    if (stall.kind === 'hang')
      await recordHistory('route-stream-first-token', stack.env.client.workflow.getHandle(`req-${requestId}`));
  });

  it('a streamed Responses API call fails over the same way', async () => {
    stack.fakes.openai.setDefault('stalls', { kind: 'hang' });
    stack.fakes.anthropic.setDefault('answers', { kind: 'ok', content: ANSWER });
    const started = Date.now();
    const stream = await client.responses.create({ model: 'oa/stalls', input: 'Hello', stream: true });
    let text = '';
    let responseId = '';
    for await (const e of stream) {
      if (e.type === 'response.output_text.delta') text += e.delta;
      if (e.type === 'response.completed') responseId = e.response.id;
    }
    const elapsed = Date.now() - started;
    expect(text).toBe(ANSWER);
    expect(responseId).toMatch(/^resp_/);
    await expectFailedOverOnce(responseId.replace(/^resp_/, ''), elapsed);
  });

  it("counts against the model's breaker (as a Timeout): once it opens, streams go straight to the fallback", async () => {
    stack.fakes.openai.setDefault('silent', { kind: 'hang' });
    // Either may be the fallback (oa/stalls leads by quality unless the cases above opened its breaker).
    stack.fakes.openai.setDefault('stalls', { kind: 'ok', content: ANSWER });
    stack.fakes.anthropic.setDefault('answers', { kind: 'ok', content: ANSWER });
    const ask = async () => {
      const { data, response } = await client.chat.completions
        .create({ model: 'oa/silent', messages: [{ role: 'user', content: 'Hello' }], stream: true })
        .withResponse();
      let text = '';
      for await (const c of data) text += c.choices[0]?.delta.content ?? '';
      expect(text).toBe(ANSWER);
      return response.headers.get('x-switchyard-request-id')!;
    };
    // As many silent streams as the threshold, at once: each waits out the first-token limit once.
    await Promise.all(Array.from({ length: BREAKER_THRESHOLD }, ask));
    expect(stack.fakes.openai.callsFor('silent')).toHaveLength(BREAKER_THRESHOLD);
    const breaker = async () => {
      const res = await fetch(`${stack.baseURL}/providers`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
      const body = (await res.json()) as {
        data: Array<{ id: string; breaker: { status: string; lastError?: { type: string } } }>;
      };
      return body.data.find((d) => d.id === 'oa/silent')!.breaker;
    };
    // The breaker hears each first-token timeout as the endpoint timing out (healthFailureType).
    await until(async () => (await breaker()).status === 'open', 20_000);
    expect(await breaker()).toMatchObject({ status: 'open', lastError: { type: 'Timeout' } });
    // The routing projection follows the entity within a workflow task.
    await until(async () => (await stack.health!.snapshot('oa/silent', 0))?.status === 'open', 20_000);

    // Open: the next stream never reaches the silent model, so the client waits no first-token limit.
    const requestId = await ask();
    expect(stack.fakes.openai.callsFor('silent')).toHaveLength(BREAKER_THRESHOLD);
    const r = await record(requestId);
    expect(r.attempts).toHaveLength(1);
    expect(r.attempts[0]).toMatchObject({ outcome: 'success' });
    expect(`${r.attempts[0]!.provider}/${r.attempts[0]!.model}`).not.toBe('oa/silent');
  });
});
