/**
 * Context fitting over real HTTP with the official openai SDK (issue 26): a conversation longer
 * than the one (small-window) model's window is refused with 400 by default, as before; with
 * `switchyard.fit: truncate` (or `X-Switchyard-Fit`, or the tenant's default) its oldest turns are
 * dropped; with `summarize` they are summarized by a child request first (cached by the turns'
 * hash), and the provider gets the summary before the kept turns. The decision records it all.
 */
import OpenAI from 'openai';
import type { FitRecord } from '../../src/domain/fit';
import { requestIdFor } from '../../src/api/submit';
import { until } from '../support/chaos';
import { recordHistory } from '../support/histories';
import {
  anthropicClient,
  fakeCatalog,
  fakeModel,
  finishedRecord,
  openaiClient,
  streamChat,
  useTestStack,
} from '../support/stack';

const stack = useTestStack(
  {
    catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'small', { contextWindow: 1_500, maxOutputTokens: 100 })]),
    config: { retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } } },
  },
  { resetFakes: true },
);

const SYSTEM = 'You are a helpful assistant.';
const words = (i: number, n: number) => Array.from({ length: n }, (_, k) => `word${(i * 7 + k) % 50}`).join(' ');
/** 8 earlier turns of ~90 tokens a message, then a ~600-token question: ~2,000 tokens in all. */
const conversation = (tag = ''): OpenAI.ChatCompletionMessageParam[] => [
  { role: 'system', content: SYSTEM },
  ...Array.from({ length: 8 }, (_, i): OpenAI.ChatCompletionMessageParam[] => [
    { role: 'user', content: `Question ${i}${tag}: ${words(i, 40)}` },
    { role: 'assistant', content: `Answer ${i}${tag}: ${words(i + 1, 40)}` },
  ]).flat(),
  { role: 'user', content: `Final question${tag}: ${words(99, 300)}` },
];
const SUMMARY = 'The user asked eight questions about words; the assistant answered each.';
const SUMMARY_JSON = JSON.stringify({ summary: SUMMARY, keyPoints: ['eight questions were asked'] });

type Sent = { messages: Array<{ role: string; content: string }> };
const sentMessages = (i: number) => (stack.fakes.openai.calls[i]!.body as Sent).messages;

async function chat(
  messages: OpenAI.ChatCompletionMessageParam[],
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  const { data, response } = await openaiClient(stack)
    .chat.completions.create({ model: 'auto', max_tokens: 100, messages, ...extra }, { headers })
    .withResponse();
  return { data, requestId: response.headers.get('x-switchyard-request-id')! };
}

async function refusal(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.BadRequestError>> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenAI.BadRequestError);
  return err as InstanceType<typeof OpenAI.BadRequestError>;
}

const decisionOf = async (id: string) =>
  (await finishedRecord<{ status: string; decision: { fit?: FitRecord; notes: string[] } }>(stack, id)).decision;

async function setTenantFit(fit: string | undefined) {
  const res = await fetch(`${stack.baseURL}/admin/tenants/${stack.tenantId}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(fit ? { fit } : {}),
  });
  expect(res.status).toBe(200);
}

it('refuses a conversation longer than every window with 400 context_length_exceeded by default', async () => {
  const err = await refusal(chat(conversation()));
  expect(err.code).toBe('context_length_exceeded');
  expect(err.param).toBe('messages');
  expect(stack.fakes.openai.calls).toHaveLength(0);
});

it('truncate: drops the oldest turns, keeps the system message and the latest turns, and records it', async () => {
  stack.fakes.openai.setDefault('small', { kind: 'ok', content: 'Fitted answer.' });
  const sent = conversation();
  const { data, requestId } = await chat(sent, { switchyard: { fit: 'truncate' } });
  expect(data.choices[0]!.message.content).toBe('Fitted answer.');

  expect(stack.fakes.openai.calls).toHaveLength(1);
  const got = sentMessages(0);
  expect(got[0]).toEqual({ role: 'system', content: SYSTEM });
  expect(got.at(-1)).toEqual(sent.at(-1));
  // A suffix of the conversation: the oldest turns went, whole (a user and its answer together).
  const dropped = sent.length - got.length;
  expect(dropped).toBeGreaterThan(0);
  expect(dropped % 2).toBe(0);
  expect(got.slice(1)).toEqual(sent.slice(1 + dropped));
  expect(got.map((m) => m.content)).not.toContain(sent[1]!.content);

  const decision = await decisionOf(requestId);
  expect(decision.fit).toMatchObject({
    mode: 'truncate',
    target_model: 'oa/small',
    window: 1_500,
    dropped_messages: dropped,
    summarized_messages: 0,
  });
  const fit = decision.fit!;
  expect(fit.tokens_before).toBeGreaterThan(1_400);
  expect(fit.tokens_after).toBeLessThanOrEqual(1_400);
  expect(fit.tokens_saved).toBe(fit.tokens_before - fit.tokens_after);
  expect(decision.notes.join('\n')).toContain(`fit (truncate): dropped ${dropped} earlier messages`);

  // The record keeps the client's conversation as sent.
  const row = await stack.db.query<{ body: { messages: unknown[] } }>(
    'select body from requests where request_id = $1',
    [requestId],
  );
  expect(row.rows[0]!.body.messages).toHaveLength(sent.length);
});

it('a streamed answer is fitted the same way', async () => {
  stack.fakes.openai.setDefault('small', { kind: 'ok', content: 'Streamed fitted answer.' });
  const sent = conversation(' (streamed)');
  const { text, error, requestId } = await streamChat(openaiClient(stack), {
    model: 'auto',
    max_tokens: 100,
    messages: sent,
    // @ts-expect-error Switchyard's extension of the body (the SDK passes unknown fields on)
    switchyard: { fit: 'truncate' },
  });
  expect(error).toBeUndefined();
  expect(text).toBe('Streamed fitted answer.');
  const got = sentMessages(0);
  expect(got.length).toBeLessThan(sent.length);
  expect(got.at(-1)).toEqual(sent.at(-1));
  expect((await decisionOf(requestId)).fit).toMatchObject({
    mode: 'truncate',
    dropped_messages: sent.length - got.length,
  });
});

it("the Anthropic SDK's /v1/messages is fitted too (X-Switchyard-Fit), its system prompt kept", async () => {
  stack.fakes.openai.setDefault('small', { kind: 'ok', content: 'Fitted for Anthropic.' });
  const sent = conversation(' (anthropic)').slice(1) as Array<{ role: 'user' | 'assistant'; content: string }>;
  const message = await anthropicClient(stack).messages.create(
    { model: 'auto', max_tokens: 100, system: SYSTEM, messages: sent },
    { headers: { 'X-Switchyard-Fit': 'truncate' } },
  );
  expect(message.content[0]).toMatchObject({ type: 'text', text: 'Fitted for Anthropic.' });
  const got = sentMessages(0);
  expect(got[0]).toEqual({ role: 'system', content: SYSTEM });
  // The kept turns start with a user message, and end with the last one.
  expect(got[1]!.role).toBe('user');
  expect(got.at(-1)).toEqual(sent.at(-1));
  expect(got.length - 1).toBeLessThan(sent.length);
});

it('X-Switchyard-Fit sets it too, and a bad value is a 400 naming the header', async () => {
  stack.fakes.openai.setDefault('small', { kind: 'ok', content: 'By header.' });
  const { data } = await chat(conversation(), {}, { 'X-Switchyard-Fit': 'truncate' });
  expect(data.choices[0]!.message.content).toBe('By header.');
  const bad = await refusal(chat(conversation(), {}, { 'X-Switchyard-Fit': 'shorten' }));
  expect(bad.param).toBe('X-Switchyard-Fit');
  const badBody = await refusal(chat(conversation(), { switchyard: { fit: 'shorten' } }));
  expect(badBody.param).toBe('switchyard.fit');
});

it('still refuses (400) when the system message and the last turn alone do not fit, and says so', async () => {
  const tooLong: OpenAI.ChatCompletionMessageParam[] = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: 'Hello' },
    { role: 'assistant', content: 'Hi' },
    { role: 'user', content: words(5, 1_000) },
  ];
  const err = await refusal(chat(tooLong, { switchyard: { fit: 'truncate' } }));
  expect(err.code).toBe('context_length_exceeded');
  expect(err.message).toContain('Context fitting (truncate) could not help: the system messages and the latest turn');
  expect(stack.fakes.openai.calls).toHaveLength(0);
});

it('summarize: a child request summarizes the dropped turns, the call gets the summary; the same turns again use the cached summary', async () => {
  stack.fakes.openai.script(
    'small',
    { kind: 'ok', content: SUMMARY_JSON },
    { kind: 'ok', content: 'Answer with a summary.' },
    { kind: 'ok', content: 'Second answer, cached summary.' },
  );
  const sent = conversation(' (summarized)');
  const first = await chat(sent, { switchyard: { fit: 'summarize' } });
  expect(first.data.choices[0]!.message.content).toBe('Answer with a summary.');
  expect(stack.fakes.openai.calls).toHaveLength(2);

  // First the summarizing call, of the oldest turns (and not of the kept ones)…
  const asked = JSON.stringify(sentMessages(0));
  expect(asked).toContain('Summarize the text');
  expect(asked).toContain('Question 0 (summarized)');
  expect(asked).not.toContain('Final question');
  // …then the main call: the system message, the summary, the latest turns.
  const got = sentMessages(1);
  expect(got[0]).toEqual({ role: 'system', content: SYSTEM });
  expect(got[1]).toEqual({ role: 'system', content: `Summary of the earlier conversation: ${SUMMARY}` });
  expect(got.at(-1)).toEqual(sent.at(-1));
  const summarized = sent.length - (got.length - 1);
  expect(got.slice(2)).toEqual(sent.slice(1 + summarized));
  expect(asked).toContain(`Question ${summarized / 2 - 1} (summarized)`);
  expect(asked).not.toContain(`Question ${summarized / 2} (summarized)`);

  const decision = await decisionOf(first.requestId);
  expect(decision.fit).toMatchObject({
    mode: 'summarize',
    target_model: 'oa/small',
    dropped_messages: summarized,
    summarized_messages: summarized,
    summary_request_id: `${first.requestId}-fit`,
    cached: false,
  });
  expect(decision.fit!.tokens_after).toBeLessThanOrEqual(1_400);
  // The summarizing request is on record as its own request.
  const child = await finishedRecord<{ status: string; operation: string }>(stack, `${first.requestId}-fit`);
  expect(child).toMatchObject({ status: 'succeeded', operation: 'summarize' });
  // The parent's history (its child and the patch marker) for the replay test.
  await recordHistory('route-context-fit', stack.env.client.workflow.getHandle(`req-${first.requestId}`));

  // The same conversation again: the summary comes from the cache, no second summarizing call.
  const second = await chat(sent, { switchyard: { fit: 'summarize' } });
  expect(second.data.choices[0]!.message.content).toBe('Second answer, cached summary.');
  expect(stack.fakes.openai.calls).toHaveLength(3);
  expect(sentMessages(2)).toEqual(got);
  expect((await decisionOf(second.requestId)).fit).toMatchObject({
    mode: 'summarize',
    cached: true,
    summary_request_id: `${first.requestId}-fit`,
  });
});

it('summarize falls back to truncation when the summary fails, and records why', async () => {
  stack.fakes.openai.script(
    'small',
    { kind: 'error', status: 400, message: 'bad request' },
    { kind: 'ok', content: 'Truncated instead.' },
  );
  const sent = conversation(' (failing)');
  const { data, requestId } = await chat(sent, { switchyard: { fit: 'summarize' } });
  expect(data.choices[0]!.message.content).toBe('Truncated instead.');
  const got = sentMessages(1);
  expect(got.some((m) => m.content.startsWith('Summary of the earlier conversation'))).toBe(false);
  expect(got.at(-1)).toEqual(sent.at(-1));
  const { fit } = await decisionOf(requestId);
  expect(fit).toMatchObject({ mode: 'summarize', summarized_messages: 0 });
  expect(fit!.fallback).toMatch(/^summarizing failed/);
  expect(fit!.dropped_messages).toBe(sent.length - got.length);
});

it('a request cancelled while its summary is made ends cancelled, its summarizing child with it', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  stack.fakes.openai.script('small', { kind: 'ok', content: SUMMARY_JSON, waitFor: held });
  const key = `fit-cancel-${Date.now()}`;
  const requestId = requestIdFor(stack.tenantId, key);
  const pending = chat(
    conversation(' (cancelled)'),
    { switchyard: { fit: 'summarize' } },
    { 'Idempotency-Key': key },
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  // The summarizing call is in flight: the parent waits on its child.
  await until(() => stack.fakes.openai.calls.length === 1);
  await stack.env.client.workflow.getHandle(`req-${requestId}`).cancel();
  const err = await pending;
  expect(err).toBeInstanceOf(OpenAI.APIError);
  expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(409);
  expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('Cancelled');
  release();
  expect(await finishedRecord<{ status: string; error: { type: string } }>(stack, requestId)).toMatchObject({
    status: 'failed',
    error: { type: 'Cancelled' },
  });
  expect(await finishedRecord<{ status: string; error: { type: string } }>(stack, `${requestId}-fit`)).toMatchObject({
    status: 'failed',
    error: { type: 'Cancelled' },
  });
  // Nothing was sent for the main call.
  expect(stack.fakes.openai.calls).toHaveLength(1);
});

describe("the tenant's default", () => {
  afterAll(() => setTenantFit(undefined));

  it('applies without the per-request field, and a request may turn it off', async () => {
    await setTenantFit('truncate');
    stack.fakes.openai.setDefault('small', { kind: 'ok', content: 'Tenant default.' });
    const { data, requestId } = await chat(conversation(' (tenant)'));
    expect(data.choices[0]!.message.content).toBe('Tenant default.');
    expect((await decisionOf(requestId)).fit).toMatchObject({ mode: 'truncate' });

    const err = await refusal(chat(conversation(' (tenant)'), { switchyard: { fit: 'off' } }));
    expect(err.code).toBe('context_length_exceeded');
    expect(stack.fakes.openai.calls).toHaveLength(1);
  });
});
