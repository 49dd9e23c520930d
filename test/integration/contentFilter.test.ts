/**
 * A provider's content-policy rejection reaches the client by default: a 400 in OpenAI's error
 * shape with the provider's own code and message (redacted of secrets), the filtered model called
 * once (not retried), no other model called, and the request's record saying why it stopped.
 * Failing over on a filter is the option `fallback.onContentFilter: true`. Over real HTTP with the
 * official `openai` client, plain and streamed: a filter before the first token is an HTTP 400; a
 * filter after pieces were sent ends the stream as OpenAI ends it, `finish_reason: content_filter`.
 */
import OpenAI from 'openai';
import type { Behaviour } from '../support/fakeProvider';
import { until } from '../support/chaos';
import { recordHistory } from '../support/histories';
import { fakeCatalog, fakeModel, FAST_RETRIES, openaiClient, providerSecret, useTestStack } from '../support/stack';

const POLICY_MESSAGE = 'Your request was rejected as a result of our safety system.';
const ANSWER = 'an answer from the backup';

describe('a content filter', () => {
  let client: OpenAI;
  const stack = useTestStack(
    {
      // The guarded model leads by quality; the backup is the fallback a filter would fail over to.
      catalog: (f) =>
        fakeCatalog(f, [fakeModel('oa', 'guarded', { qualityTier: 4 }), fakeModel('an', 'backup', { qualityTier: 3 })]),
      // Two attempts per candidate: a retried filter would show as a second call.
      config: { routing: { defaultStrategy: 'quality' }, retry: FAST_RETRIES },
    },
    { timeout: 120_000, resetFakes: true },
  );
  beforeAll(() => {
    client = openaiClient(stack);
  });

  /** OpenAI's own content-policy 400, its message also carrying the key the call came with. */
  const policyRejection: Behaviour = {
    kind: 'error',
    status: 400,
    code: 'content_policy_violation',
    fields: (key) => ({ message: `${POLICY_MESSAGE} (request made with ${key})` }),
  };

  interface RecordBody {
    status: string;
    error?: {
      type: string;
      message: string;
      candidates: Array<{
        modelId: string;
        outcome: string;
        errorType?: string;
        providerCode?: string;
        action?: string;
      }>;
    };
    response?: { content: string; finishReason: string };
    attempts: Array<{ provider: string; model: string; attempt: number; outcome: string; errorType?: string }>;
  }
  async function record(id: string): Promise<RecordBody> {
    const now = async () =>
      (await (
        await fetch(`${stack.baseURL}/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
      ).json()) as RecordBody;
    let r = await now();
    await until(async () => !['running', 'received'].includes((r = await now()).status));
    return r;
  }

  /** What a propagated filter is: the 400, its code and the provider's words, one call, no fallback, on record. */
  async function expectPropagated(err: unknown, code: string, words: string) {
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.status).toBe(400);
    expect(e.type).toBe('invalid_request_error');
    expect(e.code).toBe(code);
    expect(e.message).toContain(words);
    // The key the provider echoed is not passed on.
    expect(e.message).not.toContain(providerSecret('oa'));
    expect(JSON.stringify(e.error)).not.toContain(providerSecret('oa'));
    expect(stack.fakes.openai.callsFor('guarded')).toHaveLength(1);
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);

    const requestId = e.headers?.get('x-switchyard-request-id');
    expect(requestId).toBeTruthy();
    const r = await record(requestId!);
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ type: 'ContentFiltered' });
    expect(r.error!.message).toContain(words);
    expect(r.error!.candidates).toEqual([
      expect.objectContaining({
        modelId: 'oa/guarded',
        outcome: 'error',
        errorType: 'ContentFiltered',
        providerCode: code,
        action: 'stop: content-filter fallback is disabled',
      }),
    ]);
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.attempt, a.outcome, a.errorType])).toEqual([
      ['oa/guarded', 1, 'error', 'ContentFiltered'],
    ]);
  }

  const messages = [{ role: 'user' as const, content: 'Hello' }];
  const ask = () => client.chat.completions.create({ model: 'oa/guarded', messages });
  const askStreamed = () => client.chat.completions.create({ model: 'oa/guarded', messages, stream: true });

  it("by default: a 400 with the provider's code and message, not retried, no fallback, on record", async () => {
    stack.fakes.openai.setDefault('guarded', policyRejection);
    stack.fakes.anthropic.setDefault('backup', { kind: 'ok', content: ANSWER });
    const err = await ask().catch((e: unknown) => e);
    await expectPropagated(err, 'content_policy_violation', POLICY_MESSAGE);
    const requestId = (err as InstanceType<typeof OpenAI.BadRequestError>).headers!.get('x-switchyard-request-id');
    await recordHistory('route-content-filter', stack.env.client.workflow.getHandle(`req-${requestId}`));
  });

  it.each<[string, Behaviour, string, string]>([
    ["the provider's 400", policyRejection, 'content_policy_violation', POLICY_MESSAGE],
    [
      'an answer filtered before its first piece',
      { kind: 'ok', filtered: true },
      'content_filter',
      'filtered the output (finish_reason content_filter)',
    ],
  ])('streamed, %s: an HTTP 400 before any event', async (_, behaviour, code, words) => {
    stack.fakes.openai.setDefault('guarded', behaviour);
    stack.fakes.anthropic.setDefault('backup', { kind: 'ok', content: ANSWER });
    // The stream must not open: a rejected create is the HTTP error, read before any event.
    const err = await askStreamed().then(
      () => 'the stream opened',
      (e: unknown) => e,
    );
    await expectPropagated(err, code, words);
  });

  it('streamed, filtered after pieces were sent: the stream ends with finish_reason content_filter', async () => {
    stack.fakes.openai.setDefault('guarded', { kind: 'ok', content: 'one two three four five', filteredAfter: 2 });
    const { data, response } = await askStreamed().withResponse();
    const chunks = [];
    for await (const c of data) chunks.push(c);
    // The pieces the provider let through, then OpenAI's own ending for a filtered answer (and [DONE]).
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('one two');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('content_filter');
    expect(stack.fakes.openai.callsFor('guarded')).toHaveLength(1);
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
    const r = await record(response.headers.get('x-switchyard-request-id')!);
    expect(r.status).toBe('succeeded');
    expect(r.response).toMatchObject({ content: 'one two', finishReason: 'content_filter' });
  });

  describe('with fallback.onContentFilter: true', () => {
    beforeAll(async () => {
      await stack.configStore.update((c) => ({ ...c, fallback: { ...c.fallback, onContentFilter: true } }));
    });
    afterAll(async () => {
      await stack.configStore.update((c) => ({ ...c, fallback: { ...c.fallback, onContentFilter: false } }));
    });

    it.each([false, true])('the fallback answers (streamed: %s)', async (stream) => {
      stack.fakes.openai.setDefault('guarded', policyRejection);
      stack.fakes.anthropic.setDefault('backup', { kind: 'ok', content: ANSWER });
      let text = '';
      let response: Response;
      if (stream) {
        const streamed = await askStreamed().withResponse();
        response = streamed.response;
        for await (const c of streamed.data) text += c.choices[0]?.delta.content ?? '';
      } else {
        const plain = await ask().withResponse();
        response = plain.response;
        text = plain.data.choices[0]!.message.content!;
      }
      expect(text).toBe(ANSWER);
      expect(response.headers.get('x-switchyard-model')).toBe('an/backup');
      expect(stack.fakes.openai.callsFor('guarded')).toHaveLength(1);
      expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(1);
      const r = await record(response.headers.get('x-switchyard-request-id')!);
      expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.attempt, a.outcome, a.errorType])).toEqual([
        ['oa/guarded', 1, 'error', 'ContentFiltered'],
        ['an/backup', 1, 'success', undefined],
      ]);
    });
  });
});
