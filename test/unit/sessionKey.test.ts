/**
 * The session a request's `user` names (`sessionKeyOf`, src/domain/policy/session.ts), hashed with
 * node:crypto's SHA-256 as the API does.
 */
import { createHash } from 'node:crypto';
import { sessionKeyOf } from '../../src/domain/policy';

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');
const keyOf = (user: string | undefined, messages: Parameters<typeof sessionKeyOf>[1]) =>
  sessionKeyOf(user, messages, sha256Hex);

describe('sessionKeyOf', () => {
  const conversation = [
    { role: 'system', content: 'You are a patient tutor.' },
    { role: 'user', content: 'Explain photosynthesis.' },
  ];

  it('is the user and a hash of the first system and user messages, as it was in the API (the same keys as before)', () => {
    const key = keyOf('student-42', conversation);
    const hash = sha256Hex(JSON.stringify(['You are a patient tutor.', 'Explain photosynthesis.'])).slice(0, 32);
    expect(key).toBe(`user:student-42:${hash}`);
    expect(key).not.toContain('photosynthesis');
  });

  it('is the same on every later turn, and another for another first message, system prompt or user', () => {
    const key = keyOf('u', conversation);
    const later = [
      ...conversation,
      { role: 'assistant', content: 'Light becomes sugar.' },
      { role: 'user', content: 'And?' },
    ];
    expect(keyOf('u', later)).toBe(key);
    expect(keyOf('u', [conversation[0]!, { role: 'user', content: 'What is a prime?' }])).not.toBe(key);
    expect(keyOf('u', [{ role: 'system', content: 'Be brief.' }, conversation[1]!])).not.toBe(key);
    expect(keyOf('v', conversation)).not.toBe(key);
    // A developer message is the system prompt of newer OpenAI models.
    expect(keyOf('u', [{ role: 'developer', content: 'You are a patient tutor.' }, conversation[1]!])).toBe(key);
  });

  it('hashes text however it was sent: a string, or text parts (with cache_control) are the same session', () => {
    const key = keyOf('u', conversation);
    const asParts = [
      conversation[0]!,
      {
        role: 'user',
        content: [{ type: 'text', text: 'Explain photosynthesis.', cache_control: { type: 'ephemeral' } }],
      },
    ];
    expect(keyOf('u', asParts)).toBe(key);
    // An image is part of what the provider caches: it changes the key.
    const withImage = [
      conversation[0]!,
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Explain photosynthesis.' },
          { type: 'image_url', image_url: { url: 'https://example.com/leaf.png' } },
        ],
      },
    ];
    expect(keyOf('u', withImage)).toMatch(/^user:u:[0-9a-f]{32}$/);
    expect(keyOf('u', withImage)).not.toBe(key);
  });

  it('is none without a user, without messages, or without a user message', () => {
    expect(keyOf(undefined, conversation)).toBeUndefined();
    expect(keyOf('', conversation)).toBeUndefined();
    expect(keyOf('u', undefined)).toBeUndefined();
    expect(keyOf('u', [conversation[0]!])).toBeUndefined();
  });
});
