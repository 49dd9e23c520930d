/**
 * Continuation on OpenAI-format servers (issue 29): an instance whose server continues a partial
 * answer says how (`continuation`), and its models declaring the capability finish a stream
 * another model broke off. Over real HTTP with the official openai SDK streaming, through the
 * `routeRequest` workflow:
 *  - vLLM style: the fallback is sent `continue_final_message: true, add_generation_prompt: false`
 *    and the answer so far as the assistant's last message; the client gets one whole answer, one
 *    finish, one [DONE]; a cut after a space: the text so far is sent without it, and the
 *    continuation's leading space is not doubled;
 *  - prefix style (DeepSeek, Mistral): the last message carries `prefix: true`; a cut mid-word
 *    joins the word;
 *  - a model declaring the capability on an instance that says no style is never asked to continue;
 *  - the fake itself: a prefill without the flag is answered as a new turn (the whole answer again),
 *    and `continue_final_message` with the generation prompt left on is vLLM's 400.
 */
import OpenAI from 'openai';
import { CatalogSchema } from '../../src/domain/catalog';
import { CONTINUE_WITH_GENERATION_PROMPT } from '../support/fakeProvider';
import { continuationStack } from '../support/continuation';
import { fakeCatalogProviders, fakeModel, finishedRecord, streamChat, useTestStack } from '../support/stack';

const CONTENT = 'one two three four five six seven eight nine ten';

describe('an OpenAI-format fallback that says how continues a cut stream', () => {
  const stack = useTestStack(
    continuationStack((f) =>
      CatalogSchema.parse({
        providers: [
          ...fakeCatalogProviders(f),
          // Two instances of the same fake server, one per style (the fake tells them apart by model).
          { id: 'vl', kind: 'openai-compatible', baseUrl: f.openai.url, continuation: 'continue_final_message' },
          { id: 'ds', kind: 'openai-compatible', baseUrl: f.openai.url, continuation: 'prefix' },
        ],
        models: [
          fakeModel('oa', 'primary', { capabilities: ['chat', 'tools', 'json'], qualityTier: 3 }),
          fakeModel('vl', 'vllm-backup', { capabilities: ['chat', 'continuation'], qualityTier: 4 }),
          fakeModel('ds', 'prefix-backup', { capabilities: ['chat', 'continuation'], qualityTier: 2 }),
          // Declares it on an instance that says no style: its server would answer the prefill as
          // a new turn, so it is never asked.
          fakeModel('oa', 'claims', { capabilities: ['chat', 'continuation'], qualityTier: 1 }),
        ],
      }),
    ),
    { timeout: 120_000, resetFakes: true },
  );

  const record = (id: string) =>
    finishedRecord<{
      status: string;
      error?: { type: string; message: string };
      attempts: Array<{ provider: string; model: string; outcome: string; errorType?: string }>;
    }>(stack, id);

  /** Streams through the openai SDK; `raw` is the SSE body exactly as the client received it. */
  async function stream(headers: Record<string, string> = {}) {
    let raw: Promise<string> = Promise.resolve('');
    const client = new OpenAI({
      apiKey: stack.apiKey,
      baseURL: stack.baseURL,
      maxRetries: 0,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (!res.body) return res;
        const [mine, theirs] = res.body.tee();
        raw = new Response(mine).text();
        return new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers });
      },
    });
    const s = await streamChat(client, {}, headers);
    return { ...s, raw: await raw };
  }

  const lastMessage = (model: string) =>
    (stack.fakes.openai.callsFor(model)[0]!.body.messages as Array<Record<string, unknown>>).at(-1);

  it('vLLM style: continue_final_message on, the generation prompt off, the text so far last; one answer, one [DONE]', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 4 });
    // The fake's server answers the whole content; asked to continue, only what follows the prefill.
    stack.fakes.openai.script('vllm-backup', { kind: 'ok', content: CONTENT, continues: true });
    const s = await stream();
    expect(s.error).toBeUndefined();
    expect(s.text).toBe(CONTENT);
    expect(s.chunks.filter((c) => c.choices[0]?.finish_reason)).toHaveLength(1);
    expect(s.chunks.filter((c) => c.choices[0]?.delta.role === 'assistant')).toHaveLength(1);
    expect(s.raw.match(/^data: \[DONE\]$/gm)).toHaveLength(1);
    const calls = stack.fakes.openai.callsFor('vllm-backup');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.body).toMatchObject({ continue_final_message: true, add_generation_prompt: false, stream: true });
    expect(lastMessage('vllm-backup')).toEqual({ role: 'assistant', content: 'one two three four' });
    expect((calls[0]!.body.messages as Array<{ role: string }>)[0]).toMatchObject({ role: 'user' });
    expect(stack.fakes.openai.callsFor('prefix-backup')).toHaveLength(0);
    const r = await record(s.requestId);
    expect(r.status).toBe('succeeded');
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.outcome, a.errorType])).toEqual([
      ['oa/primary', 'error', 'StreamInterrupted'],
      ['vl/vllm-backup', 'success', undefined],
    ]);
    const result = (await stack.env.client.workflow.getHandle(`req-${s.requestId}`).result()) as { notes?: string[] };
    expect(result.notes).toContain('continued after 4 pieces on vl/vllm-backup');
  });

  it('a cut after a space: the text so far goes without it, and the continuation does not double it', async () => {
    // Six pieces: "one two " is the first; the server goes on with " three…".
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, pieces: 6, cutAfter: 1 });
    stack.fakes.openai.script('vllm-backup', { kind: 'ok', content: CONTENT, continues: true });
    const s = await stream();
    expect(s.error).toBeUndefined();
    expect(lastMessage('vllm-backup')).toEqual({ role: 'assistant', content: 'one two' });
    expect(s.text).toBe(CONTENT);
  });

  it('prefix style: the last message carries prefix: true, no vLLM flags; a word cut mid-way is joined', async () => {
    // Ten pieces: "one t", "wo th", then the cut: the server goes on with "ree four…".
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, pieces: 10, cutAfter: 2 });
    stack.fakes.openai.script('prefix-backup', { kind: 'ok', content: CONTENT, continues: true });
    const s = await stream({ 'X-Switchyard-Exclude-Providers': 'vl' });
    expect(s.error).toBeUndefined();
    expect(s.text).toBe(CONTENT);
    expect(s.raw.match(/^data: \[DONE\]$/gm)).toHaveLength(1);
    expect(lastMessage('prefix-backup')).toEqual({ role: 'assistant', content: 'one two th', prefix: true });
    const body = stack.fakes.openai.callsFor('prefix-backup')[0]!.body;
    expect(body).not.toHaveProperty('continue_final_message');
    expect(body).not.toHaveProperty('add_generation_prompt');
    const r = await record(s.requestId);
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.outcome])).toEqual([
      ['oa/primary', 'error'],
      ['ds/prefix-backup', 'success'],
    ]);
  });

  it('a model declaring continuation on an instance that says no style is never asked to continue', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 3 });
    stack.fakes.openai.setDefault('claims', { kind: 'ok', content: CONTENT, continues: true });
    const s = await stream({ 'X-Switchyard-Exclude-Providers': 'vl,ds' });
    expect(s.text).toBe('one two three');
    expect((s.error as Error).message).toMatch(/interrupted after 3 chunks/);
    expect(s.raw).not.toMatch(/\[DONE\]/);
    expect(stack.fakes.openai.callsFor('claims')).toHaveLength(0);
    expect((await record(s.requestId)).error!.type).toBe('StreamInterrupted');
  });

  describe('the fake OpenAI-format server', () => {
    const ask = async (extra: Record<string, unknown>, last: Record<string, unknown> = {}) => {
      stack.fakes.openai.script('vllm-backup', { kind: 'ok', content: CONTENT, continues: true });
      const res = await fetch(`${stack.fakes.openai.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'vllm-backup',
          messages: [
            { role: 'user', content: 'Count to ten.' },
            { role: 'assistant', content: 'one two three', ...last },
          ],
          ...extra,
        }),
      });
      return {
        status: res.status,
        body: (await res.json()) as {
          choices?: Array<{ message: { content: string } }>;
          error?: { message: string };
        },
      };
    };

    it('answers a prefill without the flag as a new turn (the whole answer again), with it only the rest', async () => {
      expect((await ask({})).body.choices![0]!.message.content).toBe(CONTENT);
      expect(
        (await ask({ continue_final_message: true, add_generation_prompt: false })).body.choices![0]!.message.content,
      ).toBe(' four five six seven eight nine ten');
      expect((await ask({}, { prefix: true })).body.choices![0]!.message.content).toBe(
        ' four five six seven eight nine ten',
      );
    });

    it('refuses continue_final_message with the generation prompt left on, as vLLM does', async () => {
      const r = await ask({ continue_final_message: true });
      expect(r.status).toBe(400);
      expect(r.body.error!.message).toBe(CONTINUE_WITH_GENERATION_PROMPT);
    });
  });
});
