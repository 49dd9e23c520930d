/**
 * Tool calls round-trip with the official `openai` client against an OpenAI-format and an
 * Anthropic-format provider: tools and tool_choice go out in each wire format, the model's calls
 * come back as OpenAI `tool_calls`, and the next turn's tool results reach the provider mapped.
 */
import type OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { fakeCatalog, fakeModel, openaiClient, useTestStack } from '../support/stack';

let client: OpenAI;

const stack = useTestStack(
  {
    catalog: (f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'plain'),
        fakeModel('oa', 'agent', { capabilities: ['chat', 'tools'], inputPricePerMTok: 1 }),
        fakeModel('an', 'agent', { capabilities: ['chat', 'tools'], inputPricePerMTok: 2 }),
      ]),
  },
  { timeout: 120_000 },
);
beforeAll(() => {
  client = openaiClient(stack);
});

const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const tools: ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters } },
];

it.each([
  ['oa/agent', 'openai'],
  ['an/agent', 'anthropic'],
] as const)('round-trips a tool call through %s (%s wire format)', async (model, format) => {
  const fake = stack.fakes[format];
  fake.script('agent', { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const first = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Weather in Oslo?' }],
    tools,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    parallel_tool_calls: false,
  });
  const call = first.choices[0]!.message.tool_calls![0]!;
  expect(first.choices[0]!.finish_reason).toBe('tool_calls');
  expect(first.choices[0]!.message.content).toBeNull();
  expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
  expect(JSON.parse(call.type === 'function' ? call.function.arguments : '{}')).toEqual({ city: 'Oslo' });

  const sentFirst = fake.callsFor('agent').at(-1)!.body;
  if (format === 'openai')
    expect(sentFirst).toMatchObject({
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
    });
  else
    expect(sentFirst).toMatchObject({
      tools: [{ name: 'get_weather', description: 'Weather in a city', input_schema: parameters }],
      tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
    });

  // The next turn carries the call and its result.
  fake.script('agent', { kind: 'ok', content: 'It is 4 °C in Oslo.' });
  const history: ChatCompletionMessageParam[] = [
    { role: 'user', content: 'Weather in Oslo?' },
    first.choices[0]!.message as ChatCompletionMessageParam,
    { role: 'tool', tool_call_id: call.id, content: '{"celsius": 4}' },
  ];
  const second = await client.chat.completions.create({ model, messages: history, tools });
  expect(second.choices[0]!.message.content).toBe('It is 4 °C in Oslo.');
  const sentSecond = fake.callsFor('agent').at(-1)!.body as { messages: unknown[] };
  if (format === 'openai')
    expect(sentSecond.messages.slice(1)).toEqual([
      expect.objectContaining({ role: 'assistant', tool_calls: [expect.objectContaining({ id: call.id })] }),
      { role: 'tool', tool_call_id: call.id, content: '{"celsius": 4}' },
    ]);
  else
    expect(sentSecond.messages).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: call.id, name: 'get_weather', input: { city: 'Oslo' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '{"celsius": 4}' }] },
    ]);
});

it('routes a request with tools only to models with the tools capability', async () => {
  const routed = await client.chat.completions
    .create({ model: 'auto', messages: [{ role: 'user', content: 'Weather?' }], tools })
    .withResponse();
  expect(routed.response.headers.get('x-switchyard-model')).toMatch(/\/agent$/);
  // tool_choice none: no tool can be called, any model will do (the cheapest, without tools).
  const none = await client.chat.completions
    .create({ model: 'auto', messages: [{ role: 'user', content: 'Hi' }], tools, tool_choice: 'none' })
    .withResponse();
  expect(none.response.headers.get('x-switchyard-model')).toBe('oa/plain');
  // The decision says why the model without tools was left out.
  const dry = await stack.post('/route', { model: 'auto', messages: [{ role: 'user', content: 'Weather?' }], tools });
  expect(dry.body.decision.rejected).toEqual([
    expect.objectContaining({
      modelId: 'oa/plain',
      filter: 'capability',
      reason: 'no tools capability (the request offers tools)',
    }),
  ]);
  await expect(
    client.chat.completions.create({
      model: 'auto',
      messages: [{ role: 'user', content: 'Weather?' }],
      tools,
      tool_choice: { type: 'function', function: { name: 'nope' } },
    }),
  ).rejects.toMatchObject({ status: 400, param: 'tool_choice' });
});
