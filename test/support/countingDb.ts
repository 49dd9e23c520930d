/**
 * A database that records every statement it is sent (a transaction's BEGIN and COMMIT count too:
 * each is a round trip to a real server), so tests can count what the request path costs.
 */
import type { Db, Queryable } from '../../src/db';

export interface CountingDb extends Db {
  /** The statements sent since the last reset, as their first words. */
  statements(): string[];
  reset(): void;
}

const head = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 60);

export function countingDb(db: Db): CountingDb {
  let log: string[] = [];
  const counted = (q: Queryable): Queryable => ({
    query: (sql, params) => {
      log.push(head(sql));
      return q.query(sql, params);
    },
    exec: (sql) => {
      log.push(head(sql));
      return q.exec(sql);
    },
  });
  const outer = counted(db);
  return {
    kind: db.kind,
    query: outer.query,
    exec: outer.exec,
    transaction: (fn) => {
      log.push('BEGIN');
      return db
        .transaction((tx) => fn(counted(tx)))
        .finally(() => {
          log.push('COMMIT');
        });
    },
    close: () => db.close(),
    statements: () => [...log],
    reset: () => {
      log = [];
    },
  };
}
