/**
 * `response_format: json_schema` with the official client: the output is checked against the
 * schema (ajv); an answer that fails it escalates to a stronger model, and the record says which
 * path of the schema failed; a schema that does not compile is a 400 before any provider is paid.
 */
import type OpenAI from 'openai';
import { fakeCatalog, fakeModel, openaiClient, useTestStack } from '../support/stack';

let client: OpenAI;

const stack = useTestStack(
  {
    catalog: (f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'cheap', { capabilities: ['chat', 'json'], qualityTier: 1 }),
        fakeModel('oa', 'best', { capabilities: ['chat', 'json'], qualityTier: 4, inputPricePerMTok: 3 }),
        fakeModel('an', 'claude', { capabilities: ['chat', 'json'], qualityTier: 4, inputPricePerMTok: 3 }),
      ]),
  },
  { timeout: 120_000 },
);
beforeAll(() => {
  client = openaiClient(stack);
});

const response_format = {
  type: 'json_schema' as const,
  json_schema: {
    name: 'weather',
    strict: true,
    schema: {
      type: 'object',
      properties: { city: { type: 'string' }, celsius: { type: 'number' } },
      required: ['city', 'celsius'],
      additionalProperties: false,
    },
  },
};

it('validates json_schema output and escalates an answer that fails it, naming the failing path', async () => {
  stack.fakes.openai.script('cheap', { kind: 'ok', content: '{"city": 5, "celsius": 4}' });
  stack.fakes.openai.script('best', { kind: 'ok', content: '{"city": "Oslo", "celsius": 4}' });
  const { data, response } = await client.chat.completions
    .create(
      { model: 'oa/cheap', messages: [{ role: 'user', content: 'Weather in Oslo as JSON' }], response_format },
      { headers: { 'X-Switchyard-Exclude-Providers': 'an' } },
    )
    .withResponse();
  expect(JSON.parse(data.choices[0]!.message.content!)).toEqual({ city: 'Oslo', celsius: 4 });
  expect(response.headers.get('x-switchyard-model')).toBe('oa/best');
  // The schema went to the provider natively.
  expect(stack.fakes.openai.callsFor('cheap').at(-1)!.body.response_format).toEqual(response_format);
  const sy = (data as unknown as { switchyard: { attempts: Array<{ errorType?: string; errorMessage?: string }> } })
    .switchyard;
  expect(sy.attempts[0]).toMatchObject({
    errorType: 'InvalidOutput',
    errorMessage: expect.stringContaining("fails the schema 'weather': /city must be string"),
  });
});

it('a schema that does not compile is a 400 before any provider call', async () => {
  const calls = stack.fakes.openai.calls.length;
  await expect(
    client.chat.completions.create({
      model: 'auto',
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: { type: 'no-such-type' } } },
    }),
  ).rejects.toMatchObject({ status: 400, code: 'invalid_json_schema', param: 'response_format.json_schema.schema' });
  expect(stack.fakes.openai.calls.length).toBe(calls);
});

it("maps json_schema to Anthropic's mechanism: a tool the model must call, whose input is the answer", async () => {
  stack.fakes.anthropic.script('claude', {
    kind: 'ok',
    toolCalls: [{ name: 'weather', arguments: { city: 'Bergen', celsius: 9 } }],
  });
  const r = await client.chat.completions.create({
    model: 'an/claude',
    messages: [{ role: 'user', content: 'Weather in Bergen as JSON' }],
    response_format,
  });
  expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ city: 'Bergen', celsius: 9 });
  expect(r.choices[0]!.message.tool_calls).toBeUndefined();
  expect(r.choices[0]!.finish_reason).toBe('stop');
  expect(stack.fakes.anthropic.callsFor('claude').at(-1)!.body).toMatchObject({
    tools: [{ name: 'weather', input_schema: response_format.json_schema.schema }],
    tool_choice: { type: 'tool', name: 'weather' },
  });
});
