/** The `breaker_states` projection: written by the providerHealth entities, read by routing. */
import type { BreakerSnapshot } from '../domain/breaker';
import type { Queryable } from './index';

/** Stores an endpoint's breaker as of the workflow time `at`, unless a newer state is stored. */
export async function publishBreakerState(db: Queryable, snapshot: BreakerSnapshot, at: number): Promise<void> {
  await db.query(
    `insert into breaker_states (endpoint, status, open_until, snapshot, published_at) values ($1, $2, $3, $4, $5)
     on conflict (endpoint) do update set status = excluded.status, open_until = excluded.open_until,
       snapshot = excluded.snapshot, published_at = excluded.published_at
     where breaker_states.published_at <= excluded.published_at`,
    [snapshot.endpoint, snapshot.status, snapshot.openUntil ?? null, JSON.stringify(snapshot), new Date(at)],
  );
}

/** Every endpoint's last published breaker (endpoints never published are closed). */
export async function listBreakerStates(db: Queryable): Promise<BreakerSnapshot[]> {
  const res = await db.query<{ snapshot: BreakerSnapshot }>('select snapshot from breaker_states');
  return res.rows.map((r) =>
    typeof r.snapshot === 'string' ? (JSON.parse(r.snapshot) as BreakerSnapshot) : r.snapshot,
  );
}
