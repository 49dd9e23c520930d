/**
 * OpenAI's object shapes of the Batch API: the batch and the file objects. (A line's response body
 * is what the synchronous endpoint returns: `chatCompletionObject`, `embeddingsObject`.)
 */
import type { BatchStatus } from './spec';

const epoch = (t: Date | string | null | undefined) => (t ? Math.floor(new Date(t).getTime() / 1000) : null);

export type OpenAIBatchStatus =
  'validating' | 'in_progress' | 'finalizing' | 'completed' | 'cancelling' | 'cancelled' | 'failed';

/** Our status in OpenAI's words: a cancel acknowledged but not yet finished is `cancelling`. */
export function openaiStatus(status: BatchStatus, cancelRequested: boolean): OpenAIBatchStatus {
  if (status === 'completed') return 'completed';
  if (status === 'cancelled') return 'cancelled';
  if (status === 'failed') return 'failed';
  if (cancelRequested) return 'cancelling';
  return status === 'queued' ? 'validating' : 'in_progress';
}

export interface BatchObjectInput {
  id: string;
  status: BatchStatus;
  endpoint: string;
  inputFileId: string;
  completionWindow: string;
  createdAt: Date | string;
  startedAt: Date | string | null;
  finishedAt: Date | string | null;
  cancelledAt: Date | string | null;
  total: number;
  done: number;
  failed: number;
  metadata: Record<string, string> | null;
  outputFileId: string | null;
  errorFileId: string | null;
}

export function batchObject(b: BatchObjectInput) {
  const status = openaiStatus(b.status, b.cancelledAt !== null);
  return {
    id: b.id,
    object: 'batch',
    endpoint: b.endpoint,
    errors: null,
    input_file_id: b.inputFileId,
    completion_window: b.completionWindow,
    status,
    output_file_id: b.outputFileId,
    error_file_id: b.errorFileId,
    created_at: epoch(b.createdAt),
    in_progress_at: epoch(b.startedAt),
    expires_at: (epoch(b.createdAt) ?? 0) + 24 * 3600,
    finalizing_at: null,
    completed_at: status === 'completed' ? epoch(b.finishedAt) : null,
    failed_at: status === 'failed' ? epoch(b.finishedAt) : null,
    expired_at: null,
    cancelling_at: epoch(b.cancelledAt),
    cancelled_at: status === 'cancelled' ? epoch(b.finishedAt) : null,
    request_counts: { total: b.total, completed: b.done, failed: b.failed },
    metadata: b.metadata,
  };
}

export function fileObject(f: {
  id: string;
  bytes: number;
  created_at: Date | string;
  filename: string;
  purpose: string;
}) {
  return {
    id: f.id,
    object: 'file',
    bytes: f.bytes,
    created_at: epoch(f.created_at),
    filename: f.filename,
    purpose: f.purpose,
    status: 'processed',
    status_details: null,
  };
}
