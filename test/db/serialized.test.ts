/**
 * `serialized` (src/db/serialized.ts): one call per key at a time, and on PostgreSQL, many keys at
 * once cannot exhaust the pool. Each call there holds a connection for its lock while its own
 * statements need another: twelve at once over a pool of ten would wait on each other for good.
 */
import type { Db } from '../../src/db';
import { serialized } from '../../src/db/serialized';
import { dbKinds, openTestDb, uniqueId } from '../support/db';

describe.each(dbKinds())('serialized on %s', (kind) => {
  let db: Db;
  beforeAll(async () => {
    db = await openTestDb(kind);
  });
  afterAll(async () => db.close());

  it('runs the calls of one key one at a time', async () => {
    const key = uniqueId('k');
    let inside = 0;
    let most = 0;
    await Promise.all(
      [1, 2, 3, 4].map(() =>
        serialized(db, key, async () => {
          most = Math.max(most, ++inside);
          await db.query('select 1');
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
  });

  it('finishes twelve keys at once, each running statements of its own while it holds its lock', async () => {
    const done = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        serialized(db, uniqueId(`k${i}`), async () => {
          await db.query('select 1');
          return i;
        }),
      ),
    );
    expect(done).toEqual(Array.from({ length: 12 }, (_, i) => i));
  }, 30_000);
});
