/**
 * Streaming with the worker and the API as separate processes (`npm run worker`, `npm run api`),
 * the pieces relayed through Redis (REDIS_URL), with the official `openai` client (and the worker's
 * own health endpoints, SWITCHYARD_WORKER_HEALTH_PORT):
 *  - a normal stream with usage in the last chunk;
 *  - a 503 before the first token: one clean stream from the fallback;
 *  - a connection cut after 5 chunks: the iterator throws, the record says interrupted after 5;
 *  - a stall before the first token falls back; a stall after 3 chunks ends with an error;
 *  - the worker killed mid-stream: the retried call finds the stream begun and ends it with an
 *    error (never a second answer spliced onto the first);
 *  - the budget: nothing left reserved after them all.
 *
 * The layout (one PostgreSQL database for both processes: DATABASE_URL, else reported as not run)
 * is test/support/splitLayout.ts's.
 */
import OpenAI, { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { CHAOS_KEY } from '../support/chaos';
import { startOutside, type Outside } from '../support/outside';
import { freePort, killStack, useProcesses, type Stack } from '../support/process';
import { splitApi, splitLayoutRuns, startSplitLayout } from '../support/splitLayout';

const shared = splitLayoutRuns('streamSplit.test.ts');

const CONTENT = 'one two three four five six seven eight nine ten';
const PRIMARY = 'gpt-4o-mini';

let outside: Outside;
let procEnv: NodeJS.ProcessEnv;
let worker: Stack;
let client: OpenAI;
let base: string;
let workerHealth: string;

(shared ? describe : describe.skip)('streaming across processes (Redis relay)', () => {
  const procs = useProcesses();
  beforeAll(async () => {
    outside = await startOutside('sy-stream-split-');
    workerHealth = `http://127.0.0.1:${await freePort()}`;
    ({ base, procEnv, worker } = await startSplitLayout(procs, outside, {
      streamLimitMs: 1500,
      env: { SWITCHYARD_WORKER_HEALTH_PORT: new URL(workerHealth).port },
    }));
    client = new OpenAI({ apiKey: CHAOS_KEY, baseURL: base, maxRetries: 0 });
  });

  afterAll(async () => {
    await outside?.close();
  });

  beforeEach(() => outside.fake.reset());

  const { get, record } = splitApi(() => base);

  async function stream(body: Partial<OpenAI.ChatCompletionCreateParamsStreaming> = {}, onChunk?: (n: number) => void) {
    const { data, response } = await client.chat.completions
      .create({ model: `openai/${PRIMARY}`, messages: [{ role: 'user', content: 'Count.' }], ...body, stream: true })
      .withResponse();
    const chunks: ChatCompletionChunk[] = [];
    let error: unknown;
    try {
      for await (const c of data) {
        chunks.push(c);
        onChunk?.(chunks.length);
      }
    } catch (err) {
      error = err;
    }
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    return { chunks, error, text, requestId: response.headers.get('x-switchyard-request-id')!, response };
  }

  it('the worker process answers its own health endpoints, its workers included', async () => {
    expect(await (await fetch(`${workerHealth}/health`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${workerHealth}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { database: 'ok', migrations: 'ok', temporal: 'ok', workers: 'ok' },
    });
    const detailed = (await (await fetch(`${workerHealth}/health/detailed`)).json()) as any;
    expect(detailed.checks.workers.running).toBeGreaterThanOrEqual(3); // main, batch, and a provider's queue
  });

  it('streams with usage in the last chunk', async () => {
    outside.fake.script(PRIMARY, { kind: 'ok', content: CONTENT });
    const s = await stream({ stream_options: { include_usage: true } });
    expect(s.error).toBeUndefined();
    expect(s.text).toBe(CONTENT);
    expect(s.chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop');
    expect(s.chunks.at(-1)!.usage!.completion_tokens).toBeGreaterThan(0);
    expect((await record(s.requestId)).status).toBe('succeeded');
  });

  it('a 503 before the first token: one clean stream from the fallback', async () => {
    outside.fake.setDefault(PRIMARY, { kind: 'error', status: 503, message: 'Overloaded' });
    outside.fake.setDefault('*', { kind: 'ok', content: CONTENT });
    const s = await stream();
    expect(s.error).toBeUndefined();
    expect(s.text).toBe(CONTENT);
    expect(s.chunks.filter((c) => c.choices[0]?.delta.role)).toHaveLength(1);
    const model = s.response.headers.get('x-switchyard-model');
    expect(model).not.toBe(`openai/${PRIMARY}`);
    const r = await record(s.requestId);
    expect(r.attempts.map((a) => a.outcome)).toEqual(['error', 'error', 'success']);
  });

  it('a connection cut after 5 chunks: the iterator throws, recorded as interrupted after 5 chunks', async () => {
    outside.fake.script(PRIMARY, { kind: 'ok', content: CONTENT, cutAfter: 5 });
    const s = await stream();
    expect(s.error).toBeInstanceOf(APIError);
    expect((s.error as Error).message).toMatch(/interrupted after 5 chunks/);
    expect(s.text).toBe('one two three four five');
    expect(outside.fake.calls).toHaveLength(1);
    const r = await record(s.requestId);
    expect(r.status).toBe('failed');
    expect(r.error!.type).toBe('StreamInterrupted');
    expect(r.attempts.map((a) => a.errorMessage)).toEqual([expect.stringMatching(/^interrupted after 5 chunks/)]);
  });

  it('stalls: before the first token → fallback; after 3 chunks → an error event', async () => {
    outside.fake.setDefault(PRIMARY, { kind: 'ok', content: CONTENT, stallAfter: 0 });
    outside.fake.setDefault('*', { kind: 'ok', content: 'from the fallback' });
    const before = await stream();
    expect(before.error).toBeUndefined();
    expect(before.text).toBe('from the fallback');
    expect((await record(before.requestId)).attempts[0]!.errorMessage).toMatch(/no first token within 1500 ms/);

    outside.fake.reset();
    outside.fake.script(PRIMARY, { kind: 'ok', content: CONTENT, stallAfter: 3 });
    const after = await stream();
    expect(after.text).toBe('one two three');
    expect((after.error as Error).message).toMatch(/interrupted after 3 chunks: .*no chunk within 1500 ms/);
  });

  it('the worker killed mid-stream: the client gets an error event, not a second answer', async () => {
    // Slow pieces: the stream is still running when the worker dies.
    outside.fake.script(PRIMARY, { kind: 'ok', content: CONTENT, pieceDelayMs: 400 });
    outside.fake.setDefault('*', { kind: 'ok', content: 'a second answer' });
    let restarted: Promise<void> | undefined;
    const s = await stream({}, (n) => {
      // Killed, and a new worker started: Temporal retries the call there after its heartbeat timeout.
      if (n === 3)
        restarted ??= killStack(worker).then(async () => {
          worker = await procs.start(procEnv, 'worker');
        });
    });
    await restarted;
    expect(s.error).toBeInstanceOf(APIError);
    expect((s.error as Error).message).toMatch(/interrupted after \d+ chunks: the call streaming it stopped/);
    expect(s.text.startsWith('one two')).toBe(true);
    expect(s.text).not.toMatch(/second answer/);
    const r = await record(s.requestId);
    expect(r.error!.type).toBe('StreamInterrupted');
  });

  it('the budget: nothing left reserved after the streams, broken and killed ones included', async () => {
    const daily = (await get('/budgets')).windows.find((w: { window: string }) => w.window === 'daily');
    expect(daily.reserved_usd).toBe(0);
    expect(daily.spent_usd).toBeGreaterThan(0);
  });
});
