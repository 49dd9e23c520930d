/** The `provider_secrets` table: sealed provider keys by name (`src/services/secretBox.ts` seals them). */
import type { Queryable } from './index';

/** A sealed value as stored (base64 text): the master key's id, the IV, ciphertext and tag. */
export interface SealedSecret {
  keyId: string;
  iv: string;
  ciphertext: string;
}

/** What may be shown of a stored secret: its name and when it was stored, never its value. */
export interface SecretInfo {
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

interface InfoRow {
  name: string;
  created_at: Date;
  updated_at: Date;
}

const info = (r: InfoRow): SecretInfo => ({
  name: r.name,
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

/** Stores (or replaces) a sealed value; `created` is false when a value of that name was replaced. */
export async function putSecret(
  db: Queryable,
  name: string,
  sealed: SealedSecret,
): Promise<SecretInfo & { created: boolean }> {
  const res = await db.query<InfoRow & { created: boolean }>(
    `insert into provider_secrets (name, key_id, iv, ciphertext) values ($1, $2, $3, $4)
     on conflict (name) do update set key_id = excluded.key_id, iv = excluded.iv,
       ciphertext = excluded.ciphertext, updated_at = now()
     returning name, created_at, updated_at, (xmax = 0) as created`,
    [name, sealed.keyId, sealed.iv, sealed.ciphertext],
  );
  const row = res.rows[0]!;
  return { ...info(row), created: row.created };
}

export async function getSealedSecret(db: Queryable, name: string): Promise<SealedSecret | undefined> {
  const res = await db.query<{ key_id: string; iv: string; ciphertext: string }>(
    'select key_id, iv, ciphertext from provider_secrets where name = $1',
    [name],
  );
  const r = res.rows[0];
  return r && { keyId: r.key_id, iv: r.iv, ciphertext: r.ciphertext };
}

export async function listSecrets(db: Queryable): Promise<SecretInfo[]> {
  return (await db.query<InfoRow>('select name, created_at, updated_at from provider_secrets order by name')).rows.map(
    info,
  );
}

/** Deletes a secret; false when there was none of that name. */
export async function deleteSecret(db: Queryable, name: string): Promise<boolean> {
  return (await db.query('delete from provider_secrets where name = $1', [name])).rowCount > 0;
}
