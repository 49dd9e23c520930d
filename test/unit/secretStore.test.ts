/**
 * The store the workers resolve `{ secret }` references through: one database read per name per
 * cache time (a provider's calls make none in between), a value stored here seen at once, and
 * every value it holds registered for redaction.
 */
import { randomBytes } from 'node:crypto';
import { redact, REDACTED } from '../../src/providers/redact';
import { MasterKeyMissingError, SecretStore } from '../../src/services/secretStore';
import { countingDb, type CountingDb } from '../support/countingDb';
import { openTestDb } from '../support/db';

let db: CountingDb;
beforeAll(async () => {
  db = countingDb(await openTestDb('pglite'));
});
afterAll(async () => db?.close());

const reads = () => db.statements().filter((s) => s.startsWith('select')).length;

it('reads a name once per cache time, and again after it', async () => {
  let now = 1_000_000;
  const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
  try {
    const key = randomBytes(32);
    await new SecretStore(db, key).put('cached', 'sk-cached-value-0001-abcdef');
    const store = new SecretStore(db, key, { cacheMs: 5_000 });
    db.reset();
    for (let i = 0; i < 5; i++) expect(await store.get('cached')).toBe('sk-cached-value-0001-abcdef');
    expect(reads()).toBe(1);
    // Rotated elsewhere (the API process): this store still uses its value until the cache time is up.
    await new SecretStore(db, key).put('cached', 'sk-cached-value-0002-abcdef');
    db.reset();
    now += 4_999;
    expect(await store.get('cached')).toBe('sk-cached-value-0001-abcdef');
    now += 2;
    expect(await store.get('cached')).toBe('sk-cached-value-0002-abcdef');
    expect(reads()).toBe(1);
    // A name with nothing stored is remembered as such too (no read per call for a missing key).
    db.reset();
    expect(await store.get('absent')).toBeUndefined();
    expect(await store.get('absent')).toBeUndefined();
    expect(reads()).toBe(1);
  } finally {
    clock.mockRestore();
  }
});

it('a value stored through this store is seen at once, and redacted wherever it is printed', async () => {
  const store = new SecretStore(db, randomBytes(32), { cacheMs: 60_000 });
  await store.put('seen', 'sk-first-value-redact-0123');
  expect(await store.get('seen')).toBe('sk-first-value-redact-0123');
  await store.put('seen', 'zz-second-value-redact-4567');
  expect(await store.get('seen')).toBe('zz-second-value-redact-4567');
  expect(redact('provider said: bad key zz-second-value-redact-4567')).toBe(`provider said: bad key ${REDACTED}`);
  expect(await store.delete('seen')).toBe(true);
  expect(await store.get('seen')).toBeUndefined();
  expect(await store.delete('seen')).toBe(false);
});

it('without a master key: storing is refused with the variable to set; reading gives no key', async () => {
  const store = new SecretStore(db, undefined);
  expect(store.enabled).toBe(false);
  await expect(store.put('none', 'sk-never-stored-000000')).rejects.toThrow(MasterKeyMissingError);
  await expect(store.put('none', 'sk-never-stored-000000')).rejects.toThrow(/SWITCHYARD_MASTER_KEY is not set/);
  expect(await store.get('none')).toBeUndefined();
  expect((await store.list()).map((s) => s.name)).not.toContain('none');
});
