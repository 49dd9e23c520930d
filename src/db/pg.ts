import pg from 'pg';
import type { Db, Queryable, QueryResult, SqlParam } from './index';

// Return BIGINT/NUMERIC as JS numbers: our amounts are micro-dollars and counts well below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export class PgDb implements Db {
  readonly kind = 'postgres' as const;
  private constructor(private readonly pool: pg.Pool) {}

  static async connect(connectionString: string, onIdleError: (err: Error) => void = () => undefined): Promise<PgDb> {
    const pool = new pg.Pool({ connectionString, max: 10 });
    // An idle client's error (server restart) must not crash the process; the pool replaces it.
    // The server logs and counts it (startSwitchyard); tests and tools that pass nothing ignore it.
    pool.on('error', onIdleError);
    const db = new PgDb(pool);
    await db.query('select 1');
    return db;
  }

  async query<T>(sql: string, params: SqlParam[] = []): Promise<QueryResult<T>> {
    const res = await this.pool.query(sql, params);
    return { rows: res.rows as T[], rowCount: res.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const tx: Queryable = {
        query: async <R>(sql: string, params: SqlParam[] = []) => {
          const res = await client.query(sql, params);
          return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
        },
        exec: async (sql: string) => {
          await client.query(sql);
        },
      };
      const result = await fn(tx);
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => undefined); // the error that matters is `err`, rethrown
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
