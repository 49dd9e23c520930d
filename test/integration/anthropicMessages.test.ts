/**
 * `POST /v1/messages` with the official `@anthropic-ai/sdk` (only its base URL changed), served by
 * an OpenAI-format provider: the request mapped one way and the answer the other, tool use
 * included (created and streamed).
 */
import type Anthropic from '@anthropic-ai/sdk';
import { fakeCatalog, fakeModel, useTestStack, anthropicClient } from '../support/stack';

let client: Anthropic;

const stack = useTestStack(
  {
    catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'chat', { capabilities: ['chat', 'vision', 'tools'] })]),
  },
  { timeout: 120_000 },
);
beforeAll(() => {
  client = anthropicClient(stack);
});

it('answers messages.create from an OpenAI-format provider, mapping both ways', async () => {
  stack.fakes.openai.script('chat', { kind: 'ok', content: 'Hello from the other format.' });
  const message = await client.messages.create({
    model: 'auto',
    max_tokens: 200,
    system: 'Be brief.',
    stop_sequences: ['END'],
    metadata: { user_id: 'user-7' },
    messages: [
      { role: 'user', content: 'Hi there' },
      { role: 'assistant', content: 'Hello.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'And this picture?' },
          { type: 'image', source: { type: 'url', url: 'https://example.com/p.png' } },
        ],
      },
    ],
  });
  expect(message).toMatchObject({
    type: 'message',
    role: 'assistant',
    model: 'oa/chat',
    content: [{ type: 'text', text: 'Hello from the other format.' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
  });
  expect(message.id).toMatch(/^msg_/);
  expect(message.usage.input_tokens).toBeGreaterThan(0);
  expect(message.usage.output_tokens).toBeGreaterThan(0);
  // What the OpenAI-format provider received.
  const sent = stack.fakes.openai.callsFor('chat').at(-1)!.body;
  expect(sent).toMatchObject({
    model: 'chat',
    max_completion_tokens: 200,
    stop: ['END'],
    user: 'user-7',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi there' },
      { role: 'assistant', content: 'Hello.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'And this picture?' },
          { type: 'image_url', image_url: { url: 'https://example.com/p.png' } },
        ],
      },
    ],
  });
});

it('counts tokens, and refuses what it does not take yet with a 400', async () => {
  const counted = await client.messages.countTokens({
    model: 'auto',
    messages: [{ role: 'user', content: 'How many tokens is this sentence?' }],
  });
  expect(counted.input_tokens).toBeGreaterThan(5);
  await expect(
    client.messages.create({
      model: 'auto',
      max_tokens: 10,
      messages: [
        {
          role: 'user',
          content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }],
        },
      ],
    }),
  ).rejects.toMatchObject({ status: 400 });
  // max_tokens is required, as in Anthropic's API.
  const r = await fetch(`${stack.baseURL}/messages`, {
    method: 'POST',
    headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(r.status).toBe(400);
  expect(((await r.json()) as { error: { param: string } }).error.param).toBe('max_tokens');
});

const weatherTool = {
  name: 'get_weather',
  description: 'Weather in a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] },
};

it('tool use round-trips: tools and tool_choice out, tool_use back, tool_result in the next turn', async () => {
  stack.fakes.openai.script('chat', { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const first = await client.messages.create({
    model: 'oa/chat',
    max_tokens: 200,
    tools: [weatherTool],
    tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
    messages: [{ role: 'user', content: 'Weather in Oslo?' }],
  });
  expect(first.stop_reason).toBe('tool_use');
  expect(first.content).toEqual([
    { type: 'tool_use', id: 'call_fake_0', name: 'get_weather', input: { city: 'Oslo' } },
  ]);
  expect(stack.fakes.openai.callsFor('chat').at(-1)!.body).toMatchObject({
    tools: [
      {
        type: 'function',
        function: { name: 'get_weather', description: 'Weather in a city', parameters: weatherTool.input_schema },
      },
    ],
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    parallel_tool_calls: false,
  });

  stack.fakes.openai.script('chat', { kind: 'ok', content: 'It is 4 °C in Oslo.' });
  const second = await client.messages.create({
    model: 'oa/chat',
    max_tokens: 200,
    tools: [weatherTool],
    messages: [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_fake_0', content: '{"celsius": 4}' }] },
    ],
  });
  expect(second.content).toEqual([{ type: 'text', text: 'It is 4 °C in Oslo.' }]);
  expect((stack.fakes.openai.callsFor('chat').at(-1)!.body as { messages: unknown[] }).messages).toEqual([
    { role: 'user', content: 'Weather in Oslo?' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_fake_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'call_fake_0', content: '{"celsius": 4}' },
  ]);
});

it('streams tool use as tool_use blocks with input_json_delta pieces', async () => {
  stack.fakes.openai.script('chat', { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const s = client.messages.stream({
    model: 'oa/chat',
    max_tokens: 200,
    tools: [weatherTool],
    messages: [{ role: 'user', content: 'Weather in Oslo?' }],
  });
  const pieces: string[] = [];
  s.on('inputJson', (partial) => pieces.push(partial));
  const message = await s.finalMessage();
  expect(pieces.length).toBeGreaterThan(1);
  expect(message.stop_reason).toBe('tool_use');
  expect(message.content).toEqual([
    expect.objectContaining({ type: 'tool_use', id: 'call_fake_0', name: 'get_weather', input: { city: 'Oslo' } }),
  ]);
});
