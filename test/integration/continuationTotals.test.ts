/**
 * A continued answer's budget and totals (issue 29), over real HTTP with the official openai SDK
 * streaming through the `routeRequest` workflow to the fake providers: an OpenAI-format primary
 * cut after pieces, an Anthropic-format fallback that continues it.
 *  - the continuation's max_tokens is the client's cap less the tokens the client already holds
 *    (max_tokens, max_completion_tokens, or the cap a budget applies); nothing left: no call, a
 *    normal `length` finish and [DONE];
 *  - the usage chunk and the request's record count both attempts (their sum), and its record
 *    says "continued after N pieces on X";
 *  - the route metric counts the request once, as it finally ended.
 */
import type OpenAI from 'openai';
import { APIError } from 'openai';
import { countTokens } from '../../src/domain/tokens';
import { until } from '../support/chaos';
import { continuationStack, scriptRefusedPrefill } from '../support/continuation';
import {
  fakeCatalog,
  fakeModel,
  finishedRecord,
  openaiClient,
  setDailyBudget,
  streamChat,
  useTestStack,
} from '../support/stack';

const CONTENT = 'one two three four five six seven eight nine ten';

interface Attempt {
  provider: string;
  model: string;
  outcome: string;
  errorType?: string;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
}

interface Record {
  status: string;
  model: string | null;
  notes: string[];
  usage: { input_tokens: number; output_tokens: number } | null;
  cost_usd: number | string | null;
  response: { finishReason?: string; content?: string } | null;
  error?: { type: string; message: string };
  attempts: Attempt[];
}

describe('a continued answer: its output cap and its totals', () => {
  let client: OpenAI;

  const stack = useTestStack(
    continuationStack((f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'primary', { capabilities: ['chat', 'tools', 'json'], qualityTier: 5 }),
        fakeModel('an', 'backup', { capabilities: ['chat', 'tools', 'json', 'continuation'], qualityTier: 4 }),
      ]),
    ),
    { timeout: 120_000, resetFakes: true },
  );
  beforeAll(() => {
    client = openaiClient(stack);
  });

  /** The request's record once its workflow has finished. */
  const record = (id: string) => finishedRecord<Record>(stack, id);

  /** `streamChat`, with the content pieces the client received. */
  async function stream(body: Partial<OpenAI.ChatCompletionCreateParamsStreaming> = {}) {
    const s = await streamChat(client, body);
    return { ...s, pieces: s.chunks.map((c) => c.choices[0]?.delta.content ?? '').filter(Boolean) };
  }

  const sum = (attempts: Attempt[], key: 'inputTokens' | 'outputTokens' | 'costUsd') =>
    attempts.reduce((n, a) => n + (a[key] ?? 0), 0);

  /** One sample of the metrics (0 when absent). */
  async function metric(name: string, labels: { [k: string]: string }): Promise<number> {
    const root = stack.baseURL.replace(/\/v1$/, '');
    const text = await (
      await fetch(`${root}/metrics`, { headers: { authorization: `Bearer ${stack.operatorKey}` } })
    ).text();
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
    }
    return 0;
  }

  it("the continuation's max_tokens is the client's less what it holds; usage and record count both attempts", async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 4 });
    stack.fakes.anthropic.script('backup', { kind: 'ok', content: ' five six seven eight nine ten' });
    const held = countTokens('one two three four');
    const succeeded = { status: 'succeeded', provider: 'an', model: 'an/backup' };
    const before = {
      requests: await metric('switchyard_requests_total', succeeded),
      fallbacks: await metric('switchyard_fallbacks_total', { reason: 'StreamInterrupted' }),
    };

    const s = await stream({ max_completion_tokens: 10, stream_options: { include_usage: true } });
    expect(s.error).toBeUndefined();
    expect(s.text).toBe(CONTENT);
    // The fallback was asked for no more than the client's cap leaves.
    const calls = stack.fakes.anthropic.callsFor('backup');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.body.max_tokens).toBe(10 - held);
    const pieceTokens = s.pieces.reduce((n, p) => n + countTokens(p), 0);
    expect(pieceTokens).toBeLessThanOrEqual(10);

    const r = await record(s.requestId);
    expect(r.status).toBe('succeeded');
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.outcome])).toEqual([
      ['oa/primary', 'error'],
      ['an/backup', 'success'],
    ]);
    for (const a of r.attempts) expect(a.outputTokens).toBeGreaterThan(0);
    const inputTokens = sum(r.attempts, 'inputTokens');
    const outputTokens = sum(r.attempts, 'outputTokens');
    // The usage chunk: both attempts, not only the continuation.
    const usage = s.chunks.find((c) => c.usage)?.usage;
    expect(usage).toMatchObject({
      prompt_tokens: inputTokens,
      completion_tokens: outputTokens,
      total_tokens: inputTokens + outputTokens,
    });
    expect(r.usage).toEqual({ input_tokens: inputTokens, output_tokens: outputTokens });
    expect(Number(r.cost_usd)).toBeCloseTo(sum(r.attempts, 'costUsd'), 9);
    // The record says it was continued, as the workflow's result does.
    expect(r.notes).toContain(`continued after 4 pieces on an/backup`);
    const result = (await stack.env.client.workflow.getHandle(`req-${s.requestId}`).result()) as {
      notes?: string[];
      inputTokens: number;
      outputTokens: number;
    };
    expect(r.notes).toEqual(result.notes);
    expect(result).toMatchObject({ inputTokens, outputTokens });

    // Counted once, as it ended: a success on the fallback, having fallen back from the cut stream.
    await until(async () => (await metric('switchyard_requests_total', succeeded)) === before.requests + 1);
    expect(await metric('switchyard_fallbacks_total', { reason: 'StreamInterrupted' })).toBe(before.fallbacks + 1);
    expect(await metric('switchyard_requests_total', { status: 'StreamInterrupted' })).toBe(0);
  });

  it('the client holds its whole max_tokens: no call, a normal length finish and [DONE], on record', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 4 });
    const succeeded = { status: 'succeeded', provider: 'an', model: 'an/backup' };
    const counted = await metric('switchyard_requests_total', succeeded);
    const s = await stream({ max_tokens: countTokens('one two three four'), stream_options: { include_usage: true } });
    expect(s.error).toBeUndefined();
    expect(s.text).toBe('one two three four');
    const finishes = s.chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finishes.map((c) => c.choices[0]!.finish_reason)).toEqual(['length']);
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
    const r = await record(s.requestId);
    expect(r.status).toBe('succeeded');
    expect(r.response).toMatchObject({ finishReason: 'length', content: 'one two three four' });
    expect(r.notes).toEqual([
      'continued after 4 pieces on an/backup',
      'the client already held its max_tokens: ended as length without calling an/backup',
    ]);
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.outcome, a.outputTokens ?? 0])).toEqual([
      ['oa/primary', 'error', expect.any(Number)],
      ['an/backup', 'success', 0],
    ]);
    const usage = s.chunks.find((c) => c.usage)?.usage;
    expect(usage).toMatchObject({
      prompt_tokens: sum(r.attempts, 'inputTokens'),
      completion_tokens: sum(r.attempts, 'outputTokens'),
    });
    expect(r.usage).toEqual({
      input_tokens: sum(r.attempts, 'inputTokens'),
      output_tokens: sum(r.attempts, 'outputTokens'),
    });
    // Counted once, as a success (the count waits for the workflow's outcome).
    await until(async () => (await metric('switchyard_requests_total', succeeded)) === counted + 1);
  });

  it('a continuation that fails: counted once, as the request ended (its recorded failure)', async () => {
    scriptRefusedPrefill(stack.fakes, CONTENT);
    const interrupted = { status: 'StreamInterrupted' };
    const before = {
      requests: await metric('switchyard_requests_total', interrupted),
      fallbacks: await metric('switchyard_fallbacks_total', { reason: 'StreamInterrupted' }),
      streams: await metric('switchyard_streams_total', { outcome: 'interrupted' }),
    };
    const s = await stream();
    expect(s.error).toBeInstanceOf(APIError);
    expect((s.error as Error).message).toMatch(/interrupted after 3 chunks/);
    const r = await record(s.requestId);
    expect(r.error!.type).toBe('StreamInterrupted');
    expect(r.notes).toEqual([]);
    expect(await metric('switchyard_requests_total', interrupted)).toBe(before.requests + 1);
    expect(await metric('switchyard_streams_total', { outcome: 'interrupted' })).toBe(before.streams + 1);
    // The outcome's candidates: it fell back from the cut stream (to a continuation that failed).
    expect(await metric('switchyard_fallbacks_total', { reason: 'StreamInterrupted' })).toBe(before.fallbacks + 1);
  });

  it('under a budget without max_tokens: the cap the budget applies, less what the client holds', async () => {
    await setDailyBudget(stack, 100);
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 4 });
    stack.fakes.anthropic.script('backup', { kind: 'ok', content: ' five six seven eight nine ten' });
    const s = await stream();
    expect(s.error).toBeUndefined();
    expect(s.text).toBe(CONTENT);
    expect(stack.fakes.anthropic.callsFor('backup')[0]!.body.max_tokens).toBe(1024 - countTokens('one two three four'));
  });
});
