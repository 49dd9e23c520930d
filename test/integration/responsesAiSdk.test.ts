/**
 * The Vercel AI SDK's default OpenAI provider against Switchyard: `createOpenAI(...)(id)` is the
 * Responses model, so `generateText`, `streamText`, multi-step tool loops, `Output.object` and image
 * parts all go through `/v1/responses` and must parse with the SDK's strict schemas. Checked on both
 * sides: what the SDK returns, and what the fake provider was sent.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, Output, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { fakeCatalog, useTestStack } from '../support/stack';
import { responsesModels } from '../support/responsesCatalog';

const stack = useTestStack(
  {
    catalog: (f) => fakeCatalog(f, [...responsesModels()]),
  },
  { timeout: 120_000, resetFakes: true },
);

const provider = () => createOpenAI({ baseURL: stack.baseURL, apiKey: stack.apiKey });
const fake = () => stack.fakes.openai;
type Message = { role: string; content: unknown; tool_calls?: unknown; tool_call_id?: string };
const sentMessages = (model: string, i = -1) =>
  (fake().callsFor(model).at(i)!.body as { messages: Message[] }).messages;
/** A user turn's text, whichever way the content came (a string or text parts). */
const textOf = (content: unknown) =>
  typeof content === 'string' ? content : (content as Array<{ text?: string }>).map((p) => p.text ?? '').join('');

it('generateText: the text, usage and a resp_ id; the system prompt reaches the provider', async () => {
  fake().script('chat', { kind: 'ok', content: 'Hello from Switchyard' });
  const result = await generateText({
    model: provider()('oa/chat'),
    system: 'Be brief',
    prompt: 'Say hello',
    maxRetries: 0,
  });
  expect(result.text).toBe('Hello from Switchyard');
  expect(result.finishReason).toBe('stop');
  expect(result.response.id).toMatch(/^resp_/);
  expect(result.usage.inputTokens).toBeGreaterThan(0);
  expect(result.usage.outputTokens).toBeGreaterThan(0);
  expect(result.usage.totalTokens).toBe(result.usage.inputTokens! + result.usage.outputTokens!);
  const sent = sentMessages('chat');
  expect(sent.map((m) => m.role)).toEqual(['system', 'user']);
  expect(textOf(sent[0]!.content)).toBe('Be brief');
  expect(textOf(sent[1]!.content)).toBe('Say hello');
});

it('streamText: the streamed text, and the response id', async () => {
  fake().script('chat', { kind: 'ok', content: 'Streaming through the Responses API' });
  const errors: unknown[] = [];
  const result = streamText({
    model: provider()('oa/chat'),
    prompt: 'Stream something',
    maxRetries: 0,
    onError: ({ error }) => void errors.push(error),
  });
  const chunks: string[] = [];
  for await (const t of result.textStream) chunks.push(t);
  expect(errors).toEqual([]);
  expect(chunks.length).toBeGreaterThan(1);
  expect(await result.text).toBe('Streaming through the Responses API');
  expect(await result.finishReason).toBe('stop');
  expect((await result.response).id).toMatch(/^resp_/);
  expect((await result.usage).outputTokens).toBeGreaterThan(0);
  expect(fake().callsFor('chat').at(-1)!.body.stream).toBe(true);
});

describe.each([false, true])('a tool loop (stopWhen: stepCountIs(3)), streamed: %s', (streamed) => {
  it('calls the tool, sends its result back, and ends with the answer', async () => {
    fake().script('agent', { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
    fake().script('agent', { kind: 'ok', content: 'It is 4 °C in Oslo.' });
    const asked: string[] = [];
    const tools = {
      get_weather: tool({
        description: 'Weather in a city',
        inputSchema: z.object({ city: z.string() }),
        execute: async ({ city }) => {
          asked.push(city);
          return { celsius: 4 };
        },
      }),
    };
    const settings = {
      model: provider()('oa/agent'),
      prompt: 'Weather in Oslo?',
      tools,
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    };
    let text: string;
    let steps: Array<{ toolCalls: unknown[]; response: { id: string } }>;
    if (streamed) {
      const errors: unknown[] = [];
      const result = streamText({ ...settings, onError: ({ error }) => void errors.push(error) });
      text = await result.text;
      steps = await result.steps;
      expect(errors).toEqual([]);
    } else {
      const result = await generateText(settings);
      text = result.text;
      steps = result.steps;
    }
    expect(asked).toEqual(['Oslo']);
    expect(text).toBe('It is 4 °C in Oslo.');
    expect(steps).toHaveLength(2);
    expect(steps[0]!.toolCalls).toEqual([
      expect.objectContaining({ toolName: 'get_weather', toolCallId: 'call_fake_0', input: { city: 'Oslo' } }),
    ]);
    for (const s of steps) expect(s.response.id).toMatch(/^resp_/);

    expect(fake().callsFor('agent')).toHaveLength(2);
    expect(fake().callsFor('agent')[0]!.body.tools).toEqual([
      {
        type: 'function',
        function: expect.objectContaining({ name: 'get_weather', description: 'Weather in a city' }),
      },
    ]);
    const second = sentMessages('agent');
    expect(second.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(second[1]!.tool_calls).toEqual([
      {
        id: 'call_fake_0',
        type: 'function',
        function: { name: 'get_weather', arguments: expect.any(String) },
      },
    ]);
    expect(
      JSON.parse((second[1]!.tool_calls as Array<{ function: { arguments: string } }>)[0]!.function.arguments),
    ).toEqual({ city: 'Oslo' });
    expect(second[2]).toMatchObject({ role: 'tool', tool_call_id: 'call_fake_0' });
    expect(JSON.parse(textOf(second[2]!.content))).toEqual({ celsius: 4 });
  });
});

it('Output.object: a json_schema request, routed to a JSON-capable model, parsed into the object', async () => {
  fake().script('json', { kind: 'ok', content: '{"city": "Oslo", "celsius": 4}' });
  const result = await generateText({
    model: provider()('auto'),
    output: Output.object({ schema: z.object({ city: z.string(), celsius: z.number() }) }),
    prompt: 'Weather in Oslo as JSON',
    maxRetries: 0,
  });
  expect(result.output).toEqual({ city: 'Oslo', celsius: 4 });
  const format = fake().callsFor('json').at(-1)!.body.response_format as {
    type: string;
    json_schema: { name: string; strict?: boolean; schema: Record<string, unknown> };
  };
  expect(format).toMatchObject({
    type: 'json_schema',
    json_schema: {
      name: 'response',
      strict: true,
      schema: expect.objectContaining({ type: 'object', required: ['city', 'celsius'] }),
    },
  });
});

it('an image part (URL and bytes) goes to a model that sees images', async () => {
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
  const result = await generateText({
    model: provider()('auto'),
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these pictures?' },
          { type: 'image', image: new URL('https://example.com/cat.jpg') },
          { type: 'image', image: Buffer.from(png, 'base64'), mediaType: 'image/png' },
        ],
      },
    ],
    maxRetries: 0,
  });
  expect(result.text).toBe('fake answer from eye');
  expect(sentMessages('eye')).toEqual([
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in these pictures?' },
        { type: 'image_url', image_url: expect.objectContaining({ url: 'https://example.com/cat.jpg' }) },
        { type: 'image_url', image_url: expect.objectContaining({ url: `data:image/png;base64,${png}` }) },
      ],
    },
  ]);
});
