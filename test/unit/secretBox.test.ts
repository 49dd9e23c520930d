/** The sealing of stored provider keys: AES-256-GCM, the name bound in, a wrong key or name refused. */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config';
import { fingerprintOf, parseMasterKey, SecretBox, SecretOpenError } from '../../src/services/secretBox';

const key = randomBytes(32);
const box = new SecretBox(key);
const VALUE = 'sk-team-0123456789abcdefXYZ';

describe('SecretBox', () => {
  it('round-trips a value, with a fresh IV each time and no plaintext in what is stored', () => {
    const a = box.seal('team-key', VALUE);
    const b = box.seal('team-key', VALUE);
    expect(box.open('team-key', a)).toBe(VALUE);
    expect(box.open('team-key', b)).toBe(VALUE);
    expect(a.iv).not.toBe(b.iv);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(Buffer.from(a.iv, 'base64')).toHaveLength(12);
    // Ciphertext plus the 16-byte tag.
    expect(Buffer.from(a.ciphertext, 'base64')).toHaveLength(Buffer.byteLength(VALUE) + 16);
    const stored = JSON.stringify(a);
    expect(stored).not.toContain(VALUE);
    expect(stored).not.toContain(Buffer.from(VALUE).toString('base64'));
    expect(a.keyId).toBe(fingerprintOf(key));
    expect(a.keyId).not.toContain(key.toString('hex').slice(0, 8));
  });

  it('refuses a tampered ciphertext, tag or IV', () => {
    const sealed = box.seal('team-key', VALUE);
    const flip = (b64: string, at: number) => {
      const bytes = Buffer.from(b64, 'base64');
      bytes[at] = bytes[at]! ^ 1;
      return bytes.toString('base64');
    };
    expect(() => box.open('team-key', { ...sealed, ciphertext: flip(sealed.ciphertext, 0) })).toThrow(SecretOpenError);
    const last = Buffer.from(sealed.ciphertext, 'base64').length - 1;
    expect(() => box.open('team-key', { ...sealed, ciphertext: flip(sealed.ciphertext, last) })).toThrow(
      SecretOpenError,
    );
    expect(() => box.open('team-key', { ...sealed, iv: flip(sealed.iv, 3) })).toThrow(SecretOpenError);
    expect(() => box.open('team-key', { ...sealed, ciphertext: sealed.ciphertext.slice(0, 8) })).toThrow(
      SecretOpenError,
    );
  });

  it('refuses a ciphertext moved to another name (the name is authenticated data), naming no value', () => {
    const sealed = box.seal('team-key', VALUE);
    let error: unknown;
    try {
      box.open('other-key', sealed);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SecretOpenError);
    expect((error as Error).message).toMatch(/other-key/);
    expect((error as Error).message).not.toContain(VALUE);
  });

  it('refuses another master key by its id, before trying to decrypt', () => {
    const sealed = box.seal('team-key', VALUE);
    const other = new SecretBox(randomBytes(32));
    expect(() => other.open('team-key', sealed)).toThrow(/another master key/);
    // Even with the id forged to match, the other key's tag check fails.
    expect(() => other.open('team-key', { ...sealed, keyId: other.keyId })).toThrow(SecretOpenError);
  });

  it('reads a master key as base64 or hex, 32 bytes; anything else is a configuration error naming the variable', () => {
    expect(parseMasterKey(key.toString('base64')).equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('hex')).equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('base64url')).equals(key)).toBe(true);
    expect(() => parseMasterKey(randomBytes(16).toString('base64'))).toThrow(/32 bytes/);
    expect(() => parseMasterKey('correct horse battery staple')).toThrow(/32 bytes/);
    expect(loadConfig({ SWITCHYARD_MASTER_KEY: key.toString('base64') }).SWITCHYARD_MASTER_KEY?.equals(key)).toBe(true);
    expect(loadConfig({}).SWITCHYARD_MASTER_KEY).toBeUndefined();
    const bad = 'not-a-key-but-a-secret-phrase';
    let message = '';
    try {
      loadConfig({ SWITCHYARD_MASTER_KEY: bad });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/SWITCHYARD_MASTER_KEY: must be 32 bytes/);
    expect(message).not.toContain(bad);
  });
});
