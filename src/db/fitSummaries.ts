/**
 * Context fitting's store (issue 26, migration 021): a fitted request's conversation (`fitted_body`
 * on its row, which its provider calls read instead of `body`) and the summaries of dropped turns,
 * per tenant by the sha256 of the turns, shared by every worker.
 */
import type { Queryable } from './index';

export interface FitSummary {
  summary: string;
  /** The summarizing request that paid for it. */
  summaryRequestId: string;
}

export async function readFitSummary(
  db: Queryable,
  tenantId: string,
  turnsHash: string,
): Promise<FitSummary | undefined> {
  const res = await db.query<{ summary: string; summary_request_id: string }>(
    'select summary, summary_request_id from fit_summaries where tenant_id = $1 and turns_hash = $2',
    [tenantId, turnsHash],
  );
  const row = res.rows[0];
  return row && { summary: row.summary, summaryRequestId: row.summary_request_id };
}

/** Keeps a summary; the first one written for these turns stays (a retried decision writes the same). */
export async function writeFitSummary(
  db: Queryable,
  e: { tenantId: string; turnsHash: string } & FitSummary,
): Promise<void> {
  await db.query(
    `insert into fit_summaries (tenant_id, turns_hash, summary, summary_request_id) values ($1, $2, $3, $4)
     on conflict (tenant_id, turns_hash) do nothing`,
    [e.tenantId, e.turnsHash, e.summary, e.summaryRequestId],
  );
}

/**
 * The conversation the request's calls send (null: the client's own, unfitted). Only while the
 * request runs: a late, retried decision changes no finished request.
 */
export async function setFittedBody(db: Queryable, requestId: string, body: unknown): Promise<void> {
  await db.query(`update requests set fitted_body = $2 where request_id = $1 and status in ('received', 'running')`, [
    requestId,
    body === null ? null : JSON.stringify(body),
  ]);
}
