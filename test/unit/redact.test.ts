/**
 * `redact`: a registered key, as written or encoded (base64 at every alignment, base64url, hex,
 * URL-encoded) or with separators between its characters, never survives; ordinary text does.
 * `safeIdentifier`: a provider's code is kept only as a short identifier with no secret in it.
 */
import { REDACTED, redact, registerSecrets, safeIdentifier } from '../../src/providers/redact';
import { MAX_FAILURE_MESSAGE, toProviderFailure } from '../../src/providers/errors';
import OpenAI from 'openai';

const KEY = 'kQ7zX+9f3a/7c2e1bWp4-LmN0';
registerSecrets([KEY]);

/** Nothing of the key is left: no run of 10 of its letters and digits, in any encoding. */
function leaks(text: string): boolean {
  const bytes = Buffer.from(KEY);
  const skeleton = (s: string) => s.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
  const flat = skeleton(text);
  const aligned = [0, 1, 2].map((pad) =>
    Buffer.concat([Buffer.alloc(pad), bytes])
      .toString('base64')
      .slice(pad ? pad + 1 : 0),
  );
  const forms = [KEY, bytes.toString('hex'), encodeURIComponent(KEY), ...aligned].map(skeleton);
  return forms.some((f) => {
    for (let i = 0; i + 10 <= f.length; i++) if (flat.includes(f.slice(i, i + 10))) return true;
    return false;
  });
}

describe('redact', () => {
  it.each([
    ['as written', `refused ${KEY} here`],
    ['base64', `token ${Buffer.from(KEY).toString('base64')} bad`],
    ['base64url', `token ${Buffer.from(KEY).toString('base64url')} bad`],
    ['base64 inside a longer blob, every alignment', Buffer.from(`Authorization: Bearer ${KEY}!`).toString('base64')],
    ['base64, second alignment', Buffer.from(`x${KEY}`).toString('base64')],
    ['base64, third alignment', Buffer.from(`xy${KEY}`).toString('base64')],
    ['hex', `key=${Buffer.from(KEY).toString('hex')}`],
    ['hex, upper case', `key=${Buffer.from(KEY).toString('hex').toUpperCase()}`],
    ['URL-encoded', `https://x.test/?k=${encodeURIComponent(KEY)}`],
    ['every byte percent-encoded', [...Buffer.from(KEY)].map((b) => `%${b.toString(16)}`).join('')],
    ['space-separated', `the key was ${[...KEY].join(' ')} ok`],
    ['comma-separated, quoted', JSON.stringify([...KEY])],
    ['one character a line, indented', JSON.stringify([...KEY], null, 4)],
    ['upper case', KEY.toUpperCase()],
  ])('removes a registered key %s', (_how, text) => {
    expect(leaks(text)).toBe(true); // the input does carry it
    const out = redact(text);
    expect(out).toContain(REDACTED);
    expect(leaks(out)).toBe(false);
  });

  it('keeps the text around a key, and text with no key unchanged', () => {
    expect(redact(`before ${KEY} after`)).toBe(`before ${REDACTED} after`);
    expect(redact(`a ${[...KEY].join(' ')} b`)).toBe(`a ${REDACTED} b`);
    for (const plain of [
      'The model gpt-4o is overloaded, retry in 3 s.',
      'context_length_exceeded: 20000 tokens > 16000',
      'unit redact key is not this',
      '',
    ])
      expect(redact(plain)).toBe(plain);
  });

  it('redacts key shapes and credentials it was never told of', () => {
    expect(redact('bad sk-proj-abcdefghijklmnop and Bearer abc.def.ghi')).toBe(
      `bad ${REDACTED} and Bearer ${REDACTED}`,
    );
  });

  it('is linear: a megabyte of text with near-misses takes well under a second', () => {
    const nearMiss = KEY.slice(0, KEY.length - 3);
    const text = `${nearMiss} `.repeat(Math.ceil(1_000_000 / nearMiss.length));
    const t = Date.now();
    redact(text);
    expect(Date.now() - t).toBeLessThan(5_000); // generous: a quadratic scan takes minutes
  });
});

describe('safeIdentifier', () => {
  it('keeps short identifiers', () => {
    for (const code of ['context_length_exceeded', 'overloaded_error', 'rate-limit.v2', '429'])
      expect(safeIdentifier(code)).toBe(code);
  });
  it('drops free text, long values, secrets and key shapes', () => {
    for (const bad of [
      KEY,
      'has space',
      'x'.repeat(65),
      'sk-abcdefghijklmnopqrs',
      Buffer.from(KEY).toString('hex'),
      '',
      7,
    ])
      expect(safeIdentifier(bad)).toBeUndefined();
  });
});

describe('provider failures', () => {
  const apiError = (status: number, error: Record<string, unknown>) =>
    OpenAI.APIError.generate(status, { error }, undefined, new Headers());

  it.each([
    ['code', { message: 'nope', type: 'invalid_request_error', code: KEY }],
    ['type', { message: 'nope', type: KEY, code: null }],
    ['param', { message: 'nope', type: 'x', param: KEY }],
    ['message, base64', { message: `bad ${Buffer.from(KEY).toString('base64')}`, type: 'x' }],
    ['message, spaced', { message: `bad ${[...KEY].join(' ')}`, type: 'x' }],
    ['no message at all (the SDK prints the whole body)', { type: 'x', code: 'y', param: KEY, details: { k: KEY } }],
  ])('carry nothing of a key the provider put in its %s', (_where, error) => {
    const f = toProviderFailure(apiError(400, error), 'oa', 'm');
    const all = JSON.stringify({ message: f.message, details: f.details, stack: f.stack });
    expect(leaks(all)).toBe(false);
    const code = (f.details?.[0] as { providerCode?: string }).providerCode;
    if (code !== undefined) expect(code).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
  });

  it('keeps an honest provider code, and bounds the message', () => {
    const f = toProviderFailure(
      apiError(400, { message: 'y'.repeat(50_000), type: 'invalid_request_error', code: 'context_length_exceeded' }),
      'oa',
      'm',
    );
    expect(f.type).toBe('ContextLengthExceeded');
    expect(f.details?.[0]).toMatchObject({ providerCode: 'context_length_exceeded', status: 400 });
    expect(f.message.length).toBeLessThan(MAX_FAILURE_MESSAGE + 100);
  });
});
