import { openDb, type Db } from '../../src/db';
import { migrate } from '../../src/db/migrate';

export type DbKind = 'pglite' | 'postgres';

/**
 * The backends database tests run against: PGlite always; the real PostgreSQL when DATABASE_URL
 * is set. CI sets it, and a CI run without it is a configuration error, not a reason to skip.
 */
export function dbKinds(): DbKind[] {
  if (process.env.CI === 'true' && !process.env.DATABASE_URL) throw new Error('CI must set DATABASE_URL so database tests run against PostgreSQL too');
  return process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

/** A migrated database: in-memory PGlite, or the PostgreSQL at DATABASE_URL. */
export async function openTestDb(kind: DbKind = process.env.DATABASE_URL ? 'postgres' : 'pglite'): Promise<Db> {
  const db = await openDb(kind === 'postgres' ? { databaseUrl: process.env.DATABASE_URL } : { pgliteDir: 'memory' });
  await migrate(db);
  return db;
}

export const uniqueId = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
