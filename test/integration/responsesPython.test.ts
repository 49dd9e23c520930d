/**
 * The Responses API from the official `openai` Python client (3.51.0, installed into `.tools/` by
 * `ensurePythonClient`), run as a user's script in a subprocess (`test/support/py/responses_client.py`):
 * a plain answer, a raw stream, the stream helper (which checks the events' order and ids itself),
 * a tool round trip with `input += r.output`, and `responses.parse` with a pydantic model.
 */
import { ensurePythonClient, runDriver, type PythonClient } from '../support/pythonClient';
import { fakeCatalog, useTestStack } from '../support/stack';
import { responsesModels } from '../support/responsesCatalog';

let py: PythonClient;

beforeAll(async () => {
  py = await ensurePythonClient();
}, 300_000);

const stack = useTestStack(
  {
    catalog: (f) => fakeCatalog(f, [...responsesModels()]),
  },
  { timeout: 120_000, resetFakes: true },
);

const fake = () => stack.fakes.openai;
type Message = { role: string; content: unknown; tool_calls?: unknown; tool_call_id?: string };
const sentMessages = (model: string) => (fake().callsFor(model).at(-1)!.body as { messages: Message[] }).messages;
/** A message's text, whichever way it was sent (a string, or text parts). */
const textOf = (content: unknown) =>
  typeof content === 'string' ? content : (content as Array<{ text?: string }>).map((p) => p.text ?? '').join('');
const drive = async (scenario: string, model: string, options: Record<string, unknown> = {}) => {
  const lines = await runDriver(py, scenario, stack, model, options);
  expect(lines).toHaveLength(1);
  return lines[0] as Record<string, any>;
};

it('plain: the answer, usage, and instructions as the system message', async () => {
  fake().script('chat', { kind: 'ok', content: 'Hello from Python' });
  const out = await drive('plain', 'oa/chat', { input: 'Hi', instructions: 'Be brief' });
  expect(out).toMatchObject({
    id: expect.stringMatching(/^resp_/),
    status: 'completed',
    text: 'Hello from Python',
    usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number), total_tokens: expect.any(Number) },
  });
  expect(sentMessages('chat').map((m) => [m.role, textOf(m.content)])).toEqual([
    ['system', 'Be brief'],
    ['user', 'Hi'],
  ]);
});

it('stream: every event type in order, numbered from 0, and the final response', async () => {
  fake().script('chat', { kind: 'ok', content: 'Hello there from Python' });
  const out = await drive('stream', 'oa/chat');
  expect(out.types).toEqual([
    'response.created',
    'response.in_progress',
    'response.output_item.added',
    'response.content_part.added',
    ...Array(4).fill('response.output_text.delta'),
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
    'response.completed',
  ]);
  expect(out.sequence_numbers).toEqual(out.types.map((_: unknown, i: number) => i));
  expect(out.text).toBe('Hello there from Python');
  expect(out.final).toMatchObject({ status: 'completed', text: 'Hello there from Python' });
  expect(out.final.id).toMatch(/^resp_/);
});

it('the stream helper accepts the events and builds the final response', async () => {
  fake().script('chat', { kind: 'ok', content: 'Helped along nicely' });
  const out = await drive('stream-helper', 'oa/chat');
  expect(out.types[0]).toBe('response.created');
  expect(out.types.at(-1)).toBe('response.completed');
  expect(out.deltas.join('')).toBe('Helped along nicely');
  expect(out).toMatchObject({ status: 'completed', text: 'Helped along nicely', id: expect.stringMatching(/^resp_/) });
});

it('a tool round trip: the output items go back as input with the result', async () => {
  fake().script('agent', { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  fake().script('agent', { kind: 'ok', content: 'It is 4 °C in Oslo.' });
  const out = await drive('tools', 'oa/agent');
  expect(out).toMatchObject({
    first_status: 'completed',
    call: {
      id: expect.stringMatching(/^fc_/),
      call_id: 'call_fake_0',
      name: 'get_weather',
      arguments: { city: 'Oslo' },
    },
    status: 'completed',
    text: 'It is 4 °C in Oslo.',
  });
  const sent = sentMessages('agent');
  expect(sent.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
  expect(sent[1]!.tool_calls).toEqual([
    { id: 'call_fake_0', type: 'function', function: { name: 'get_weather', arguments: expect.any(String) } },
  ]);
  expect(sent[2]).toEqual({ role: 'tool', tool_call_id: 'call_fake_0', content: '{"celsius": 4}' });
});

it('structured output: responses.parse with a pydantic model, routed to a JSON-capable model', async () => {
  fake().script('json', { kind: 'ok', content: '{"city": "Oslo", "celsius": 4}' });
  const out = await drive('structured', 'auto');
  expect(out).toMatchObject({ status: 'completed', parsed: { city: 'Oslo', celsius: 4 } });
  expect(fake().callsFor('json').at(-1)!.body.response_format).toMatchObject({
    type: 'json_schema',
    json_schema: { name: 'Weather', strict: true, schema: expect.objectContaining({ required: ['city', 'celsius'] }) },
  });
});
