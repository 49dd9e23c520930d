/**
 * Continuation (issue 29 item 1), over real HTTP with the official openai SDK streaming, through
 * the `routeRequest` workflow, with the relay in memory and through Redis: a stream cut after pieces on an
 * OpenAI-format provider is finished by an Anthropic-format fallback that takes the answer so far
 * as the assistant's last message (a prefill), under the same stream: one whole answer, one [DONE].
 *  - continued: the client's text = the cut provider's pieces + the continuation; the fallback's
 *    fake got the prefill; a model without the capability is passed over; the record says so;
 *    no answer text in the workflow's history; a stall past the idle limit likewise; the Anthropic
 *    SDK's `/v1/messages` stream likewise;
 *  - the fallback refuses the prefill (a 400): the client gets the cut stream's error, not the 400;
 *  - no candidate can continue (the capable one excluded): today's error, nothing else called;
 *  - a stream cut inside a tool call: a clear error, nothing continued.
 */
import { temporal } from '@temporalio/proto';
import type OpenAI from 'openai';
import { APIError } from 'openai';
import { recordHistory } from '../support/histories';
import { continuationStack, scriptRefusedPrefill } from '../support/continuation';
import {
  anthropicClient,
  fakeCatalog,
  fakeModel,
  finishedRecord,
  openaiClient,
  streamChat,
  useTestStack,
} from '../support/stack';

const CONTENT = 'one two three four five six seven eight nine ten';

describe.each(['memory', 'redis'] as const)('continuing a cut stream on a fallback, relay in %s', (relay) => {
  let client: OpenAI;

  const stack = useTestStack(
    continuationStack(
      (f) =>
        fakeCatalog(f, [
          fakeModel('oa', 'primary', { capabilities: ['chat', 'tools', 'json'], qualityTier: 3 }),
          // It cannot continue: never called for a continuation.
          fakeModel('oa', 'plain', { capabilities: ['chat', 'tools'], qualityTier: 5 }),
          fakeModel('an', 'backup', { capabilities: ['chat', 'tools', 'json', 'continuation'], qualityTier: 4 }),
          // Declares it, but its instance sets no `continuation` style: an OpenAI-format server answers a
          // prefill as a new turn, so never a continuer (continuationOpenai.test.ts: one that sets it).
          // Last by quality, so only a request without the `an` models reaches it.
          fakeModel('oa', 'claims', { capabilities: ['chat', 'tools', 'continuation'], qualityTier: 1 }),
        ]),
      { relay },
    ),
    { timeout: 120_000, resetFakes: true },
  );
  beforeAll(() => {
    client = openaiClient(stack);
  });

  /** The request's record once its workflow has finished. */
  const record = (id: string) =>
    finishedRecord<{
      status: string;
      error?: { type: string; message: string };
      attempts: Array<{ provider: string; model: string; outcome: string; errorType?: string; costUsd?: number }>;
    }>(stack, id);

  it('cut after 4 pieces: the Anthropic fallback continues from the prefill, one whole answer, one finish', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 4 });
    // The continuation goes on where the prefill ends.
    stack.fakes.anthropic.script('backup', { kind: 'ok', content: ' five six seven eight nine ten' });
    const s = await streamChat(client);
    expect(s.error).toBeUndefined();
    expect(s.text).toBe('one two three four five six seven eight nine ten');
    expect(s.chunks.filter((c) => c.choices[0]?.finish_reason)).toHaveLength(1);
    expect(s.chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(s.chunks.filter((c) => c.choices[0]?.delta.role === 'assistant')).toHaveLength(1);
    // The fallback got the answer so far as the assistant's last message; the other model nothing.
    const calls = stack.fakes.anthropic.callsFor('backup');
    expect(calls).toHaveLength(1);
    const messages = calls[0]!.body.messages as Array<{ role: string; content: string }>;
    expect(messages.at(-1)).toEqual({ role: 'assistant', content: 'one two three four' });
    expect(messages[0]).toMatchObject({ role: 'user' });
    expect(stack.fakes.openai.callsFor('plain')).toHaveLength(0);
    const r = await record(s.requestId);
    expect(r.status).toBe('succeeded');
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.outcome, a.errorType])).toEqual([
      ['oa/primary', 'error', 'StreamInterrupted'],
      ['an/backup', 'success', undefined],
    ]);
    // Both attempts are paid for: what the cut one sent, and the continuation.
    expect(r.attempts.every((a) => (a.costUsd ?? 0) > 0)).toBe(true);
    const result = (await stack.env.client.workflow.getHandle(`req-${s.requestId}`).result()) as {
      notes?: string[];
      candidates: Array<{ modelId: string; outcome: string; action?: string }>;
    };
    expect(result.notes).toContain('continued after 4 pieces on an/backup');
    expect(result.candidates[0]).toMatchObject({ modelId: 'oa/primary', outcome: 'error' });
    expect(result.candidates.at(-1)).toMatchObject({
      modelId: 'an/backup',
      outcome: 'success',
      action: 'continued after 4 pieces on an/backup',
    });
    // A model that cannot continue is never called for it (passed over when it ranks before the backup).
    for (const o of result.candidates.filter((c) => c.modelId === 'oa/plain'))
      expect(o).toMatchObject({ outcome: 'skipped', action: expect.stringMatching(/cannot continue/) });
    // No prompt or answer text in the workflow's history: ids and counts only.
    const handle = stack.env.client.workflow.getHandle(`req-${s.requestId}`);
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(await handle.fetchHistory()).finish());
    expect(bytes.includes('stream-continuation')).toBe(true);
    for (const text of ['one two', 'five six', 'Count to ten']) expect(bytes.includes(text)).toBe(false);
    if (relay === 'memory') await recordHistory('route-stream-continued', handle);
  });

  it('a stall after 3 pieces past the idle limit: continued the same way', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, stallAfter: 3 });
    stack.fakes.anthropic.script('backup', { kind: 'ok', content: ' four five six seven eight nine ten' });
    const s = await streamChat(client);
    expect(s.error).toBeUndefined();
    expect(s.text).toBe(CONTENT);
    expect(stack.fakes.anthropic.callsFor('backup')[0]!.body.messages).toContainEqual({
      role: 'assistant',
      content: 'one two three',
    });
    const r = await record(s.requestId);
    expect(r.attempts.map((a) => [`${a.provider}/${a.model}`, a.outcome, a.errorType])).toEqual([
      ['oa/primary', 'error', 'StreamInterrupted'],
      ['an/backup', 'success', undefined],
    ]);
  });

  it("the Anthropic SDK's /v1/messages stream is continued too: one message, one text block", async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 2 });
    stack.fakes.anthropic.script('backup', { kind: 'ok', content: ' three four five six seven eight nine ten' });
    const s = anthropicClient(stack).messages.stream({
      model: 'oa/primary',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'Count to ten.' }],
    });
    const deltas: string[] = [];
    s.on('text', (t) => deltas.push(t));
    const message = await s.finalMessage();
    expect(deltas.join('')).toBe(CONTENT);
    expect(message.content).toEqual([expect.objectContaining({ type: 'text', text: CONTENT })]);
    expect(message.stop_reason).toBe('end_turn');
  });

  it('the fallback refuses the prefill: the client gets the cut stream error, never the 400', async () => {
    scriptRefusedPrefill(stack.fakes, CONTENT);
    const s = await streamChat(client);
    expect(s.text).toBe('one two three');
    expect(s.error).toBeInstanceOf(APIError);
    expect((s.error as Error).message).toMatch(/interrupted after 3 chunks/);
    expect((s.error as Error).message).not.toMatch(/prefill/);
    expect(s.chunks.some((c) => c.choices[0]?.finish_reason)).toBe(false);
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(1);
    const r = await record(s.requestId);
    expect(r.status).toBe('failed');
    expect(r.error!.type).toBe('StreamInterrupted');
    expect(r.error!.message).toMatch(/interrupted after 3 chunks/);
  });

  it('no candidate can continue: the cut stream ends with the error it ends with today', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 5 });
    const s = await streamChat(client, {}, { 'X-Switchyard-Exclude-Providers': 'an' });
    expect(s.text).toBe('one two three four five');
    expect((s.error as Error).message).toMatch(/interrupted after 5 chunks/);
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
    expect(stack.fakes.openai.callsFor('plain')).toHaveLength(0);
    const r = await record(s.requestId);
    expect(r.error!.type).toBe('StreamInterrupted');
  });

  it('a model of an OpenAI-format instance with no continuation style that declares it is not asked to continue', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: CONTENT, cutAfter: 5 });
    const s = await streamChat(client, {}, { 'X-Switchyard-Exclude-Providers': 'an' });
    expect(s.text).toBe('one two three four five');
    expect((s.error as Error).message).toMatch(/interrupted after 5 chunks/);
    // It would have answered the prefill as a new turn: the whole answer again after the half.
    expect(stack.fakes.openai.callsFor('claims')).toHaveLength(0);
    expect((await record(s.requestId)).error!.type).toBe('StreamInterrupted');
  });

  it('a structured answer cut mid-way is not continued: its JSON cannot be carried as text', async () => {
    stack.fakes.openai.script('primary', { kind: 'ok', content: '{"city": "Paris", "unit": "celsius"}', cutAfter: 2 });
    const s = await streamChat(client, {
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'weather', schema: { type: 'object', properties: { city: { type: 'string' } } } },
      },
    });
    expect(s.error).toBeInstanceOf(APIError);
    expect((s.error as Error).message).toMatch(/interrupted after 2 chunks/);
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
    expect((await record(s.requestId)).error!.type).toBe('StreamInterrupted');
  });

  it('a stream cut inside a tool call: a clear error, nothing continued', async () => {
    stack.fakes.openai.script('primary', {
      kind: 'ok',
      toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris', unit: 'celsius' } }],
      pieces: 4,
      cutAfter: 2,
    });
    const s = await streamChat(client, {
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
    });
    expect(s.error).toBeInstanceOf(APIError);
    expect((s.error as Error).message).toMatch(/interrupted after \d+ chunks/);
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
    const r = await record(s.requestId);
    expect(r.error!.type).toBe('StreamInterrupted');
  });
});
