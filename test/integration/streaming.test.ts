/**
 * Streaming over real HTTP with the official clients, through the same `routeRequest` workflow,
 * with the relay in memory (one process) and through Redis (the worker and the API each with
 * their own connection, as separate processes have):
 *  - a normal stream in OpenAI's chunk format, usage in the last chunk, `[DONE]`;
 *  - a 503 before the first token falls back invisibly (one clean stream from the fallback);
 *  - a connection cut after 5 pieces: the client's iterator throws, nothing falls back, and the
 *    record says `interrupted after 5 chunks`;
 *  - a stall: before the first token → fallback at once (not retried); after some → an error event;
 *  - tool calls streamed from both wire formats; the Anthropic SDK's stream from `/v1/messages`
 *    served by an OpenAI-format provider;
 *  - the budget reserves before the stream and settles on what it used (broken streams too);
 *  - the breakers count a broken stream as the endpoint failing, like any other failure.
 */
import type OpenAI from 'openai';
import { APIError } from 'openai';
import { until } from '../support/chaos';
import { recordHistory } from '../support/histories';
import type { StreamEvent } from '../../src/domain/stream';
import type { StreamRelay } from '../../src/services/streamRelay';
import {
  fakeCatalog,
  fakeModel,
  openaiClient,
  useTestStack,
  setDailyBudget,
  anthropicClient,
  streamChat,
  finishedRecord,
} from '../support/stack';

const CONTENT = 'one two three four five six seven eight nine ten';
const tools = [
  {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];

describe.each(['memory', 'redis'] as const)('streaming, relay in %s', (relay) => {
  let client: OpenAI;

  const stack = useTestStack(
    {
      relay,
      catalog: (f) =>
        fakeCatalog(f, [
          fakeModel('oa', 'primary', { capabilities: ['chat', 'tools'], qualityTier: 3 }),
          fakeModel('an', 'backup', { capabilities: ['chat', 'tools'], qualityTier: 4, inputPricePerMTok: 0.2 }),
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
      streamLimits: { firstTokenMs: 1_500, idleMs: 1_500 },
    },
    { timeout: 120_000, resetFakes: true },
  );
  beforeAll(async () => {
    client = openaiClient(stack);
    await setDailyBudget(stack, 50);
  });

  /** The request's record once its workflow has finished (a stream's client may learn first). */
  const record = (id: string) =>
    finishedRecord<{
      status: string;
      error?: { type: string; message: string };
      attempts: Array<{ provider: string; model: string; outcome: string; errorType?: string; errorMessage?: string }>;
    }>(stack, id);

  it('streams in OpenAI chunk format with usage in the last chunk', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT });
    const s = await streamChat(client, { stream_options: { include_usage: true } });
    expect(s.error).toBeUndefined();
    expect(s.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(s.text).toBe(CONTENT);
    // One piece per word, then the finish chunk, then usage.
    expect(s.chunks.length).toBe(10 + 2);
    expect(s.chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(new Set(s.chunks.map((c) => c.id)).size).toBe(1);
    expect(s.chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'oa/primary')).toBe(true);
    const finish = s.chunks.at(-2)!;
    expect(finish.choices[0]!.finish_reason).toBe('stop');
    const last = s.chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage!.completion_tokens).toBeGreaterThan(0);
    expect(last.usage!.total_tokens).toBe(last.usage!.prompt_tokens + last.usage!.completion_tokens);
    expect(s.chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    const r = await record(s.requestId);
    expect(r.status).toBe('succeeded');
    expect(r.attempts.map((a) => a.outcome)).toEqual(['success']);
    // The provider was asked to stream, with usage.
    expect(stack.fakes.openai.callsFor('primary')[0]!.body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('a 503 before the first token falls back invisibly: one clean stream from the fallback', async () => {
    stack.fakes.openai.script(
      'primary',
      { kind: 'error', status: 503, message: 'Overloaded' },
      { kind: 'error', status: 503, message: 'Overloaded' },
    );
    stack.fakes.anthropic.script('backup', { kind: 'ok', content: CONTENT });
    const s = await streamChat(client);
    expect(s.error).toBeUndefined();
    expect(s.text).toBe(CONTENT);
    expect(s.chunks.filter((c) => c.choices[0]?.delta.role === 'assistant')).toHaveLength(1);
    expect(s.chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(s.response.headers.get('x-switchyard-model')).toBe('an/backup');
    const r = await record(s.requestId);
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.outcome])).toEqual([
      ['oa/primary', 'error'],
      ['oa/primary', 'error'],
      ['an/backup', 'success'],
    ]);
    if (relay === 'memory')
      await recordHistory('route-stream-fallback', stack.env.client.workflow.getHandle(`req-${s.requestId}`));
  });

  it('a connection cut after 5 chunks: the iterator throws, no fallback, recorded as interrupted after 5 chunks', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 5 });
    const s = await streamChat(client);
    expect(s.error).toBeInstanceOf(APIError);
    expect((s.error as Error).message).toMatch(/interrupted after 5 chunks/);
    expect(s.text).toBe('one two three four five');
    expect(s.chunks.some((c) => c.choices[0]?.finish_reason)).toBe(false);
    expect(stack.fakes.openai.callsFor('primary')).toHaveLength(1);
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
    const r = await record(s.requestId);
    expect(r.status).toBe('failed');
    expect(r.error!.type).toBe('StreamInterrupted');
    expect(r.error!.message).toMatch(/interrupted after 5 chunks/);
    expect(r.attempts).toEqual([
      expect.objectContaining({
        provider: 'oa',
        model: 'primary',
        outcome: 'error',
        errorType: 'StreamInterrupted',
        errorMessage: expect.stringMatching(/^interrupted after 5 chunks/),
      }),
    ]);
    if (relay === 'memory')
      await recordHistory('route-stream-interrupted', stack.env.client.workflow.getHandle(`req-${s.requestId}`));
  });

  it('a provider that stalls before its first token: the first-token limit falls back at once, no retry', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, stallAfter: 0 }, { kind: 'hang' });
    stack.fakes.anthropic.script('backup', { kind: 'ok', content: 'from the backup' });
    const s = await streamChat(client);
    expect(s.error).toBeUndefined();
    expect(s.text).toBe('from the backup');
    expect(stack.fakes.openai.callsFor('primary')).toHaveLength(1);
    const r = await record(s.requestId);
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.outcome, a.errorType])).toEqual([
      ['oa/primary', 'error', 'FirstTokenTimeout'],
      ['an/backup', 'success', undefined],
    ]);
    expect(r.attempts[0]!.errorMessage).toMatch(/no first token within 1500 ms/);
  });

  it('a provider that stalls after 3 chunks: an error event, recorded as interrupted', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, stallAfter: 3 });
    const s = await streamChat(client);
    expect(s.text).toBe('one two three');
    expect((s.error as Error).message).toMatch(/interrupted after 3 chunks: .*no chunk within 1500 ms/);
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
    const r = await record(s.requestId);
    expect(r.attempts.map((a) => a.errorType)).toEqual(['StreamInterrupted']);
  });

  it('every candidate failing before the first token is an ordinary HTTP error, not a stream', async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'error', status: 503, message: 'Overloaded' });
    stack.fakes.anthropic.setDefault('backup', { kind: 'error', status: 529, message: 'Overloaded' });
    const err = await streamChat(client).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(503);
    expect((err as APIError).headers?.get('content-type')).toMatch(/application\/json/);
  });

  it.each([
    ['oa/primary', 'openai'],
    ['an/backup', 'anthropic'],
  ] as const)('streams tool calls from %s (%s wire format)', async (model, format) => {
    stack.fakes[format].script(model.split('/')[1]!, {
      kind: 'ok',
      toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }],
    });
    const s = await streamChat(client, { model, tools, messages: [{ role: 'user', content: 'Weather in Oslo?' }] });
    expect(s.error).toBeUndefined();
    const pieces = s.chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(pieces[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather' } });
    expect(pieces[0]!.id).toBeTruthy();
    // Arguments arrive in more than one piece and add up.
    expect(pieces.filter((p) => p.function?.arguments).length).toBeGreaterThan(1);
    expect(JSON.parse(pieces.map((p) => p.function?.arguments ?? '').join(''))).toEqual({ city: 'Oslo' });
    expect(s.chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
  });

  /** The Anthropic SDK's stream from `/v1/messages`, and the text deltas it emitted. */
  function anthropicStream() {
    const s = anthropicClient(stack).messages.stream({
      model: 'oa/primary',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'Count to ten.' }],
    });
    const deltas: string[] = [];
    s.on('text', (t) => deltas.push(t));
    return { s, deltas };
  }

  it('the Anthropic SDK streams /v1/messages served by an OpenAI-format provider', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT });
    const { s, deltas } = anthropicStream();
    const message = await s.finalMessage();
    expect(deltas.length).toBe(10);
    expect(message.content).toEqual([expect.objectContaining({ type: 'text', text: CONTENT })]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    expect(stack.fakes.openai.callsFor('primary')[0]!.body).toMatchObject({ stream: true });
  });

  it('a stream cut mid-way reaches the Anthropic SDK as an error event, not a normal end', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 3 });
    const { s, deltas } = anthropicStream();
    await expect(s.finalMessage()).rejects.toThrow(/interrupted after 3 chunks/);
    expect(deltas.join('')).toBe('one two three');
  });

  it('budgets reserve before each stream and settle on what it used, broken streams included', async () => {
    const rows = await stack.db.query<{ status: string; n: number; actual: string }>(
      `select status, count(*)::int as n, coalesce(sum(actual_usd), 0)::text as actual
         from budget_reservations where tenant_id = $1 group by status`,
      [stack.tenantId],
    );
    // None left open: each call's reservation was settled on its cost, or released (failed before a token).
    expect(rows.rows.map((r) => r.status).sort()).toEqual(['released', 'settled']);
    const costs = await stack.db.query<{ cost: string }>(
      `select coalesce(sum(a.cost_usd), 0)::text as cost from request_attempts a
         join requests r on r.request_id = a.request_id where r.tenant_id = $1`,
      [stack.tenantId],
    );
    const settled = Number(rows.rows.find((r) => r.status === 'settled')!.actual);
    expect(settled).toBeCloseTo(Number(costs.rows[0]!.cost), 10);
    expect(settled).toBeGreaterThan(0);
    const window = await stack.db.query<{ reserved: string }>(
      `select reserved_usd::text as reserved from budget_windows where scope = $1 and period = 'daily'`,
      [`tenant:${stack.tenantId}`],
    );
    expect(Number(window.rows[0]!.reserved)).toBe(0);
  });
});

describe('streaming and the breakers', () => {
  const stack = useTestStack(
    {
      breakers: true,
      catalog: (f) =>
        fakeCatalog(f, [fakeModel('oa', 'primary', { qualityTier: 3 }), fakeModel('an', 'backup', { qualityTier: 4 })]),
      config: {
        routing: { defaultStrategy: 'quality' },
        retry: { default: { maximumAttempts: 1, timeoutMs: 20_000 } },
        breakers: { failureThreshold: 3, cooldownMs: 600_000 },
      },
    },
    { timeout: 120_000 },
  );

  it('streams cut mid-way count as the endpoint failing: three trip its breaker, the next stream goes elsewhere', async () => {
    const client = openaiClient(stack);
    const read = async () => {
      const s = await streamChat(client, { messages: [{ role: 'user', content: 'Count.' }] });
      return { text: s.text, ...(s.error !== undefined && { error: s.error as Error }) };
    };
    stack.fakes.openai.setDefault('primary', { kind: 'ok', content: CONTENT, cutAfter: 2 });
    stack.fakes.anthropic.setDefault('backup', { kind: 'ok', content: 'from the backup' });
    for (let i = 0; i < 3; i++) expect((await read()).error?.message).toMatch(/interrupted after 2 chunks/);
    const breaker = async () =>
      (
        (await (
          await fetch(`${stack.baseURL}/providers`, { headers: { authorization: `Bearer ${stack.operatorKey}` } })
        ).json()) as { data: Array<{ id: string; breaker: { status: string } }> }
      ).data.find((p) => p.id === 'oa/primary')!.breaker.status;
    await until(async () => (await breaker()) === 'open');
    const after = await read();
    expect(after).toEqual({ text: 'from the backup' });
    expect(stack.fakes.openai.callsFor('primary')).toHaveLength(3);
  });
});

describe('streaming when the relay loses a piece', () => {
  let dropNext = false;

  const stack = useTestStack(
    {
      catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'primary')]),
      // The workers' relay drops one publish when told to (Redis failing for a moment).
      wrapWorkerRelay: (relay) =>
        Object.assign(Object.create(relay) as StreamRelay, {
          publish: (id: string, e: StreamEvent) => {
            if (dropNext && e.type === 'delta' && e.seq === 2) {
              dropNext = false;
              return Promise.reject(new Error('redis went away'));
            }
            return relay.publish(id, e);
          },
        }),
    },
    { timeout: 120_000 },
  );

  it('the client gets an error event, never a normal end with a hole; the answer is stored whole', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT });
    dropNext = true;
    const {
      text,
      error,
      requestId: id,
    } = await streamChat(openaiClient(stack), {
      messages: [{ role: 'user', content: 'Count.' }],
    });
    expect(text).toBe('one two');
    expect((error as Error | undefined)?.message).toMatch(
      /the stream relay lost pieces after 2 chunks; the whole answer.*GET \/v1\/requests\//,
    );
    const get = async () =>
      (await (
        await fetch(`${stack.baseURL}/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
      ).json()) as {
        status: string;
        response: { content: string };
      };
    await until(async () => (await get()).status === 'succeeded');
    expect((await get()).response.content).toBe(CONTENT);
  });
});
