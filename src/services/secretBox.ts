/**
 * Provider keys encrypted at rest: AES-256-GCM under the master key (SWITCHYARD_MASTER_KEY), a
 * random 12-byte IV per value, and the secret's name as additional authenticated data, so a
 * ciphertext copied onto another name's row does not decrypt. Each sealed value carries the id of
 * the master key that sealed it (a fingerprint, never the key), so a key rotated later can tell
 * its rows from the old key's, and a wrong key is reported as such instead of as tampering.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const MASTER_KEY_BYTES = 32;

/** A value as stored: base64 text, so both PostgreSQL and PGlite keep it as plain text columns. */
export interface SealedSecret {
  /** The master key's id (`fingerprintOf`). */
  keyId: string;
  iv: string;
  /** Ciphertext followed by the 16-byte GCM tag. */
  ciphertext: string;
}

export class SecretOpenError extends Error {
  override name = 'SecretOpenError';
}

/**
 * The 32 bytes of a master key written as base64 (44 characters) or hex (64), or an error naming
 * what is wrong (the message never includes the value).
 */
export function parseMasterKey(text: string): Buffer {
  const t = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(t)
    ? Buffer.from(t, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(t)
      ? Buffer.from(t, 'base64')
      : undefined;
  if (!bytes || bytes.length !== MASTER_KEY_BYTES)
    throw new Error(
      `must be ${MASTER_KEY_BYTES} bytes, written as base64 (44 characters) or hex (64): e.g. the output of \`openssl rand -base64 32\``,
    );
  return bytes;
}

/** The id stored beside each value: 8 bytes of an HMAC of a constant under the key (not reversible). */
export const fingerprintOf = (key: Buffer) =>
  createHmac('sha256', key).update('switchyard master key id').digest('hex').slice(0, 16);

export class SecretBox {
  private readonly key: Buffer;
  readonly keyId: string;

  constructor(masterKey: Buffer) {
    if (masterKey.length !== MASTER_KEY_BYTES) throw new Error(`a master key is ${MASTER_KEY_BYTES} bytes`);
    this.key = Buffer.from(masterKey);
    this.keyId = fingerprintOf(this.key);
  }

  seal(name: string, plaintext: string): SealedSecret {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { keyId: this.keyId, iv: iv.toString('base64'), ciphertext: body.toString('base64') };
  }

  /** The plaintext, or SecretOpenError: another master key, another name, or altered bytes. */
  open(name: string, sealed: SealedSecret): string {
    if (sealed.keyId !== this.keyId)
      throw new SecretOpenError(
        `secret '${name}' was stored under another master key (id ${sealed.keyId}; this process has ${this.keyId})`,
      );
    const iv = Buffer.from(sealed.iv, 'base64');
    const body = Buffer.from(sealed.ciphertext, 'base64');
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES)
      throw new SecretOpenError(`secret '${name}' is not a sealed value`);
    try {
      const decipher = createDecipheriv(ALGORITHM, this.key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(name, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      // GCM says only that the tag does not match: the bytes, or the name they were sealed for, differ.
      throw new SecretOpenError(`secret '${name}' does not decrypt: altered, or sealed for another name`);
    }
  }
}
