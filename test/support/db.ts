import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/db';
import { migrate } from '../../src/db/migrate';
import { PgliteDb } from '../../src/db/pglite';

export type DbKind = 'pglite' | 'postgres';

/**
 * The backends database tests run against: PGlite always; the real PostgreSQL when DATABASE_URL
 * is set. CI sets it, and a CI run without it is a configuration error, not a reason to skip.
 */
export function dbKinds(): DbKind[] {
  if (process.env.CI === 'true' && !process.env.DATABASE_URL)
    throw new Error('CI must set DATABASE_URL so database tests run against PostgreSQL too');
  return process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

/**
 * A connection string to a schema of its own in the PostgreSQL at DATABASE_URL: test files run in
 * parallel, and state such as the latest configuration version must not leak between them.
 */
export async function isolatedDatabaseUrl(): Promise<string> {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('isolatedDatabaseUrl needs DATABASE_URL');
  const schema = `t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = await openDb({ databaseUrl: base });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/** A migrated database: in-memory PGlite, or a schema of its own in the PostgreSQL at DATABASE_URL. */
export async function openTestDb(kind: DbKind = process.env.DATABASE_URL ? 'postgres' : 'pglite'): Promise<Db> {
  // PGlite from a migrated copy: a fresh instance and its migrations take seconds on a loaded
  // machine, loading the copy a fraction of that (`migrate` then finds nothing to do).
  const db =
    kind === 'postgres'
      ? await openDb({ databaseUrl: await isolatedDatabaseUrl() })
      : await PgliteDb.load(await migratedPglite());
  await migrate(db);
  return db;
}

const MIGRATIONS_DIR = path.join(__dirname, '../../src/db/migrations');
let migrated: Promise<Blob> | undefined;

/**
 * A PGlite data directory with every migration applied, made once per set of migrations and kept
 * in the system's temporary directory (written under a temporary name and renamed, so test files
 * running at once read a whole one).
 */
function migratedPglite(): Promise<Blob> {
  migrated ??= (async () => {
    const hash = createHash('sha256');
    hash.update(fs.readFileSync(path.join(__dirname, '../../node_modules/@electric-sql/pglite/package.json')));
    for (const f of fs.readdirSync(MIGRATIONS_DIR).sort())
      hash.update(f).update(fs.readFileSync(path.join(MIGRATIONS_DIR, f)));
    const file = path.join(os.tmpdir(), `switchyard-pglite-${hash.digest('hex').slice(0, 16)}.tar`);
    if (fs.existsSync(file)) return new Blob([fs.readFileSync(file)]);
    const db = await PgliteDb.open();
    await migrate(db);
    const dump = await db.dump();
    await db.close();
    const tmp = `${file}.${process.pid}.${Date.now()}`;
    fs.writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    fs.renameSync(tmp, file);
    return dump;
  })();
  return migrated;
}

export const uniqueId = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
