import { toAnthropicMessages } from '../../src/providers/anthropic/adapter';

describe('OpenAI messages → Anthropic messages', () => {
  it('moves system and developer messages to the top-level system prompt', () => {
    const out = toAnthropicMessages([
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: 'Answer in English.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(out.system).toBe('Be brief.\n\nAnswer in English.');
    expect(out.messages).toEqual([{ role: 'user', content: 'Hi' }]);
  });

  it('merges consecutive turns of one role so roles alternate, and starts with the user', () => {
    const out = toAnthropicMessages([
      { role: 'assistant', content: 'Earlier answer' },
      { role: 'user', content: 'one' },
      { role: 'user', content: 'two' },
      { role: 'assistant', content: 'three' },
      { role: 'tool', tool_call_id: 'c1', content: '42' },
    ]);
    expect(out.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user']);
    expect(out.messages[2]!.content).toBe('one\n\ntwo');
    expect(out.messages[4]!.content).toEqual([{ type: 'tool_result', tool_use_id: 'c1', content: '42' }]);
  });
});

it('merges a text turn and an image turn of the same role into one turn of blocks', () => {
  const { messages } = toAnthropicMessages([
    { role: 'user', content: 'First look at this.' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Here:' },
        { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAAA' } },
      ],
    },
    { role: 'user', content: 'Thanks.' },
  ]);
  expect(messages).toEqual([
    {
      role: 'user',
      content: [
        { type: 'text', text: 'First look at this.' },
        { type: 'text', text: 'Here:' },
        { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'AAAA' } },
        { type: 'text', text: 'Thanks.' },
      ],
    },
  ]);
});
