// One shape for both kinds of batch the Batches page lists: text-operation batches
// (/v1/operations/<kind>/batches: summarize, intent, sentiment, entities) and OpenAI-format
// batches (/v1/batches). Pure functions of the API's JSON (and the clock), no DOM.

export const OPERATION_KINDS = ['summarize', 'intent', 'sentiment', 'entities'];
const FINISHED = new Set(['completed', 'failed', 'cancelled', 'expired']);

const epochMs = (v) => (v === null || v === undefined ? null : typeof v === 'number' ? v * 1000 : Date.parse(v));

/** Finished items per minute since the batch started (the API's figure when it gives one). */
export function ratePerMinute(b, now = Date.now()) {
  if (b.rate !== null && b.rate !== undefined) return b.rate;
  const finished = b.done + b.failed;
  if (!b.startedAt || finished === 0) return null;
  const minutes = Math.max(1 / 60, (now - b.startedAt) / 60000);
  return finished / minutes;
}

/** Seconds left at the observed rate, or null when it cannot be told. */
export function etaSeconds(b, now = Date.now()) {
  if (b.eta !== null && b.eta !== undefined) return b.eta;
  if (b.finished) return null;
  const rate = ratePerMinute(b, now);
  const left = b.total - b.done - b.failed;
  return rate ? Math.round((left / rate) * 60) : null;
}

/** A text-operation batch (`<kind>.batch`). */
export function fromOperationBatch(j) {
  const kind = String(j.object || '').replace(/\.batch$/, '') || 'summarize';
  const progress = j.progress || {};
  const total = progress.total ?? j.counts?.total ?? 0;
  const done = progress.completed ?? j.counts?.done ?? 0;
  const failed = progress.failed ?? j.counts?.failed ?? 0;
  return {
    kind,
    id: j.id,
    tenantId: j.tenant_id ?? null,
    status: j.cancel_requested && !FINISHED.has(j.status) ? 'cancelling' : j.status,
    finished: FINISHED.has(j.status),
    total,
    done,
    failed,
    rate: j.rate_per_minute ?? null,
    eta: j.eta_seconds ?? null,
    costUsd: j.cost_usd ?? null,
    waitingReason: j.waiting_reason ?? (j.status === 'waiting' ? j.status_reason : null) ?? null,
    model: j.options?.model ?? null,
    createdAt: epochMs(j.created_at),
    startedAt: epochMs(j.started_at),
    finishedAt: epochMs(j.finished_at),
    path: `/v1/operations/${kind}/batches/${j.id}`,
    resultsPath: `/v1/operations/${kind}/batches/${j.id}/results`,
    resultsFile: `${j.id}-results.jsonl`,
    errorsPath: null,
  };
}

/** An OpenAI-format batch (`batch`). */
export function fromOpenAIBatch(j) {
  const c = j.progress || j.request_counts || {};
  const finished = FINISHED.has(j.status);
  return {
    kind: 'openai',
    id: j.id,
    tenantId: j.tenant_id ?? null,
    status: j.status,
    finished,
    total: c.total ?? 0,
    done: c.completed ?? 0,
    failed: c.failed ?? 0,
    rate: j.rate_per_minute ?? null,
    eta: j.eta_seconds ?? null,
    costUsd: j.cost_usd ?? null,
    waitingReason: j.waiting_reason ?? null,
    model: j.endpoint ?? null,
    createdAt: epochMs(j.created_at),
    startedAt: epochMs(j.in_progress_at),
    finishedAt: epochMs(j.completed_at ?? j.failed_at ?? j.cancelled_at),
    path: `/v1/batches/${j.id}`,
    resultsPath: j.output_file_id ? `/v1/files/${j.output_file_id}/content` : null,
    resultsFile: `${j.id}-output.jsonl`,
    errorsPath: j.error_file_id ? `/v1/files/${j.error_file_id}/content` : null,
  };
}

export const cancelPath = (b) => `${b.path}/cancel`;

/** Newest first. */
export const byCreated = (a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0);

/** The fraction finished (done or failed), 0–1. */
export const fraction = (b) => (b.total > 0 ? (b.done + b.failed) / b.total : b.finished ? 1 : 0);
