/**
 * Provider keys stored through the operator API: sealed here before they are written, opened here
 * when a worker needs one (`SecretSource` of the adapter registry). A value read is remembered for
 * a few seconds per name, so a provider's calls make no database read each, and a rotated key is
 * in use everywhere within that time. Every value seen is registered for redaction.
 */
import type { Logger } from 'pino';
import type { Queryable } from '../db';
import { deleteSecret, getSealedSecret, listSecrets, putSecret, type SecretInfo } from '../db/providerSecrets';
import { registerSecrets } from '../providers/redact';
import type { SecretSource } from '../providers/registry';
import { FreshCache } from './freshCache';
import { SecretBox } from './secretBox';

/** How long a value read is used before it is read again (a rotation's delay, at most). */
export const SECRET_CACHE_MS = 10_000;

/** Storing needs the master key; this process was started without one. */
export class MasterKeyMissingError extends Error {
  override name = 'MasterKeyMissingError';
  constructor() {
    super(
      'SWITCHYARD_MASTER_KEY is not set: stored provider keys need a master key to be encrypted. Set it (32 bytes as base64 or hex, e.g. `openssl rand -base64 32`) on the API and worker processes and restart.',
    );
  }
}

export interface SecretStoreOptions {
  /** Default SECRET_CACHE_MS. */
  cacheMs?: number;
  logger?: Pick<Logger, 'warn'>;
}

export class SecretStore implements SecretSource {
  private readonly box: SecretBox | undefined;
  private readonly cache: FreshCache<string | undefined>;
  private readonly logger: Pick<Logger, 'warn'> | undefined;

  constructor(
    private readonly db: Queryable,
    /** The master key's 32 bytes; undefined: nothing can be stored, and stored references resolve to no key. */
    masterKey: Buffer | undefined,
    opts: SecretStoreOptions = {},
  ) {
    this.box = masterKey && new SecretBox(masterKey);
    this.cache = new FreshCache(opts.cacheMs ?? SECRET_CACHE_MS, 1_000);
    this.logger = opts.logger;
  }

  /** Whether this process can store and read secrets (it has a master key). */
  get enabled(): boolean {
    return this.box !== undefined;
  }

  /** The key stored under `name`; undefined if none, or it cannot be opened (logged, without the value). */
  async get(name: string): Promise<string | undefined> {
    return this.cache.get(name, async () => {
      if (!this.box) {
        this.logger?.warn(
          { secret: name },
          'a provider names a stored secret, but SWITCHYARD_MASTER_KEY is not set: its calls carry no key',
        );
        return undefined;
      }
      const sealed = await getSealedSecret(this.db, name);
      if (!sealed) return undefined;
      try {
        const value = this.box.open(name, sealed);
        registerSecrets([value]);
        return value;
      } catch (err) {
        // The message names the secret and the key ids, never a value.
        this.logger?.warn({ secret: name, reason: (err as Error).message }, 'a stored secret cannot be decrypted');
        return undefined;
      }
    });
  }

  /** Seals and stores `value` under `name` (replacing any value of that name). */
  async put(name: string, value: string): Promise<SecretInfo & { created: boolean }> {
    if (!this.box) throw new MasterKeyMissingError();
    registerSecrets([value]);
    const stored = await putSecret(this.db, name, this.box.seal(name, value));
    // This process's next read sees the new value at once; others within their cache time.
    this.cache.forget(name);
    return stored;
  }

  list(): Promise<SecretInfo[]> {
    return listSecrets(this.db);
  }

  async delete(name: string): Promise<boolean> {
    const deleted = await deleteSecret(this.db, name);
    this.cache.forget(name);
    return deleted;
  }
}
