import { PGlite, types } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult, SqlParam } from './index';

// Same number handling as the pg pool, so both implementations return identical rows.
const parsers = {
  [types.INT8]: (v: string) => Number(v),
  [types.NUMERIC]: (v: string) => Number(v),
};

/**
 * Embedded PostgreSQL. PGlite is single-connection and single-process: the all-in-one
 * `npm start` shares one instance between worker and API; separate processes need DATABASE_URL.
 */
export class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  private constructor(private readonly pg: PGlite) {}

  static async open(dataDir?: string): Promise<PgliteDb> {
    const pg = await PGlite.create(dataDir ? { dataDir, parsers } : { parsers });
    return new PgliteDb(pg);
  }

  /** In memory, from a dumped data directory (`dump`): a migrated copy opens without running migrations. */
  static async load(dump: Blob): Promise<PgliteDb> {
    return new PgliteDb(await PGlite.create({ loadDataDir: dump, parsers }));
  }

  /** The data directory as a tarball, for `load`. */
  async dump(): Promise<Blob> {
    return (await this.pg.dumpDataDir('none')) as Blob;
  }

  async query<T>(sql: string, params: SqlParam[] = []): Promise<QueryResult<T>> {
    const res = await this.pg.query<T>(sql, params);
    return { rows: res.rows, rowCount: res.rows.length || (res.affectedRows ?? 0) };
  }

  async exec(sql: string): Promise<void> {
    await this.pg.exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.pg.transaction(async (t) =>
      fn({
        query: async <R>(sql: string, params: SqlParam[] = []) => {
          const res = await t.query<R>(sql, params);
          return { rows: res.rows, rowCount: res.rows.length || (res.affectedRows ?? 0) };
        },
        exec: async (sql: string) => {
          await t.exec(sql);
        },
      }),
    );
  }

  async close(): Promise<void> {
    await this.pg.close();
  }
}
