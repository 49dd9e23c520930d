/**
 * The `requests` table: one row per routed request, written by the API (body) and the workflow's
 * activities (classification, decision, attempts, response, usage, final status).
 */
import type { AttemptRecord } from '../domain/request';
import { attemptEventsCte, requestEventsCte } from './eventOutbox';
import type { Queryable, SqlParam } from './index';

export type RequestStatus = 'received' | 'running' | 'succeeded' | 'failed';

export interface NewRequest {
  requestId: string;
  workflowId: string;
  tenantId: string;
  idempotencyKey?: string;
  operation: string;
  requestedModel: string;
  body: unknown;
  bodyHash: string;
  /** The end user it was made for (OpenAI's `user`, Anthropic's `metadata.user_id`, X-Switchyard-User). */
  endUser?: string;
  /** The template version its body was rendered from (the body is the rendered request). */
  template?: RequestTemplate;
}

/** A template version as a request record names it. */
export interface RequestTemplate {
  id: string;
  name: string;
  version: number;
}

export interface RequestRow {
  request_id: string;
  workflow_id: string;
  tenant_id: string;
  idempotency_key: string | null;
  operation: string;
  requested_model: string;
  body: unknown;
  body_hash: string;
  status: RequestStatus;
  provider: string | null;
  model: string | null;
  classification: unknown;
  decision: unknown;
  decision_input: unknown;
  config_version: number | null;
  attempts: unknown[];
  response: unknown;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  error: unknown;
  latency_ms: number | null;
  created_at: Date;
  completed_at: Date | null;
  cache_hit: boolean;
  cached_from: string | null;
  /** What the outcome added to the decision's notes (a continued stream's line), or null. */
  notes: string[] | null;
  /** The end user it was made for, when the client named one. */
  end_user: string | null;
  batch_id: string | null;
  /** The template version the body was rendered from (migration 020), or null. */
  template_id?: string | null;
  template_name?: string | null;
  template_version?: number | null;
}

/** Inserts the request unless it exists; returns the stored row either way (idempotent retries). */
export async function insertRequest(db: Queryable, r: NewRequest): Promise<{ row: RequestRow; created: boolean }> {
  const ins = await db.query<RequestRow>(
    `insert into requests (request_id, workflow_id, tenant_id, idempotency_key, operation, requested_model, body, body_hash, end_user,
                           template_id, template_name, template_version)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     on conflict (request_id) do nothing returning *`,
    [
      r.requestId,
      r.workflowId,
      r.tenantId,
      r.idempotencyKey ?? null,
      r.operation,
      r.requestedModel,
      JSON.stringify(r.body),
      r.bodyHash,
      r.endUser ?? null,
      r.template?.id ?? null,
      r.template?.name ?? null,
      r.template?.version ?? null,
    ],
  );
  if (ins.rows[0]) return { row: ins.rows[0], created: true };
  const row = await getRequest(db, r.requestId);
  if (!row) throw new Error(`request ${r.requestId} vanished after a conflicting insert`);
  return { row, created: false };
}

export async function getRequest(db: Queryable, requestId: string): Promise<RequestRow | undefined> {
  const res = await db.query<RequestRow>('select * from requests where request_id = $1', [requestId]);
  return res.rows[0];
}

/** What a provider call reads of its request: the operation and body as the API stored them. */
export interface StoredBody {
  operation: string;
  body: unknown;
  created_at: Date;
  /** The session its decision read a pin for (sessions on, the request has one): its answer moves the pin. */
  session_key?: string | null;
  tenant_id?: string;
}

/**
 * What a call reads of its request besides the body: its tenant and its session's key (from the
 * recorded decision input: present only when the decision read a pin), for the pin its answer writes.
 */
export const sessionColumns = (table = 'requests') =>
  `${table}.tenant_id, ${table}.decision_input->'session'->>'key' as session_key`;

/**
 * The body its calls send: the fitted conversation when the decision fitted one (issue 26),
 * else the client's. `original`: the client's, always (what fitting starts from).
 */
export const sentBody = (table = 'requests') => `coalesce(${table}.fitted_body, ${table}.body) as body`;

export async function getRequestBody(
  db: Queryable,
  requestId: string,
  opts: { original?: boolean } = {},
): Promise<StoredBody | undefined> {
  const res = await db.query<StoredBody>(
    `select operation, ${opts.original ? 'body' : sentBody()}, created_at from requests where request_id = $1`,
    [requestId],
  );
  return res.rows[0];
}

/**
 * What the API answers with once the workflow succeeded, as its row holds it: read it with
 * `readAnswer` (`src/domain/storedAnswer.ts`).
 */
export async function getAnswer(
  db: Queryable,
  requestId: string,
): Promise<{ response: unknown; model: string | null; created_at: Date } | undefined> {
  const res = await db.query<{ response: unknown; model: string | null; created_at: Date }>(
    'select response, model, created_at from requests where request_id = $1',
    [requestId],
  );
  return res.rows[0];
}

export async function saveDecision(
  db: Queryable,
  requestId: string,
  d: { classification: unknown; decision: unknown; decisionInput: unknown; configVersion: number },
): Promise<void> {
  await db.query(
    // A late or retried decision (a local activity retried after the request finished) changes nothing.
    `update requests set classification = $2, decision = $3, decision_input = $4, config_version = $5, status = 'running'
     where request_id = $1 and status in ('received', 'running')`,
    [
      requestId,
      JSON.stringify(d.classification),
      JSON.stringify(d.decision),
      JSON.stringify(d.decisionInput),
      d.configVersion,
    ],
  );
}

export interface RequestOutcome {
  status: 'succeeded' | 'failed';
  /** The answer (a success): stored with the outcome, in the same statement. */
  response?: unknown;
  provider?: string;
  model?: string;
  inputTokens?: number;
  outputTokens?: number;
  error?: unknown;
  latencyMs: number;
  /** What the outcome adds to the decision's notes ("continued after N pieces on X"). */
  notes?: string[];
}

const ABANDONED_MESSAGE =
  'the worker making this call stopped before it ended; the provider may have answered, at a cost unknown here';

export interface AbandonedAttempt {
  candidateIndex: number;
  attempt: number;
  provider: string;
  model: string;
}

/**
 * Completes the request in one statement: marks its attempts still `started` as `abandoned` (by
 * now none is running: a retry replaced any whose worker died), stores the outcome and answer
 * with the attempts' total cost, and returns the attempts (from `request_attempts`, their only
 * store) and which were abandoned (their reservations are the caller's to settle).
 */
export async function completeRequest(
  db: Queryable,
  requestId: string,
  o: RequestOutcome,
): Promise<{ attempts: AttemptRecord[]; abandoned: AbandonedAttempt[] }> {
  const res = await db.query<{ attempts: AttemptRow[]; abandoned: AttemptRow[] }>(
    `with abandoned as (
       update request_attempts set outcome = 'abandoned', error_type = 'Abandoned', error_message = $10
       where request_id = $1 and outcome = 'started' returning *),
     done as (
       update requests set status = $2, provider = $3, model = $4, response = coalesce($5, response), input_tokens = $6,
         output_tokens = $7, error = $8, latency_ms = $9, completed_at = now(), notes = coalesce($11, notes),
         cost_usd = (select coalesce(sum(cost_usd), 0) from request_attempts where request_id = $1),
         -- Kept on the row so analytics read a column, not the attempts of every request in a window.
         fell_back = (select count(distinct candidate_index) from request_attempts where request_id = $1) > 1
       where request_id = $1
       returning *,
         (select coalesce(json_agg(a order by a.candidate_index, a.attempt), '[]') from request_attempts a where a.request_id = $1) as attempts_json,
         (select coalesce(json_agg(b), '[]') from abandoned b) as abandoned_json),
     -- The usage events (src/db/eventOutbox.ts): the abandoned attempts', then the request's, in this commit.
     events as (${requestEventsCte('done', 'abandoned')})
     select attempts_json as attempts, abandoned_json as abandoned from done`,
    [
      requestId,
      o.status,
      o.provider ?? null,
      o.model ?? null,
      o.response === undefined ? null : JSON.stringify(o.response),
      o.inputTokens ?? null,
      o.outputTokens ?? null,
      o.error === undefined ? null : JSON.stringify(o.error),
      o.latencyMs,
      ABANDONED_MESSAGE,
      o.notes === undefined ? null : JSON.stringify(o.notes),
    ],
  );
  const row = res.rows[0];
  if (!row) return { attempts: [], abandoned: [] };
  const abandoned = row.abandoned.map((r) => ({
    candidateIndex: r.candidate_index,
    attempt: r.attempt,
    provider: r.provider,
    model: r.model,
  }));
  // The statement's own snapshot still shows them started.
  const wasAbandoned = (r: AttemptRow) =>
    abandoned.some((x) => x.candidateIndex === r.candidate_index && x.attempt === r.attempt);
  const attempts = row.attempts.map((r) =>
    toAttempt(
      wasAbandoned(r) ? { ...r, outcome: 'abandoned', error_type: 'Abandoned', error_message: ABANDONED_MESSAGE } : r,
    ),
  );
  return { attempts, abandoned };
}

const ATTEMPT_COLUMNS = `request_id, candidate_index, attempt, provider, model, outcome, error_type, error_message, status,
  started_at, latency_ms, input_tokens, output_tokens, cost_usd, malformed_events`;
// Typed: they are also used in an INSERT … SELECT, where nothing else says what they are.
const ATTEMPT_VALUES = `$1::text, $2::int, $3::int, $4::text, $5::text, $6::text, $7::text, $8::text, $9::int,
  $10::timestamptz, $11::int, $12::int, $13::int, $14::numeric, $15::int`;
// Upsert: a retried activity task for the same attempt number overwrites, never duplicates.
const ON_ATTEMPT_CONFLICT = `on conflict (request_id, candidate_index, attempt) do update set outcome = excluded.outcome,
  error_type = excluded.error_type, error_message = excluded.error_message, status = excluded.status,
  started_at = excluded.started_at, latency_ms = excluded.latency_ms, input_tokens = excluded.input_tokens,
  output_tokens = excluded.output_tokens, cost_usd = excluded.cost_usd, malformed_events = excluded.malformed_events`;
const UPSERT_ATTEMPT = `insert into request_attempts (${ATTEMPT_COLUMNS}) values (${ATTEMPT_VALUES}) ${ON_ATTEMPT_CONFLICT}`;

/**
 * A local activity's attempt (the fast path) is new or nothing: its number already on record is an
 * earlier run's (a dead worker's), another provider call, never this one's to overwrite.
 */
const ON_FRESH_ATTEMPT_CONFLICT = 'on conflict (request_id, candidate_index, attempt) do nothing';
const conflictClause = (fresh: boolean) => (fresh ? ON_FRESH_ATTEMPT_CONFLICT : ON_ATTEMPT_CONFLICT);

/**
 * An attempt recorded as `started` when `from` (a FROM and WHERE clause) yields a row: for
 * statements that start an attempt only if something else succeeded in the same statement.
 * Its parameters are `startedParams`, $1 to $15. It returns the attempt it wrote (none when a
 * `fresh` attempt's number was taken).
 */
export const startAttemptWhen = (from: string, fresh = false) =>
  `insert into request_attempts (${ATTEMPT_COLUMNS}) select ${ATTEMPT_VALUES} ${from} ${conflictClause(fresh)} returning attempt`;

export const startedParams = (requestId: string, a: Omit<AttemptRecord, 'outcome' | 'latencyMs'>) =>
  attemptParams(requestId, { ...a, outcome: 'started', latencyMs: 0 });

const attemptParams = (requestId: string, a: AttemptRecord): SqlParam[] => [
  requestId,
  a.candidateIndex,
  a.attempt,
  a.provider,
  a.model,
  a.outcome,
  a.errorType ?? null,
  a.errorMessage ?? null,
  a.status ?? null,
  a.startedAt,
  a.latencyMs,
  a.inputTokens ?? null,
  a.outputTokens ?? null,
  a.costUsd ?? null,
  a.malformedEvents ?? null,
];

/** Records the attempt; a finished one (not `started`) writes its `attempt.finished` event with it. */
export async function recordAttempt(db: Queryable, requestId: string, a: AttemptRecord): Promise<void> {
  await db.query(
    `with recorded as (${UPSERT_ATTEMPT} returning *), events as (${attemptEventsCte('recorded')}) select 1`,
    attemptParams(requestId, a),
  );
}

/** Forgets an attempt that never called (its call was refused after it was put on record). */
export async function forgetAttempt(db: Queryable, requestId: string, candidateIndex: number, attempt: number) {
  await db.query('delete from request_attempts where request_id = $1 and candidate_index = $2 and attempt = $3', [
    requestId,
    candidateIndex,
    attempt,
  ]);
}

/**
 * Records an attempt as `started` and reads its request's body, in one round trip: a call needs
 * both, and the attempt must be on record before the provider is called.
 */
export async function startAttempt(
  db: Queryable,
  requestId: string,
  a: Omit<AttemptRecord, 'outcome' | 'latencyMs'>,
  fresh = false,
): Promise<(StoredBody & { taken?: boolean }) | undefined> {
  const res = await db.query<StoredBody & { written: number }>(
    `with started as (insert into request_attempts (${ATTEMPT_COLUMNS}) values (${ATTEMPT_VALUES}) ${conflictClause(fresh)} returning attempt)
     select operation, ${sentBody()}, created_at, ${sessionColumns()}, (select count(*) from started)::int as written
     from requests where request_id = $1`,
    startedParams(requestId, a),
  );
  const row = res.rows[0];
  if (!row) return undefined;
  const { written, ...stored } = row;
  return { ...stored, ...(fresh && Number(written) === 0 && { taken: true }) };
}

interface AttemptRow {
  candidate_index: number;
  attempt: number;
  provider: string;
  model: string;
  outcome: AttemptRecord['outcome'];
  error_type: string | null;
  error_message: string | null;
  status: number | null;
  started_at: Date | string;
  latency_ms: number;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | string | null;
  queued_ms?: number | null;
  malformed_events?: number | null;
}

const toAttempt = (r: AttemptRow): AttemptRecord => ({
  candidateIndex: r.candidate_index,
  attempt: r.attempt,
  provider: r.provider,
  model: r.model,
  outcome: r.outcome,
  ...(r.error_type && { errorType: r.error_type }),
  ...(r.error_message && { errorMessage: r.error_message }),
  ...(r.status !== null && { status: r.status }),
  startedAt: new Date(r.started_at).toISOString(),
  latencyMs: r.latency_ms,
  ...(r.input_tokens !== null && { inputTokens: r.input_tokens }),
  ...(r.output_tokens !== null && { outputTokens: r.output_tokens }),
  ...(r.cost_usd !== null && { costUsd: Number(r.cost_usd) }),
  ...(r.queued_ms != null && { queuedMs: r.queued_ms }),
  ...(r.malformed_events != null && r.malformed_events > 0 && { malformedEvents: r.malformed_events }),
});

/** How long an attempt waited for its turn under its provider's rate limits. */
export async function setQueued(db: Queryable, requestId: string, candidateIndex: number, attempt: number, ms: number) {
  await db.query(
    'update request_attempts set queued_ms = $4 where request_id = $1 and candidate_index = $2 and attempt = $3',
    [requestId, candidateIndex, attempt, Math.round(ms)],
  );
}

/**
 * Adds a call's estimated tokens to its provider's count for this minute if the total stays
 * within `tpm`; false when it would not (the caller waits for the next minute).
 */
export async function takeTokens(db: Queryable, provider: string, minute: Date, tokens: number, tpm: number) {
  const res = await db.query(
    `insert into provider_tokens (provider, minute, tokens)
     select $1::text, $2::timestamptz, $3::bigint where $3::bigint <= $4::bigint
     on conflict (provider, minute) do update set tokens = provider_tokens.tokens + excluded.tokens
       where provider_tokens.tokens + excluded.tokens <= $4::bigint
     returning tokens`,
    [provider, minute, tokens, tpm],
  );
  return res.rows.length > 0;
}

/** Corrects a minute's count once the provider reported what the call used. */
export async function adjustTokens(db: Queryable, provider: string, minute: Date, delta: number) {
  await db.query(
    'update provider_tokens set tokens = greatest(0, tokens + $3::bigint) where provider = $1 and minute = $2',
    [provider, minute, delta],
  );
}

/**
 * The number a local activity's call attempt goes on record with: Temporal's own, unless an earlier
 * run of the call already used it. A local activity that a dead worker left is run again from
 * attempt 1 by the worker that replays its workflow; that call is another provider call, so it
 * gets the next number, and the one left `started` becomes `abandoned` as the request completes.
 */
export async function nextLocalAttempt(
  db: Queryable,
  requestId: string,
  candidateIndex: number,
  attempt: number,
): Promise<number> {
  const res = await db.query<{ attempt: number }>(
    `select greatest($3::int, coalesce(max(attempt), 0) + 1) as attempt from request_attempts
      where request_id = $1 and candidate_index = $2`,
    [requestId, candidateIndex, attempt],
  );
  return Number(res.rows[0]?.attempt ?? attempt);
}

export async function listAttempts(db: Queryable, requestId: string): Promise<AttemptRecord[]> {
  const res = await db.query<AttemptRow>(
    'select * from request_attempts where request_id = $1 order by candidate_index, attempt',
    [requestId],
  );
  return res.rows.map(toAttempt);
}

/** A request answered from the response cache: on record as succeeded, at no cost, naming its source. */
export async function recordCacheHit(
  db: Queryable,
  r: Omit<NewRequest, 'workflowId' | 'idempotencyKey'> & {
    provider: string;
    model: string;
    response: unknown;
    inputTokens: number;
    outputTokens: number;
    cachedFrom: string;
    latencyMs: number;
    endUser?: string;
  },
): Promise<Date> {
  const res = await db.query<{ created_at: Date }>(
    `with ins as (
       insert into requests (request_id, workflow_id, tenant_id, operation, requested_model, body, body_hash, status,
                             provider, model, response, input_tokens, output_tokens, cost_usd, latency_ms,
                             completed_at, cache_hit, cached_from, end_user, template_id, template_name, template_version)
       values ($1, '', $2, $3, $4, $5, $6, 'succeeded', $7, $8, $9, $10, $11, 0, $12, now(), true, $13, $14, $15, $16, $17)
       returning *),
     events as (${requestEventsCte('ins')})
     select created_at from ins`,
    [
      r.requestId,
      r.tenantId,
      r.operation,
      r.requestedModel,
      JSON.stringify(r.body),
      r.bodyHash,
      r.provider,
      r.model,
      JSON.stringify(r.response),
      r.inputTokens,
      r.outputTokens,
      r.latencyMs,
      r.cachedFrom,
      r.endUser ?? null,
      r.template?.id ?? null,
      r.template?.name ?? null,
      r.template?.version ?? null,
    ],
  );
  return res.rows[0]!.created_at;
}
