/**
 * The session a request's `user` names (`sessionKeyOf`, src/domain/policy/session.ts) and the pure
 * SHA-256 it hashes with (src/domain/sha256.ts, checked against node:crypto).
 */
import { createHash } from 'node:crypto';
import { sessionKeyOf } from '../../src/domain/policy';
import { seededRandom } from '../../src/domain/seededRandom';
import { sha256Hex } from '../../src/domain/sha256';

const node = (s: string) => createHash('sha256').update(s).digest('hex');

describe('sha256Hex', () => {
  it('is SHA-256: the standard vectors, every length around the block and padding edges, and non-ASCII text', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    for (let n = 0; n <= 200; n++) expect(sha256Hex('x'.repeat(n))).toBe(node('x'.repeat(n)));
    const random = seededRandom(23);
    for (let i = 0; i < 50; i++) {
      const s = Array.from({ length: Math.floor(random() * 300) }, () =>
        String.fromCodePoint(Math.floor(random() * 0x2fff)),
      ).join('');
      expect(sha256Hex(s)).toBe(node(s));
    }
    expect(sha256Hex('Erklär mir die Photosynthese 🌱')).toBe(node('Erklär mir die Photosynthese 🌱'));
  });
});

describe('sessionKeyOf', () => {
  const conversation = [
    { role: 'system', content: 'You are a patient tutor.' },
    { role: 'user', content: 'Explain photosynthesis.' },
  ];

  it('is the user and a hash of the first system and user messages, as it was in the API (the same keys as before)', () => {
    const key = sessionKeyOf('student-42', conversation);
    const hash = node(JSON.stringify(['You are a patient tutor.', 'Explain photosynthesis.'])).slice(0, 32);
    expect(key).toBe(`user:student-42:${hash}`);
    expect(key).not.toContain('photosynthesis');
  });

  it('is the same on every later turn, and another for another first message, system prompt or user', () => {
    const key = sessionKeyOf('u', conversation);
    const later = [
      ...conversation,
      { role: 'assistant', content: 'Light becomes sugar.' },
      { role: 'user', content: 'And?' },
    ];
    expect(sessionKeyOf('u', later)).toBe(key);
    expect(sessionKeyOf('u', [conversation[0]!, { role: 'user', content: 'What is a prime?' }])).not.toBe(key);
    expect(sessionKeyOf('u', [{ role: 'system', content: 'Be brief.' }, conversation[1]!])).not.toBe(key);
    expect(sessionKeyOf('v', conversation)).not.toBe(key);
    // A developer message is the system prompt of newer OpenAI models.
    expect(sessionKeyOf('u', [{ role: 'developer', content: 'You are a patient tutor.' }, conversation[1]!])).toBe(key);
  });

  it('hashes text however it was sent: a string, or text parts (with cache_control) are the same session', () => {
    const key = sessionKeyOf('u', conversation);
    const asParts = [
      conversation[0]!,
      {
        role: 'user',
        content: [{ type: 'text', text: 'Explain photosynthesis.', cache_control: { type: 'ephemeral' } }],
      },
    ];
    expect(sessionKeyOf('u', asParts)).toBe(key);
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
    expect(sessionKeyOf('u', withImage)).toMatch(/^user:u:[0-9a-f]{32}$/);
    expect(sessionKeyOf('u', withImage)).not.toBe(key);
  });

  it('is none without a user, without messages, or without a user message', () => {
    expect(sessionKeyOf(undefined, conversation)).toBeUndefined();
    expect(sessionKeyOf('', conversation)).toBeUndefined();
    expect(sessionKeyOf('u', undefined)).toBeUndefined();
    expect(sessionKeyOf('u', [conversation[0]!])).toBeUndefined();
  });
});
