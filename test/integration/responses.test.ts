/**
 * The Responses API (`/v1/responses`) with the official `openai` Node client (`client.responses.*`)
 * against the fake providers: plain and streamed answers, a tool round trip, structured output,
 * images, chains (`previous_response_id`, `item_reference`), the stored object (GET, input items,
 * DELETE, `store: false`), background responses (poll, stream and resume, cancel), and the usual
 * refusals. Each answer is checked where it lands: the client's parsed object, what the provider was
 * sent, and the request's own record.
 */
import OpenAI from 'openai';
import type {
  Response as OpenAIResponse,
  ResponseFunctionToolCall,
  ResponseInput,
  ResponseStreamEvent,
} from 'openai/resources/responses/responses';
import { upsertApiKey } from '../../src/db/apiKeys';
import { until } from '../support/chaos';
import { uniqueId } from '../support/db';
import { fakeCatalog, fakeModel, openaiClient, setDailyBudget, useTestStack } from '../support/stack';
import { responsesModels } from '../support/responsesCatalog';

let client: OpenAI;

const stack = useTestStack(
  {
    catalog: (f) => fakeCatalog(f, [...responsesModels(), fakeModel('oa', 'slow', { inputPricePerMTok: 1 })]),
    // The hanging call runs as a regular activity (its timeout is over the fast path's 60 s): a
    // local activity held that long can run twice when its workflow task times out on a loaded
    // machine (a CI run recorded this cancelled request as succeeded).
    config: { retry: { models: { 'oa/slow': { timeoutMs: 120_000 } } } },
  },
  { timeout: 120_000, resetFakes: true },
);

beforeAll(async () => {
  client = openaiClient(stack);
  // A budget, so every request reserves its worst case (the cancel test checks it is released).
  await setDailyBudget(stack, 100);
});

const fake = () => stack.fakes.openai;
type Message = { role: string; content: unknown; tool_calls?: unknown; tool_call_id?: string };
const sentMessages = (model: string) => (fake().callsFor(model).at(-1)!.body as { messages: Message[] }).messages;
/** A message's text, whichever way it was sent (a string, or text parts). */
const textOf = (content: unknown) =>
  typeof content === 'string' || content === null
    ? content
    : (content as Array<{ type: string; text?: string }>).map((p) => p.text ?? `<${p.type}>`).join('');
const rolesAndContent = (messages: Message[]) => messages.map((m) => ({ role: m.role, content: textOf(m.content) }));

/** `GET /v1/requests/{id}`: the request's record. */
async function requestRecord(requestId: string) {
  const res = await fetch(`${stack.baseURL}/requests/${requestId}`, {
    headers: { authorization: `Bearer ${stack.apiKey}` },
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const requestIdOf = (responseId: string) => responseId.replace(/^resp_/, '');

/** A second tenant of the same deployment, with its own key. */
async function otherTenantClient() {
  const key = `sk-sy-${uniqueId('other')}`;
  await upsertApiKey(stack.db, uniqueId('tenant-other'), key, 'other');
  return new OpenAI({ apiKey: key, baseURL: stack.baseURL, maxRetries: 0 });
}

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
};

it('answers a plain request: instructions reach the provider as a system message, and the record is the request', async () => {
  fake().script('chat', { kind: 'ok', content: 'Hello there' });
  const { data: r, response } = await client.responses
    .create({ model: 'oa/chat', input: 'Hi', instructions: 'Be brief' })
    .withResponse();
  const requestId = response.headers.get('x-switchyard-request-id');
  expect(requestId).toBeTruthy();
  expect(r.id).toBe(`resp_${requestId}`);
  expect(r).toMatchObject({
    object: 'response',
    status: 'completed',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: 'Be brief',
    previous_response_id: null,
    store: true,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    metadata: {},
    output: [
      {
        id: expect.stringMatching(/^msg_/),
        type: 'message',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Hello there', annotations: [] }],
      },
    ],
    usage: {
      input_tokens: expect.any(Number),
      output_tokens: expect.any(Number),
      total_tokens: expect.any(Number),
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    },
  });
  expect(r.usage!.total_tokens).toBe(r.usage!.input_tokens + r.usage!.output_tokens);
  expect(r.output_text).toBe('Hello there'); // computed by the client from `output`
  expect(response.headers.get('x-switchyard-model')).toBe('oa/chat');
  expect(rolesAndContent(sentMessages('chat'))).toEqual([
    { role: 'system', content: 'Be brief' },
    { role: 'user', content: 'Hi' },
  ]);

  // The response is a request like any other: its record has the answer, usage and attempts.
  const record = await requestRecord(requestId!);
  expect(record.status).toBe(200);
  expect(record.body).toMatchObject({
    request_id: requestId,
    status: 'succeeded',
    response: { content: 'Hello there' },
    usage: { input_tokens: r.usage!.input_tokens, output_tokens: r.usage!.output_tokens },
  });
});

it('streams a text answer: the events in order, numbered from 0, the deltas joining to the answer', async () => {
  fake().script('chat', { kind: 'ok', content: 'Hello there' });
  const stream = await client.responses.create({ model: 'oa/chat', input: 'Hi', stream: true });
  const events: ResponseStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  expect(events.map((e) => e.type)).toEqual([
    'response.created',
    'response.in_progress',
    'response.output_item.added',
    'response.content_part.added',
    'response.output_text.delta',
    'response.output_text.delta',
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
    'response.completed',
  ]);
  expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
  const deltas = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []));
  expect(deltas.join('')).toBe('Hello there');
  const created = events[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>;
  const completed = events.at(-1) as Extract<ResponseStreamEvent, { type: 'response.completed' }>;
  expect(created.response).toMatchObject({ status: 'in_progress', output: [] });
  expect(completed.response.id).toBe(created.response.id);
  // The item's id is the same in every event that names it, and in the completed response.
  const itemIds = new Set(
    events.flatMap((e) => ('item_id' in e ? [e.item_id] : 'item' in e && e.item && 'id' in e.item ? [e.item.id] : [])),
  );
  expect([...itemIds]).toEqual([completed.response.output[0]!.id]);
  expect(completed.response).toMatchObject({
    status: 'completed',
    output: [{ type: 'message', content: [{ type: 'output_text', text: 'Hello there', annotations: [] }] }],
    usage: { total_tokens: expect.any(Number) },
  });
  expect(fake().callsFor('chat').at(-1)!.body.stream).toBe(true);

  // The stream helper accepts the same events and builds the final response from them.
  fake().script('chat', { kind: 'ok', content: 'Hello again' });
  const helper = client.responses.stream({ model: 'oa/chat', input: 'Hi' });
  const texts: string[] = [];
  helper.on('response.output_text.delta', (e) => texts.push(e.delta));
  const final = await helper.finalResponse();
  expect(texts.join('')).toBe('Hello again');
  // finalResponse() has no output_text (only create/retrieve add it): read the item.
  const item = final.output[0]!;
  expect(item.type === 'message' && item.content[0]!.type === 'output_text' && item.content[0]!.text).toBe(
    'Hello again',
  );
});

it('round-trips a tool call: the output goes back as input with the result, and the provider gets chat tool messages', async () => {
  fake().script('agent', { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const input: ResponseInput = [{ role: 'user', content: 'Weather in Oslo?' }];
  const first = await client.responses.create({ model: 'oa/agent', input, tools: [weatherTool] });
  expect(first.status).toBe('completed');
  const calls = first.output.filter((i): i is ResponseFunctionToolCall => i.type === 'function_call');
  expect(calls).toEqual([
    {
      id: expect.stringMatching(/^fc_/),
      type: 'function_call',
      status: 'completed',
      call_id: 'call_fake_0',
      name: 'get_weather',
      arguments: expect.any(String),
    },
  ]);
  expect(JSON.parse(calls[0]!.arguments)).toEqual({ city: 'Oslo' });
  expect(first.tools).toEqual([expect.objectContaining({ type: 'function', name: 'get_weather' })]);
  expect(fake().callsFor('agent').at(-1)!.body.tools).toEqual([
    {
      type: 'function',
      function: expect.objectContaining({
        name: 'get_weather',
        description: 'Weather in a city',
        parameters: weatherTool.parameters,
      }),
    },
  ]);

  fake().script('agent', { kind: 'ok', content: 'It is 4 °C in Oslo.' });
  const second = await client.responses.create({
    model: 'oa/agent',
    input: [
      ...input,
      ...(first.output as ResponseInput),
      { type: 'function_call_output', call_id: calls[0]!.call_id, output: '{"celsius": 4}' },
    ],
    tools: [weatherTool],
  });
  expect(second.output_text).toBe('It is 4 °C in Oslo.');
  const sent = sentMessages('agent');
  expect(sent.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
  expect(textOf(sent[0]!.content)).toBe('Weather in Oslo?');
  expect(sent.slice(1)).toEqual([
    expect.objectContaining({
      role: 'assistant',
      tool_calls: [
        {
          id: 'call_fake_0',
          type: 'function',
          function: { name: 'get_weather', arguments: calls[0]!.arguments },
        },
      ],
    }),
    { role: 'tool', tool_call_id: 'call_fake_0', content: '{"celsius": 4}' },
  ]);
});

it('text.format json_schema routes to a JSON-capable model, which gets response_format, and the answer parses', async () => {
  const schema = {
    type: 'object',
    properties: { city: { type: 'string' }, celsius: { type: 'number' } },
    required: ['city', 'celsius'],
    additionalProperties: false,
  };
  fake().script('json', { kind: 'ok', content: '{"city": "Oslo", "celsius": 4}' });
  const { data: r, response } = await client.responses
    .create({
      model: 'auto',
      input: 'Weather in Oslo as JSON',
      text: { format: { type: 'json_schema', name: 'weather', schema, strict: true } },
    })
    .withResponse();
  expect(response.headers.get('x-switchyard-model')).toBe('oa/json');
  expect(JSON.parse(r.output_text)).toEqual({ city: 'Oslo', celsius: 4 });
  expect(r.text).toMatchObject({ format: { type: 'json_schema', name: 'weather' } });
  expect(fake().callsFor('json').at(-1)!.body.response_format).toEqual({
    type: 'json_schema',
    json_schema: expect.objectContaining({ name: 'weather', schema, strict: true }),
  });

  // A schema that does not compile is a 400 naming the parameter, before any provider call.
  const calls = fake().calls.length;
  await expect(
    client.responses.create({
      model: 'auto',
      input: 'x',
      text: { format: { type: 'json_schema', name: 'bad', schema: { type: 'no-such-type' } } },
    }),
  ).rejects.toMatchObject({ status: 400, param: 'text.format.schema' });
  expect(fake().calls.length).toBe(calls);
});

it('sends images (a URL and inline data) only to a model that sees them', async () => {
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
  const { data: r, response } = await client.responses
    .create({
      model: 'auto',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is in these pictures?' },
            { type: 'input_image', image_url: 'https://example.com/cat.jpg', detail: 'auto' },
            { type: 'input_image', image_url: `data:image/png;base64,${png}`, detail: 'low' },
          ],
        },
      ],
    })
    .withResponse();
  expect(r.status).toBe('completed');
  expect(response.headers.get('x-switchyard-model')).toBe('oa/eye');
  expect(r.output_text).toBe('fake answer from eye');
  expect(sentMessages('eye')).toEqual([
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in these pictures?' },
        { type: 'image_url', image_url: expect.objectContaining({ url: 'https://example.com/cat.jpg' }) },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${png}`, detail: 'low' } },
      ],
    },
  ]);
});

it('previous_response_id: the provider gets the whole conversation, without the earlier instructions', async () => {
  fake().script('chat', { kind: 'ok', content: 'Nice to meet you, Ada.' });
  const r1 = await client.responses.create({ model: 'oa/chat', input: 'My name is Ada.', instructions: 'Be brief' });
  fake().script('chat', { kind: 'ok', content: 'Your name is Ada.' });
  const r2 = await client.responses.create({
    model: 'oa/chat',
    input: 'What is my name?',
    previous_response_id: r1.id,
    instructions: 'Answer in English',
  });
  expect(r2).toMatchObject({ previous_response_id: r1.id, instructions: 'Answer in English' });
  expect(r2.output_text).toBe('Your name is Ada.');
  expect(rolesAndContent(sentMessages('chat'))).toEqual([
    { role: 'system', content: 'Answer in English' },
    { role: 'user', content: 'My name is Ada.' },
    { role: 'assistant', content: 'Nice to meet you, Ada.' },
    { role: 'user', content: 'What is my name?' },
  ]);

  // A third link carries both earlier turns.
  fake().script('chat', { kind: 'ok', content: 'Goodbye, Ada.' });
  await client.responses.create({ model: 'oa/chat', input: 'Bye', previous_response_id: r2.id });
  expect(rolesAndContent(sentMessages('chat'))).toEqual([
    { role: 'user', content: 'My name is Ada.' },
    { role: 'assistant', content: 'Nice to meet you, Ada.' },
    { role: 'user', content: 'What is my name?' },
    { role: 'assistant', content: 'Your name is Ada.' },
    { role: 'user', content: 'Bye' },
  ]);

  // Another tenant cannot chain onto it, nor see it; an unknown id is refused the same way.
  const calls = fake().calls.length;
  const other = await otherTenantClient();
  for (const id of [r1.id, 'resp_nope'])
    await expect(
      other.responses.create({ model: 'oa/chat', input: 'What is my name?', previous_response_id: id }),
    ).rejects.toMatchObject({ status: 400, param: 'previous_response_id', code: 'previous_response_not_found' });
  await expect(other.responses.retrieve(r1.id)).rejects.toMatchObject({ status: 404 });
  expect(fake().calls.length).toBe(calls);
});

it('item_reference: input and output items of an earlier response are resolved into the conversation', async () => {
  fake().script('chat', { kind: 'ok', content: 'Hi there!' });
  const r1 = await client.responses.create({ model: 'oa/chat', input: [{ role: 'user', content: 'Say hi' }] });
  const [userItem] = (await client.responses.inputItems.list(r1.id)).data;
  expect(userItem).toMatchObject({ type: 'message', role: 'user' });
  fake().script('chat', { kind: 'ok', content: 'Hi again!' });
  const r2 = await client.responses.create({
    model: 'oa/chat',
    input: [
      { type: 'item_reference', id: userItem!.id },
      { type: 'item_reference', id: r1.output[0]!.id! },
      { role: 'user', content: 'Again' },
    ],
  });
  expect(r2.output_text).toBe('Hi again!');
  expect(rolesAndContent(sentMessages('chat'))).toEqual([
    { role: 'user', content: 'Say hi' },
    { role: 'assistant', content: 'Hi there!' },
    { role: 'user', content: 'Again' },
  ]);
  await expect(
    client.responses.create({
      model: 'oa/chat',
      input: [
        { role: 'user', content: 'x' },
        { type: 'item_reference', id: 'msg_nope' },
      ],
    }),
  ).rejects.toMatchObject({ status: 400, param: 'input[1].id', code: 'item_not_found' });
});

it('keeps the response: GET, input items paged in either order, DELETE (then 404); store:false keeps nothing', async () => {
  fake().script('chat', { kind: 'ok', content: 'four' });
  const { data: r, response } = await client.responses
    .create({
      model: 'oa/chat',
      instructions: 'Count',
      input: [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'two' },
        { role: 'user', content: 'three' },
      ],
      metadata: { run: 'keep' },
    })
    .withResponse();
  const requestId = response.headers.get('x-switchyard-request-id')!;

  const got = await client.responses.retrieve(r.id);
  expect(got).toMatchObject({
    id: r.id,
    status: 'completed',
    instructions: 'Count',
    metadata: { run: 'keep' },
    output: r.output,
    usage: r.usage,
  });
  expect(got.output_text).toBe('four');

  const textOf = (item: unknown) => {
    const content = (item as { content: Array<{ text: string }> | string }).content;
    return typeof content === 'string' ? content : content.map((c) => c.text).join('');
  };
  const desc = await client.responses.inputItems.list(r.id);
  expect(desc.data.map(textOf)).toEqual(['three', 'two', 'one']); // newest first by default
  expect(desc.has_more).toBe(false);
  for (const item of desc.data) expect(item).toMatchObject({ type: 'message', status: 'completed' });
  const asc = await client.responses.inputItems.list(r.id, { order: 'asc' });
  expect(asc.data.map(textOf)).toEqual(['one', 'two', 'three']);
  expect(new Set(asc.data.map((i) => i.id)).size).toBe(3);
  const firstTwo = await client.responses.inputItems.list(r.id, { order: 'asc', limit: 2 });
  expect(firstTwo.data.map(textOf)).toEqual(['one', 'two']);
  expect(firstTwo.has_more).toBe(true);
  const rest = await client.responses.inputItems.list(r.id, { order: 'asc', after: firstTwo.data[1]!.id });
  expect(rest.data.map(textOf)).toEqual(['three']);
  expect(rest.has_more).toBe(false);
  // The list's own fields, as the wire has them.
  const raw = await fetch(`${stack.baseURL}/responses/${r.id}/input_items?order=asc&limit=2`, {
    headers: { authorization: `Bearer ${stack.apiKey}` },
  });
  expect(await raw.json()).toMatchObject({
    object: 'list',
    first_id: asc.data[0]!.id,
    last_id: asc.data[1]!.id,
    has_more: true,
  });

  // DELETE: gone for the Responses API, while the request's record (the ledger) stays.
  await client.responses.delete(r.id);
  await expect(client.responses.retrieve(r.id)).rejects.toMatchObject({ status: 404 });
  await expect(client.responses.inputItems.list(r.id)).rejects.toMatchObject({ status: 404 });
  await expect(
    client.responses.create({ model: 'oa/chat', input: 'x', previous_response_id: r.id }),
  ).rejects.toMatchObject({ status: 400, code: 'previous_response_not_found' });
  expect((await requestRecord(requestId)).body).toMatchObject({ status: 'succeeded' });

  // store:false answers, and keeps nothing to GET.
  const unstored = await client.responses.create({ model: 'oa/chat', input: 'Hi', store: false });
  expect(unstored).toMatchObject({ status: 'completed', store: false });
  await expect(client.responses.retrieve(unstored.id)).rejects.toMatchObject({ status: 404 });
});

it('background: create answers at once (queued), GET shows it in progress, then completed', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  fake().script('chat', { kind: 'ok', content: 'done in the background', waitFor: held });
  const r = await client.responses.create({ model: 'oa/chat', input: 'Take your time', background: true });
  // Answered before the workflow has run: queued (or, at the earliest, in progress).
  expect(['queued', 'in_progress']).toContain(r.status);
  expect(r).toMatchObject({ background: true, output: [], usage: null });
  await until(() => fake().callsFor('chat').length === 1);
  expect((await client.responses.retrieve(r.id)).status).toBe('in_progress');
  release();
  let polled: OpenAIResponse = r;
  await until(async () => {
    polled = await client.responses.retrieve(r.id);
    return polled.status !== 'queued' && polled.status !== 'in_progress';
  });
  expect(polled).toMatchObject({ id: r.id, status: 'completed', background: true, error: null });
  expect(polled.output_text).toBe('done in the background');
  expect(polled.completed_at).toEqual(expect.any(Number));
});

it('background + stream: a client that breaks off resumes with starting_after, the numbering continuing', async () => {
  const words = 'one two three four five six seven eight';
  fake().script('chat', { kind: 'ok', content: words, pieceDelayMs: 40 });
  const stream = await client.responses.create({ model: 'oa/chat', input: 'Count', background: true, stream: true });
  const seen: ResponseStreamEvent[] = [];
  const K = 6;
  for await (const e of stream) {
    seen.push(e);
    if (seen.length === K) break; // aborts the connection
  }
  expect(seen.map((e) => e.sequence_number)).toEqual([0, 1, 2, 3, 4, 5]);
  expect(seen[0]!.type).toBe('response.created');
  const id = (seen[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.id;
  expect((seen[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.background).toBe(true);

  const resumed = await client.responses.retrieve(id, { stream: true, starting_after: K - 1 });
  const rest: ResponseStreamEvent[] = [];
  for await (const e of resumed) rest.push(e);
  expect(rest.map((e) => e.sequence_number)).toEqual(rest.map((_, i) => K + i));
  expect(rest.at(-1)!.type).toBe('response.completed');
  const deltas = [...seen, ...rest].flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []));
  expect(deltas.join('')).toBe(words);
  // Once, at the provider: the resumed stream replays, it does not ask again.
  expect(fake().callsFor('chat')).toHaveLength(1);
  const final = await client.responses.retrieve(id);
  expect(final).toMatchObject({ status: 'completed' });
  expect(final.output_text).toBe(words);
});

it('cancels a hanging background response: cancelled, the record failed/Cancelled, the reservation released', async () => {
  fake().script('slow', { kind: 'hang' });
  const r = await client.responses.create({ model: 'oa/slow', input: 'Never mind', background: true });
  await until(() => fake().callsFor('slow').length === 1);
  const cancelled = await client.responses.cancel(r.id);
  expect(cancelled).toMatchObject({ id: r.id, status: 'cancelled', background: true });
  expect((await client.responses.retrieve(r.id)).status).toBe('cancelled');
  // Idempotent: cancelling again answers the same.
  expect((await client.responses.cancel(r.id)).status).toBe('cancelled');

  const requestId = requestIdOf(r.id);
  await until(async () => (await requestRecord(requestId)).body.status !== 'running');
  expect((await requestRecord(requestId)).body).toMatchObject({ status: 'failed', error: { type: 'Cancelled' } });
  const reserved = async () => {
    const res = await fetch(`${stack.baseURL}/budgets`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    const body = (await res.json()) as { windows: Array<{ reserved_usd: number }> };
    return body.windows[0]!.reserved_usd;
  };
  await until(async () => (await reserved()) === 0);
  expect(await reserved()).toBe(0);

  // A response that is not a background one cannot be cancelled.
  const sync = await client.responses.create({ model: 'oa/chat', input: 'Hi' });
  await expect(client.responses.cancel(sync.id)).rejects.toMatchObject({ status: 400 });
});

it('refuses on create as chat does: an unknown model is a 404, an exhausted budget a 429', async () => {
  const calls = fake().calls.length;
  await expect(client.responses.create({ model: 'oa/nope', input: 'Hi' })).rejects.toMatchObject({
    status: 404,
    code: 'model_not_found',
    param: 'model',
  });
  await setDailyBudget(stack, 0.000001);
  try {
    const err = await client.responses.create({ model: 'oa/chat', input: 'Hi' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err).toMatchObject({ status: 429, type: 'budget_exceeded' });
  } finally {
    await setDailyBudget(stack, 100);
  }
  expect(fake().calls.length).toBe(calls);
});
