/**
 * The `llm_classifications` table: the configured classifying model's answers, by tenant, model and
 * sha256 of the prompt text, until their expiry. Read and written by the routing decision (only
 * when `routing.classifier.llm` is on and the trained classifier is unsure); shared by every worker.
 */
import type { Queryable } from './index';

export interface CachedLlmAnswer {
  taskType: string;
  complexity: string;
  /** The classification request that paid for it. */
  requestId: string;
}

/** The live answer for this prompt (expired ones are not read), or undefined. */
export async function readLlmClassification(
  db: Queryable,
  key: { tenantId: string; modelId: string; promptHash: string },
): Promise<CachedLlmAnswer | undefined> {
  const res = await db.query<{ task_type: string; complexity: string; request_id: string }>(
    `select task_type, complexity, request_id from llm_classifications
     where tenant_id = $1 and model_id = $2 and prompt_hash = $3 and expires_at > now()`,
    [key.tenantId, key.modelId, key.promptHash],
  );
  const row = res.rows[0];
  return row && { taskType: row.task_type, complexity: row.complexity, requestId: row.request_id };
}

/** One in this many writes also sweeps answers that expired. */
const SWEEP_ONE_IN = 100;

/** Keeps an answer for `ttlSeconds` from now (the database's clock); a later answer replaces it. */
export async function writeLlmClassification(
  db: Queryable,
  e: { tenantId: string; modelId: string; promptHash: string; ttlSeconds: number } & CachedLlmAnswer,
  sweep = Math.random() < 1 / SWEEP_ONE_IN,
): Promise<void> {
  await db.query(
    `with swept as (delete from llm_classifications where $8::boolean and expires_at < now()
       and not (tenant_id = $1 and model_id = $2 and prompt_hash = $3))
     insert into llm_classifications (tenant_id, model_id, prompt_hash, task_type, complexity, request_id, expires_at)
     values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::int))
     on conflict (tenant_id, model_id, prompt_hash) do update set task_type = excluded.task_type,
       complexity = excluded.complexity, request_id = excluded.request_id, expires_at = excluded.expires_at,
       created_at = now()`,
    [e.tenantId, e.modelId, e.promptHash, e.taskType, e.complexity, e.requestId, Math.round(e.ttlSeconds), sweep],
  );
}
