/**
 * The `requests` table: one row per routed request, written by the API (body) and the workflow's
 * activities (classification, decision, attempts, response, usage, final status).
 */
import type { AttemptRecord } from '../domain/request';
import type { Queryable } from './index';

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
}

/** Inserts the request unless it exists; returns the stored row either way (idempotent retries). */
export async function insertRequest(db: Queryable, r: NewRequest): Promise<{ row: RequestRow; created: boolean }> {
  const ins = await db.query<RequestRow>(
    `insert into requests (request_id, workflow_id, tenant_id, idempotency_key, operation, requested_model, body, body_hash)
     values ($1, $2, $3, $4, $5, $6, $7, $8)
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

export async function saveResponse(db: Queryable, requestId: string, response: unknown): Promise<void> {
  await db.query('update requests set response = $2 where request_id = $1', [requestId, JSON.stringify(response)]);
}

export interface RequestOutcome {
  status: 'succeeded' | 'failed';
  provider?: string;
  model?: string;
  attempts: unknown[];
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  error?: unknown;
  latencyMs: number;
}

export async function completeRequest(db: Queryable, requestId: string, o: RequestOutcome): Promise<void> {
  await db.query(
    `update requests set status = $2, provider = $3, model = $4, attempts = $5, input_tokens = $6, output_tokens = $7,
       cost_usd = $8, error = $9, latency_ms = $10, completed_at = now()
     where request_id = $1`,
    [
      requestId,
      o.status,
      o.provider ?? null,
      o.model ?? null,
      JSON.stringify(o.attempts),
      o.inputTokens ?? null,
      o.outputTokens ?? null,
      o.costUsd ?? null,
      o.error === undefined ? null : JSON.stringify(o.error),
      o.latencyMs,
    ],
  );
}

export async function recordAttempt(db: Queryable, requestId: string, a: AttemptRecord): Promise<void> {
  // Upsert: a retried activity task for the same attempt number overwrites, never duplicates.
  await db.query(
    `insert into request_attempts (request_id, candidate_index, attempt, provider, model, outcome, error_type, error_message, status, started_at, latency_ms,
       input_tokens, output_tokens, cost_usd)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     on conflict (request_id, candidate_index, attempt) do update set outcome = excluded.outcome, error_type = excluded.error_type,
       error_message = excluded.error_message, status = excluded.status, started_at = excluded.started_at, latency_ms = excluded.latency_ms,
       input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, cost_usd = excluded.cost_usd`,
    [
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
    ],
  );
}

/**
 * Marks the request's attempts still `started` as `abandoned`: called when the request completes,
 * by which time no attempt of it is still running (a retry replaced any whose worker died).
 */
export async function abandonStartedAttempts(
  db: Queryable,
  requestId: string,
): Promise<Array<{ candidateIndex: number; attempt: number; provider: string; model: string }>> {
  const res = await db.query<{ candidate_index: number; attempt: number; provider: string; model: string }>(
    `update request_attempts set outcome = 'abandoned', error_type = 'Abandoned',
       error_message = 'the worker making this call stopped before it ended; the provider may have answered, at a cost unknown here'
     where request_id = $1 and outcome = 'started' returning candidate_index, attempt, provider, model`,
    [requestId],
  );
  return res.rows.map((r) => ({
    candidateIndex: r.candidate_index,
    attempt: r.attempt,
    provider: r.provider,
    model: r.model,
  }));
}

export async function listAttempts(db: Queryable, requestId: string): Promise<AttemptRecord[]> {
  const res = await db.query<{
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
    cost_usd: number | null;
  }>('select * from request_attempts where request_id = $1 order by candidate_index, attempt', [requestId]);
  return res.rows.map((r) => ({
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
    ...(r.cost_usd !== null && { costUsd: r.cost_usd }),
  }));
}
