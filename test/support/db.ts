import { openDb, type Db } from '../../src/db';
import { migrate } from '../../src/db/migrate';

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
  const db = await openDb(kind === 'postgres' ? { databaseUrl: await isolatedDatabaseUrl() } : { pgliteDir: 'memory' });
  await migrate(db);
  return db;
}

export const uniqueId = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
