import type { Db } from './index';

/** The calls waiting per key in this process (the tail of each key's chain). */
const chains = new Map<string, Promise<void>>();

/**
 * Lock-holding transactions at once in this process. Each holds a pooled connection while its
 * work takes others: as many holders as the pool has connections (10) would wait on each other
 * for good, so they stay well below it.
 */
const MAX_HOLDERS = 3;
let holders = 0;
const waitingForHold: Array<() => void> = [];

async function hold(): Promise<void> {
  if (holders < MAX_HOLDERS) {
    holders++;
    return;
  }
  await new Promise<void>((resolve) => waitingForHold.push(resolve)); // handed a slot by `unhold`
}

function unhold(): void {
  const next = waitingForHold.shift();
  if (next) next();
  else holders--;
}

/**
 * Runs `fn` while no other call with the same key runs: in this process by a promise chain, and
 * across processes on PostgreSQL by a transaction-scoped advisory lock held for `fn`'s duration
 * (PGlite lives in one process, so the chain is enough there). For check-then-act sequences
 * that span more than one statement, such as counting a tenant's work and then starting more.
 */
export async function serialized<T>(db: Db, key: string, fn: () => Promise<T>): Promise<T> {
  const before = chains.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = before.then(() => mine);
  chains.set(key, tail);
  try {
    await before;
    if (db.kind !== 'postgres') return await fn();
    await hold();
    try {
      // `fn` runs its statements on other pooled connections; this one only holds the lock.
      return await db.transaction(async (tx) => {
        await tx.query('select pg_advisory_xact_lock(hashtext($1))', [key]);
        return fn();
      });
    } finally {
      unhold();
    }
  } finally {
    release();
    if (chains.get(key) === tail) chains.delete(key);
  }
}
