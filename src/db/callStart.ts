/**
 * A provider call's start, in one statement: reserve the budget's worst case and, only if that is
 * granted, record the attempt as `started` and read the request's body. One round trip instead of
 * two, and no moment where a reservation exists without its attempt on record (a worker dying in
 * between would leave a reservation nobody settles until it expires).
 */
import type { AttemptRecord } from '../domain/request';
import {
  reserveCallSql,
  reserveResultOf,
  type ReserveInput,
  type ReserveResult,
  type ReserveRow,
} from './budgetLedger';
import { sentBody, sessionColumns, startAttemptWhen, startedParams, type StoredBody } from './requests';
import type { Queryable } from './index';

export async function reserveAndStart(
  db: Queryable,
  reservation: ReserveInput,
  requestId: string,
  attempt: Omit<AttemptRecord, 'outcome' | 'latencyMs'>,
  fresh = false,
): Promise<{ reserved: ReserveResult; request?: StoredBody; taken?: boolean }> {
  const params = startedParams(requestId, attempt);
  const call = reserveCallSql(reservation, params.length + 1);
  type Row = ReserveRow & { operation: string | null; body: unknown; created_at: Date | null; written: number };
  // A CTE calling a volatile function is never inlined: computed once, one reservation.
  const res = await db.query<Row & { tenant_id: string | null; session_key: string | null }>(
    `with res as (select * from ${call.sql}),
       started as (${startAttemptWhen("from res where res.status <> 'refused'", fresh)})
     select res.*, r.operation, ${sentBody('r')}, r.created_at, ${sessionColumns('r')},
       (select count(*) from started)::int as written
     from res left join requests r on r.request_id = $1`,
    [...params, ...call.params],
  );
  const row = res.rows[0]!;
  const reserved = reserveResultOf(row, reservation.id);
  if (!reserved.ok || row.operation === null) return { reserved };
  // A fresh attempt whose number an earlier run took: its reservation (the same id) is that run's.
  if (fresh && Number(row.written) === 0) return { reserved, taken: true };
  return {
    reserved,
    request: {
      operation: row.operation,
      body: row.body,
      created_at: row.created_at!,
      ...(row.tenant_id && { tenant_id: row.tenant_id }),
      session_key: row.session_key,
    },
  };
}
