/**
 * Batch jobs' tables: the batch, its items (stored before the workflow starts), one result per
 * item, and OpenAI files. Writes that a retried activity may repeat are idempotent.
 */
import type { BatchKind, BatchOptions, BatchStatus } from '../domain/batch/spec';
import { batchItemEventsCte } from './eventOutbox';
import type { Queryable } from './index';

export interface NewBatch {
  id: string;
  tenantId: string;
  kind: BatchKind;
  options: BatchOptions;
  workflowId: string;
  inputFileId?: string;
  webhookUrl?: string;
  createdBy?: string;
}

export interface BatchRow {
  id: string;
  tenant_id: string;
  kind: BatchKind;
  status: BatchStatus;
  status_reason: string | null;
  options: BatchOptions;
  total: number;
  workflow_id: string;
  input_file_id: string | null;
  webhook_url: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  cancelled_at: Date | null;
}

export interface BatchTotals {
  done: number;
  failed: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  requests: number;
}

export async function insertBatch(db: Queryable, b: NewBatch): Promise<void> {
  await db.query(
    `insert into batches (id, tenant_id, kind, options, total, workflow_id, input_file_id, webhook_url, created_by)
     values ($1, $2, $3, $4, 0, $5, $6, $7, $8)`,
    [
      b.id,
      b.tenantId,
      b.kind,
      JSON.stringify(b.options),
      b.workflowId,
      b.inputFileId ?? null,
      b.webhookUrl ?? null,
      b.createdBy ?? null,
    ],
  );
}

/**
 * A page of a batch's items, already serialised by the caller: `[{"seq", "item_id", "input"}, …]`.
 * One statement per page (the array expanded server-side).
 */
export async function insertItemsJson(db: Queryable, batchId: string, recordsJson: string): Promise<void> {
  await db.query(
    `insert into batch_items (batch_id, seq, item_id, input)
     select $1, x.seq, x.item_id, x.input from jsonb_to_recordset($2::jsonb) as x(seq int, item_id text, input jsonb)`,
    [batchId, recordsJson],
  );
}

export async function setBatchTotal(db: Queryable, batchId: string, total: number): Promise<void> {
  await db.query('update batches set total = $2 where id = $1', [batchId, total]);
}

const BATCH_COLUMNS = `id, tenant_id, kind, status, status_reason, options, total, workflow_id, input_file_id,
  webhook_url, created_at, started_at, finished_at, cancelled_at`;

export async function getBatch(db: Queryable, batchId: string): Promise<BatchRow | undefined> {
  const res = await db.query<BatchRow>(`select ${BATCH_COLUMNS} from batches where id = $1`, [batchId]);
  return res.rows[0];
}

/**
 * Batches newest first (created_at desc, id desc), of one tenant or all (undefined) and of one kind
 * or all; `after`: the last id of the previous page (keyset, never OFFSET).
 */
export async function listBatches(
  db: Queryable,
  tenantId: string | undefined,
  kind: BatchKind | undefined,
  opts: { limit: number; after?: string },
): Promise<BatchRow[]> {
  const res = await db.query<BatchRow>(
    `select ${BATCH_COLUMNS} from batches b where ($1::text is null or tenant_id = $1) and ($2::text is null or kind = $2)
       -- The cursor counts only as one of the batches this caller may list: another tenant's id
       -- must read exactly as an unknown one (an empty page), or it tells it exists.
       and ($3::text is null or (created_at, id) < (select c.created_at, c.id from batches c
             where c.id = $3 and ($1::text is null or c.tenant_id = $1) and ($2::text is null or c.kind = $2)))
     order by created_at desc, id desc limit $4`,
    [tenantId ?? null, kind ?? null, opts.after ?? null, opts.limit],
  );
  return res.rows;
}

/** Done and failed items, and what the batch's requests have used so far (finished items or not). */
export async function batchTotals(db: Queryable, batchId: string): Promise<BatchTotals> {
  const res = await db.query<BatchTotals>(
    `select
       (select count(*) from batch_results where batch_id = $1 and ok)::int as done,
       (select count(*) from batch_results where batch_id = $1 and not ok)::int as failed,
       coalesce(sum(r.input_tokens), 0)::int as input_tokens,
       coalesce(sum(r.output_tokens), 0)::int as output_tokens,
       coalesce(sum(r.cost_usd), 0)::float8 as cost_usd,
       count(r.request_id)::int as requests
     from requests r where r.batch_id = $1`,
    [batchId],
  );
  return res.rows[0]!;
}

/** Status changes by the workflow; a finished batch's status no longer changes. */
export async function setBatchStatus(
  db: Queryable,
  batchId: string,
  status: BatchStatus,
  reason: string | null,
): Promise<void> {
  await db.query(
    `update batches set status = $2, status_reason = $3,
       started_at = coalesce(started_at, case when $2 in ('running', 'waiting') then now() end),
       finished_at = case when $2 in ('completed', 'cancelled', 'failed') then coalesce(finished_at, now()) else finished_at end
     where id = $1 and status not in ('completed', 'cancelled', 'failed')`,
    [batchId, status, reason],
  );
}

/**
 * Marks a batch's cancel and returns its row (idempotent: the first mark's time is kept). A batch
 * that already finished (completed, cancelled or failed) is left as it is and gives undefined:
 * there is nothing to cancel. After the mark no call of the batch starts: each call checks it once
 * its attempt is on record (`checkBatch`), so a caller that then waits out `callsInFlight` sees
 * every call that got past the check.
 */
export async function cancelBatch(db: Queryable, batchId: string): Promise<BatchRow | undefined> {
  const res = await db.query<BatchRow>(
    `update batches set cancelled_at = coalesce(cancelled_at, now())
     where id = $1 and status not in ('completed', 'cancelled', 'failed') returning ${BATCH_COLUMNS}`,
    [batchId],
  );
  return res.rows[0];
}

export async function batchCancelled(db: Queryable, batchId: string): Promise<boolean> {
  const res = await db.query<{ c: boolean }>('select cancelled_at is not null as c from batches where id = $1', [
    batchId,
  ]);
  return res.rows[0]?.c ?? false;
}

/** Attempts of the batch's requests still calling a provider. */
export async function callsInFlight(db: Queryable, batchId: string): Promise<number> {
  const res = await db.query<{ n: number }>(
    `select count(*)::int as n from request_attempts a join requests r on r.request_id = a.request_id
     where r.batch_id = $1 and a.outcome = 'started'`,
    [batchId],
  );
  return res.rows[0]!.n;
}

export interface ItemRun {
  seq: number;
  item_id: string;
  input: Record<string, unknown>;
  /** This run's number (1 for the first): a rerun's requests get new ids. */
  run: number;
}

/**
 * Starts runs of items without a result: the next `limit` after `afterSeq`, or exactly `seqs`
 * (items run again after an outage). One statement.
 */
export async function startRuns(
  db: Queryable,
  batchId: string,
  which: { afterSeq: number; limit: number } | { seqs: number[] },
): Promise<ItemRun[]> {
  const bySeqs = 'seqs' in which;
  const res = await db.query<{ seq: number; item_id: string; input: Record<string, unknown>; runs: number }>(
    `with picked as (
       select i.seq from batch_items i
       where i.batch_id = $1 and ${bySeqs ? 'i.seq = any($2::int[])' : 'i.seq > $2'}
         and not exists (select 1 from batch_results r where r.batch_id = i.batch_id and r.item_id = i.item_id)
       order by i.seq limit $3)
     update batch_items b set runs = runs + 1 from picked
     where b.batch_id = $1 and b.seq = picked.seq
     returning b.seq, b.item_id, b.input, b.runs`,
    [batchId, bySeqs ? which.seqs : which.afterSeq, bySeqs ? which.seqs.length : which.limit],
  );
  return res.rows.sort((a, b) => a.seq - b.seq).map((r) => ({ ...r, run: r.runs }));
}

export interface ItemResult {
  ok: boolean;
  result?: unknown;
  error?: unknown;
  requestIds: string[];
}

/**
 * The item's one result: written once (a second write, from a retried activity or a rerun, finds
 * the row and changes nothing). Models, tokens and cost are summed from its requests.
 */
export async function writeResult(db: Queryable, batchId: string, itemId: string, r: ItemResult): Promise<boolean> {
  const res = await db.query(
    `with ins as (
       insert into batch_results (batch_id, item_id, ok, result, error, models, request_ids, input_tokens, output_tokens, cost_usd)
       select $1, $2, $3, $4, $5,
         coalesce(array_agg(distinct q.model) filter (where q.model is not null), '{}'), $6::text[],
         coalesce(sum(q.input_tokens), 0), coalesce(sum(q.output_tokens), 0), coalesce(sum(q.cost_usd), 0)
       from requests q where q.request_id = any($6::text[])
       on conflict (batch_id, item_id) do nothing
       returning *),
     -- Its batch_item.finished usage event, in the same commit (src/db/eventOutbox.ts).
     events as (${batchItemEventsCte('ins')})
     select 1 from ins`,
    [
      batchId,
      itemId,
      r.ok,
      r.result === undefined ? null : JSON.stringify(r.result),
      r.error === undefined ? null : JSON.stringify(r.error),
      r.requestIds,
    ],
  );
  return res.rowCount > 0;
}

export interface ResultRow {
  seq: number;
  item_id: string;
  ok: boolean | null;
  result: unknown;
  error: unknown;
  models: string[] | null;
  request_ids: string[] | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  created_at: Date | null;
}

/** A page of items with their results (null when not finished), in upload order. */
export async function resultsPage(
  db: Queryable,
  batchId: string,
  afterSeq: number,
  limit: number,
  onlyFinished = true,
): Promise<ResultRow[]> {
  const res = await db.query<ResultRow>(
    `select i.seq, i.item_id, r.ok, r.result, r.error, r.models, r.request_ids, r.input_tokens, r.output_tokens,
       r.cost_usd::float8 as cost_usd, r.created_at
     from batch_items i left join batch_results r on r.batch_id = i.batch_id and r.item_id = i.item_id
     where i.batch_id = $1 and i.seq > $2 ${onlyFinished ? 'and r.item_id is not null' : ''}
     order by i.seq limit $3`,
    [batchId, afterSeq, limit],
  );
  return res.rows;
}

/** The webhook is called once: the first caller to mark it gets to send it. */
export async function claimWebhook(db: Queryable, batchId: string): Promise<string | undefined> {
  const res = await db.query<{ webhook_url: string }>(
    `update batches set webhook_sent_at = now() where id = $1 and webhook_url is not null and webhook_sent_at is null
     returning webhook_url`,
    [batchId],
  );
  return res.rows[0]?.webhook_url;
}

export async function unclaimWebhook(db: Queryable, batchId: string): Promise<void> {
  await db.query('update batches set webhook_sent_at = null where id = $1', [batchId]);
}

// ---- OpenAI files ----

export interface FileRow {
  id: string;
  tenant_id: string;
  purpose: string;
  filename: string;
  bytes: number;
  source: 'upload' | 'batch_output' | 'batch_error';
  batch_id: string | null;
  created_at: Date;
}

export async function insertFile(
  db: Queryable,
  f: Omit<FileRow, 'created_at' | 'batch_id'> & { batch_id?: string },
): Promise<FileRow> {
  const res = await db.query<FileRow>(
    `insert into files (id, tenant_id, purpose, filename, bytes, source, batch_id) values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (id) do update set bytes = excluded.bytes, filename = excluded.filename returning *`,
    [f.id, f.tenant_id, f.purpose, f.filename, f.bytes, f.source, f.batch_id ?? null],
  );
  return res.rows[0]!;
}

/**
 * A page of an uploaded file's lines, already serialised by the caller: `[{"line_no", "content"}, …]`.
 * `json`, not `jsonb`, so each line reads back with its keys in the order they came.
 */
export async function insertFileLinesJson(db: Queryable, fileId: string, recordsJson: string): Promise<void> {
  await db.query(
    `insert into file_lines (file_id, line_no, content)
     select $1, x.line_no, x.content from json_to_recordset($2::json) as x(line_no int, content json)`,
    [fileId, recordsJson],
  );
}

export async function getFile(db: Queryable, fileId: string): Promise<FileRow | undefined> {
  const res = await db.query<FileRow>('select * from files where id = $1', [fileId]);
  return res.rows[0];
}

export async function fileLines(
  db: Queryable,
  fileId: string,
  afterLine: number,
  limit: number,
): Promise<Array<{ line_no: number; content: unknown }>> {
  const res = await db.query<{ line_no: number; content: unknown }>(
    'select line_no, content from file_lines where file_id = $1 and line_no > $2 order by line_no limit $3',
    [fileId, afterLine, limit],
  );
  return res.rows;
}

/** Copies an uploaded file's lines into a batch's items (one statement, in the server). */
export async function itemsFromFile(db: Queryable, batchId: string, fileId: string): Promise<number> {
  const res = await db.query(
    `insert into batch_items (batch_id, seq, item_id, input)
     select $1, line_no, content->>'custom_id', content::jsonb from file_lines where file_id = $2`,
    [batchId, fileId],
  );
  return res.rowCount;
}

export interface NewBatchRequest {
  requestId: string;
  operation: string;
  requestedModel: string;
  body: unknown;
}

/** A batch's requests, in one statement; an existing one (a retried activity) is left as it is. */
export async function insertBatchRequests(
  db: Queryable,
  batchId: string,
  tenantId: string,
  rows: NewBatchRequest[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `insert into requests (request_id, workflow_id, tenant_id, operation, requested_model, body, body_hash, batch_id)
     select x.request_id, 'req-' || x.request_id, $2, x.operation, x.requested_model, x.body, md5(x.body::text), $1
     from jsonb_to_recordset($3::jsonb) as x(request_id text, operation text, requested_model text, body jsonb)
     on conflict (request_id) do nothing`,
    [
      batchId,
      tenantId,
      JSON.stringify(
        rows.map((r) => ({
          request_id: r.requestId,
          operation: r.operation,
          requested_model: r.requestedModel,
          body: r.body,
        })),
      ),
    ],
  );
}

/** The stored answers of requests (summaries of chunks, responses of lines), by id. */
export async function requestAnswers(
  db: Queryable,
  requestIds: string[],
): Promise<Array<{ request_id: string; status: string; response: unknown; error: unknown; model: string | null }>> {
  const res = await db.query<{
    request_id: string;
    status: string;
    response: unknown;
    error: unknown;
    model: string | null;
  }>(`select request_id, status, response, error, model from requests where request_id = any($1::text[])`, [
    requestIds,
  ]);
  return res.rows;
}
