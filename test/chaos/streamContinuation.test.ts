/**
 * Continuation across a worker's crash (issue 29 item 1, acceptance: "a kill -9 of the worker
 * mid-stream, with the relay holding the pieces, continues the answer on restart"): the worker and
 * the API as separate processes (`npm run worker`, `npm run api`), the pieces relayed through Redis,
 * with the official `openai` client streaming.
 *  - a candidate can continue: the primary (OpenAI format) streams slowly, the worker is killed
 *    with SIGKILL after the client read 3 pieces, a new worker starts; the retried call finds the
 *    pieces in the relay and leaves the stream open, and the Anthropic-format fallback (catalog
 *    capability `continuation`) continues from them: the client gets one whole answer, no piece
 *    twice, one finish and one [DONE]; the fallback got the answer so far as the assistant's last
 *    message, and the primary was called once;
 *  - none can (the capable one excluded): the client gets the clear `stream_interrupted` error
 *    event, no finish, no [DONE], and nothing else is called.
 *
 * The layout (one PostgreSQL database for both processes: DATABASE_URL, else reported as not run)
 * is test/support/splitLayout.ts's.
 */
import OpenAI, { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { CHAOS_KEY } from '../support/chaos';
import { startFakeProvider, type FakeProvider } from '../support/fakeProvider';
import { startOutside, type Outside } from '../support/outside';
import { killStack, useProcesses, type Stack } from '../support/process';
import { splitApi, splitLayoutRuns, startSplitLayout } from '../support/splitLayout';

const shared = splitLayoutRuns('streamContinuation.test.ts');

const CONTENT = 'one two three four five six seven eight nine ten eleven twelve';

let outside: Outside;
let anthropic: FakeProvider;
let procEnv: NodeJS.ProcessEnv;
let worker: Stack;
let base: string;

/**
 * The official client, with a fetch that also keeps each streamed response's raw SSE text: the SDK
 * ignores whatever follows a `[DONE]`, and the test must see that nothing does.
 */
function tappedClient() {
  const raw: Array<Promise<string>> = [];
  const tap: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (!res.body || !res.headers.get('content-type')?.includes('text/event-stream')) return res;
    const [forSdk, forTest] = res.body.tee();
    raw.push(new Response(forTest).text());
    return new Response(forSdk, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return { client: new OpenAI({ apiKey: CHAOS_KEY, baseURL: base, maxRetries: 0, fetch: tap }), raw };
}

(shared ? describe : describe.skip)('a worker killed mid-stream, continued on restart (Redis relay)', () => {
  const procs = useProcesses({ leftover: 'kill' });
  beforeAll(async () => {
    outside = await startOutside('sy-stream-continuation-');
    anthropic = await startFakeProvider('anthropic');
    ({ base, procEnv, worker } = await startSplitLayout(procs, outside, {
      config: [
        'catalog:',
        '  providers:',
        `    - { id: oa, kind: openai, baseUrl: "${outside.fake.url}", apiKey: { env: OA_FAKE_API_KEY } }`,
        `    - { id: an, kind: anthropic, baseUrl: "${anthropic.url}", apiKey: { env: AN_FAKE_API_KEY } }`,
        '  models:',
        '    - { id: oa/primary, provider: oa, model: primary, inputPricePerMTok: 0.1, outputPricePerMTok: 0.4,',
        '        contextWindow: 16000, maxOutputTokens: 2000, capabilities: [chat], qualityTier: 3 }',
        // It cannot continue: never called for a continuation.
        '    - { id: oa/plain, provider: oa, model: plain, inputPricePerMTok: 0.1, outputPricePerMTok: 0.4,',
        '        contextWindow: 16000, maxOutputTokens: 2000, capabilities: [chat], qualityTier: 5 }',
        // Never retried: its killed call goes to the fallback rules (a heartbeat Timeout), not to a retry.
        '    - { id: oa/solo, provider: oa, model: solo, inputPricePerMTok: 0.1, outputPricePerMTok: 0.4,',
        '        contextWindow: 16000, maxOutputTokens: 2000, capabilities: [chat], qualityTier: 3 }',
        '    - { id: an/backup, provider: an, model: backup, inputPricePerMTok: 0.1, outputPricePerMTok: 0.4,',
        '        contextWindow: 16000, maxOutputTokens: 2000, capabilities: [chat, continuation], qualityTier: 4 }',
        'routing:',
        '  defaultStrategy: quality',
        'fallback:',
        '  chains:',
        "    'oa/solo': [an/backup]",
      ],
      // The killed call is retried once (the default's two attempts): on the new worker, where it
      // finds the stream begun.
      retry: ['  models:', "    'oa/solo': { maximumAttempts: 1 }"],
      streamLimitMs: 5000,
      env: {
        OPENAI_API_KEY: '',
        OA_FAKE_API_KEY: 'sk-fake-openai-0123456789',
        AN_FAKE_API_KEY: 'sk-fake-anthropic-0123456789',
      },
    }));
  });

  afterAll(async () => {
    await anthropic?.close();
    await outside?.close();
  });

  beforeEach(() => {
    outside.fake.reset();
    anthropic.reset();
  });

  const { get, record } = splitApi(() => base);

  /**
   * A stream of `oa/primary`, the worker killed (SIGKILL to its process group) once the client has
   * read `killAt` pieces, and a new worker started: Temporal retries the call there after its
   * heartbeat timeout.
   */
  async function streamKilled(killAt: number, headers: Record<string, string> = {}, model = 'oa/primary') {
    const { client, raw } = tappedClient();
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'Count to twelve.' }], stream: true }, { headers })
      .withResponse();
    const chunks: ChatCompletionChunk[] = [];
    let restarted: Promise<void> | undefined;
    let textAtKill = '';
    let error: unknown;
    try {
      for await (const c of data) {
        chunks.push(c);
        if (chunks.filter((x) => x.choices[0]?.delta.content).length === killAt && !restarted) {
          textAtKill = chunks.map((x) => x.choices[0]?.delta.content ?? '').join('');
          restarted = killStack(worker).then(async () => {
            worker = await procs.start(procEnv, 'worker');
          });
        }
      }
    } catch (err) {
      error = err;
    }
    await restarted;
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    return {
      chunks,
      error,
      text,
      textAtKill,
      killed: restarted !== undefined,
      sse: await raw[0]!,
      requestId: response.headers.get('x-switchyard-request-id')!,
    };
  }

  it('a candidate can continue: one whole answer from the pieces so far and the continuation, one [DONE]', async () => {
    // Slow pieces: the stream is still running when the worker dies.
    outside.fake.script('primary', { kind: 'ok', content: CONTENT, pieceDelayMs: 400 });
    // The continuation goes on where the prefill ends, wherever the kill left it.
    anthropic.script('backup', { kind: 'ok', content: CONTENT, continues: true });
    const s = await streamKilled(3);
    expect(s.killed).toBe(true);
    expect(s.error).toBeUndefined();
    // One whole answer: every word once, in order (no piece twice, no second answer).
    expect(s.text).toBe(CONTENT);
    expect(s.text.startsWith(s.textAtKill)).toBe(true);
    expect(s.chunks.filter((c) => c.choices[0]?.delta.role === 'assistant')).toHaveLength(1);
    expect(s.chunks.filter((c) => c.choices[0]?.finish_reason)).toHaveLength(1);
    expect(s.chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(s.sse.match(/data: \[DONE\]/g)).toHaveLength(1);
    expect(s.sse.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(s.sse).not.toMatch(/"error"/);

    // The primary was called once (the retried call found the stream begun and called nothing);
    // the fallback once, with the answer so far (at least what the client had at the kill) as the
    // assistant's last message, and it sent only the rest.
    expect(outside.fake.callsFor('primary')).toHaveLength(1);
    expect(outside.fake.callsFor('plain')).toHaveLength(0);
    const calls = anthropic.callsFor('backup');
    expect(calls).toHaveLength(1);
    const last = (calls[0]!.body.messages as Array<{ role: string; content: string }>).at(-1)!;
    expect(last.role).toBe('assistant');
    expect(last.content.startsWith(s.textAtKill)).toBe(true);
    expect(CONTENT.startsWith(last.content)).toBe(true);
    expect(last.content.length).toBeLessThan(CONTENT.length);

    const r = await record(s.requestId);
    expect(r.status).toBe('succeeded');
    expect(r.attempts.at(-1)).toMatchObject({ provider: 'an', model: 'backup', outcome: 'success' });
    expect(r.attempts.filter((a) => a.outcome === 'success')).toHaveLength(1);
    const pieces = last.content.split(' ').length;
    const result = (await outside.env.client.workflow.getHandle(`req-${s.requestId}`).result()) as {
      notes?: string[];
    };
    expect(result.notes).toContain(`continued after ${pieces} pieces on an/backup`);
  });

  it('no retry left: the fallback that can continue takes the begun stream over, one whole answer', async () => {
    // The killed call is not retried: its heartbeat Timeout goes to the fallback rules, and the
    // fallback (the chain's only model, which can continue) finds the stream begun by the call before it.
    outside.fake.script('solo', { kind: 'ok', content: CONTENT, pieceDelayMs: 400 });
    anthropic.script('backup', { kind: 'ok', content: CONTENT, continues: true });
    const s = await streamKilled(3, {}, 'oa/solo');
    expect(s.killed).toBe(true);
    expect(s.error).toBeUndefined();
    expect(s.text).toBe(CONTENT);
    expect(s.chunks.filter((c) => c.choices[0]?.finish_reason)).toHaveLength(1);
    expect(s.sse.match(/data: \[DONE\]/g)).toHaveLength(1);
    expect(outside.fake.callsFor('solo')).toHaveLength(1);
    const calls = anthropic.callsFor('backup');
    expect(calls).toHaveLength(1);
    const last = (calls[0]!.body.messages as Array<{ role: string; content: string }>).at(-1)!;
    expect(last.role).toBe('assistant');
    expect(last.content.startsWith(s.textAtKill)).toBe(true);
    const r = await record(s.requestId);
    expect(r.status).toBe('succeeded');
    expect(r.attempts.at(-1)).toMatchObject({ provider: 'an', model: 'backup', outcome: 'success' });
    const result = (await outside.env.client.workflow.getHandle(`req-${s.requestId}`).result()) as {
      notes?: string[];
    };
    expect(result.notes).toContain(`continued after ${last.content.split(' ').length} pieces on an/backup`);
  });

  it('no candidate can continue: the clear stream_interrupted error event, no finish, no [DONE]', async () => {
    outside.fake.script('primary', { kind: 'ok', content: CONTENT, pieceDelayMs: 400 });
    const s = await streamKilled(3, { 'X-Switchyard-Exclude-Providers': 'an' });
    expect(s.killed).toBe(true);
    expect(s.error).toBeInstanceOf(APIError);
    expect((s.error as APIError).code).toBe('stream_interrupted');
    expect((s.error as Error).message).toMatch(/interrupted after \d+ chunks: the call streaming it stopped/);
    expect(s.text.startsWith(s.textAtKill)).toBe(true);
    expect(CONTENT.startsWith(s.text)).toBe(true);
    expect(s.chunks.some((c) => c.choices[0]?.finish_reason)).toBe(false);
    expect(s.sse).not.toMatch(/\[DONE\]/);
    expect(s.sse.match(/"code":"stream_interrupted"/g)).toHaveLength(1);
    // Nothing else was called: neither the excluded capable model nor the one that cannot continue.
    expect(outside.fake.callsFor('primary')).toHaveLength(1);
    expect(outside.fake.callsFor('plain')).toHaveLength(0);
    expect(anthropic.calls).toHaveLength(0);
    const r = await record(s.requestId);
    expect(r.status).toBe('failed');
    expect(r.error!.type).toBe('StreamInterrupted');
  });

  it('the budget: nothing left reserved after the killed streams', async () => {
    const daily = (await get('/budgets')).windows.find((w: { window: string }) => w.window === 'daily');
    expect(daily.reserved_usd).toBe(0);
  });
});
