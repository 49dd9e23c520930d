import { fromZodError } from '../../src/api/errors';
import { ChatCompletionRequestSchema } from '../../src/domain/chat';

function errorFor(body: unknown) {
  const parsed = ChatCompletionRequestSchema.safeParse(body);
  if (parsed.success) throw new Error('expected a validation error');
  return fromZodError(parsed.error);
}

describe('chat completion request validation', () => {
  it('accepts a minimal OpenAI body and every message role', () => {
    const body = {
      model: 'auto',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'developer', content: [{ type: 'text', text: 'dev' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hi' },
            { type: 'image_url', image_url: { url: 'https://x/y.png' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', content: 'result', tool_call_id: 'c1' },
      ],
      max_tokens: 10,
      temperature: 0.2,
      stop: ['\n'],
      response_format: { type: 'json_object' },
    };
    expect(ChatCompletionRequestSchema.parse(body).messages).toHaveLength(5);
  });

  it('bounds metadata and a json_schema, naming the field', () => {
    const messages = [{ role: 'user', content: 'x' }];
    const metadata = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect(errorFor({ model: 'auto', messages, metadata }).param).toBe('metadata');
    const schema = { type: 'object', description: 'x'.repeat(100_001) };
    const big = { type: 'json_schema', json_schema: { name: 'big', schema } };
    expect(errorFor({ model: 'auto', messages, response_format: big }).param).toBe(
      'response_format.json_schema.schema',
    );
  });

  it('names the missing field', () => {
    const err = errorFor({ model: 'auto' });
    expect(err.status).toBe(400);
    expect(err.param).toBe('messages');
    expect(err.message).toMatch(/messages/);
  });

  it('names the field path and reason for a wrong type', () => {
    const err = errorFor({ model: 'auto', messages: [{ role: 'user', content: 42 }] });
    expect(err.param).toBe('messages[0].content');
  });

  it('points at the role of a message with an unknown role', () => {
    const err = errorFor({ model: 'auto', messages: [{ role: 'wizard', content: 'x' }] });
    expect(err.param).toBe('messages[0].role');
    expect(err.message).toMatch(/role/);
  });

  it('rejects unknown top-level arguments as OpenAI does', () => {
    const err = errorFor({ model: 'auto', max_token: 3, messages: [{ role: 'user', content: 'x' }] });
    expect(err.param).toBe('max_token');
    expect(err.code).toBe('unknown_parameter');
  });

  it('rejects out-of-range numbers, n > 1 and unknown stream options with the field name', () => {
    expect(errorFor({ model: 'auto', temperature: 3, messages: [{ role: 'user', content: 'x' }] }).param).toBe(
      'temperature',
    );
    const n = errorFor({ model: 'auto', n: 2, messages: [{ role: 'user', content: 'x' }] });
    expect(n.param).toBe('n');
    expect(n.message).toMatch(/n=1/);
    const options = errorFor({
      model: 'auto',
      stream: true,
      stream_options: { include_usage: true, chunk_size: 3 },
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(options.param).toBe('stream_options.chunk_size');
  });

  it('rejects an empty message list', () => {
    expect(errorFor({ model: 'auto', messages: [] }).param).toBe('messages');
  });
});
