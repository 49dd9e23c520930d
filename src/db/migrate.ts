/**
 * Plain SQL migrations from `src/db/migrations/NNN_name.sql`, applied in order, each once.
 * Every migration runs in its own transaction under an advisory lock, so a worker and an API
 * starting together against one PostgreSQL never apply the same file twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from './index';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');
const LOCK_ID = 727_001; // arbitrary, constant: identifies Switchyard's migration lock

export interface Migration {
  version: string;
  sql: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: f.replace(/\.sql$/, ''), sql: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

/** Applies pending migrations; returns the versions applied by this call. */
export async function migrate(db: Db, migrations = loadMigrations()): Promise<string[]> {
  await db.transaction(async (tx) => {
    // Under the lock too: two processes creating the table at once would collide in pg_type.
    await tx.query('select pg_advisory_xact_lock($1)', [LOCK_ID]);
    await tx.exec(`create table if not exists schema_migrations (
      version text primary key,
      applied_at timestamptz not null default now()
    )`);
  });
  const applied: string[] = [];
  for (const m of migrations) {
    const ran = await db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [LOCK_ID]);
      const done = await tx.query('select 1 from schema_migrations where version = $1', [m.version]);
      if (done.rows.length > 0) return false;
      await tx.exec(m.sql);
      await tx.query('insert into schema_migrations (version) values ($1)', [m.version]);
      return true;
    });
    if (ran) applied.push(m.version);
  }
  return applied;
}
