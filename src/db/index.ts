/**
 * One small database interface with two implementations: a `pg` pool for a real PostgreSQL
 * (`DATABASE_URL`) and embedded PGlite (a WASM build of PostgreSQL) for a newcomer with no server.
 * Both speak the same SQL, so migrations and repositories are written once.
 */
import fs from 'node:fs';
import path from 'node:path';

export type SqlParam = string | number | boolean | null | Date | object;

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: SqlParam[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  databaseUrl?: string;
  /** Folder for PGlite's files; `undefined` or 'memory' keeps PGlite in memory (tests). */
  pgliteDir?: string | 'memory';
  /** An idle PostgreSQL connection's error (the pool replaces the connection): to log and count. */
  onIdleError?: (err: Error) => void;
}

export async function openDb(options: OpenDbOptions): Promise<Db> {
  if (options.databaseUrl) {
    const { PgDb } = await import('./pg');
    return PgDb.connect(options.databaseUrl, options.onIdleError);
  }
  const { PgliteDb } = await import('./pglite');
  const dir = options.pgliteDir && options.pgliteDir !== 'memory' ? options.pgliteDir : undefined;
  if (dir) fs.mkdirSync(path.dirname(dir), { recursive: true });
  return PgliteDb.open(dir);
}
