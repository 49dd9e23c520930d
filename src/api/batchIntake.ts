/**
 * Taking a batch in: JSONL read line by line from the request stream with byte limits (never
 * buffered whole: a line past its limit is refused as it crosses it), each line checked as the JSON
 * API's bodies are (clean strings, depth, schema), errors naming the line and field. The checked
 * items wait in a spool; the caller stores them in one transaction once the whole upload parsed, so
 * a rejected upload stores nothing and a slow client holds no transaction. Then the batch workflow
 * starts with ids and counts only.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import type { Db } from '../db';
import * as batches from '../db/batches';
import {
  batchWorkflowId,
  lineError,
  MAX_BATCH_ITEMS,
  type BatchJobInput,
  type BatchKind,
  type BatchOptions,
} from '../domain/batch/spec';
import { SA_OPERATION, SA_STATUS, SA_TENANT } from '../temporal/searchAttributes';
import { batchSummarize, openaiBatch, operationBatch } from '../../workflows';
import { boundedLines, type LineLimits } from './bodyStream';
import { HttpError } from './errors';
import { jsonProblem } from './inputGuard';
import { unavailable } from './routeFailure';

export interface BatchSettings {
  maxConcurrency: number;
  recheckMs: number;
}

export const newBatchId = () => `batch_${randomBytes(12).toString('hex')}`;

/** One JSONL line (a request or a document with its text): as large as a JSON request body may be. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;
/** One upload: OpenAI's limit for a batch input file, and the summarization JSONL's too. */
export const MAX_UPLOAD_BYTES = 200 * 1024 * 1024;

/** Parses and validates JSONL from a stream within `limits`; `onItem` takes each valid line. */
export async function readJsonLines<T>(
  input: Readable,
  limits: LineLimits,
  schema: z.ZodType<T>,
  onItem: (value: T, lineNo: number) => Promise<void> | void,
): Promise<number> {
  let count = 0;
  for await (const { text: raw, lineNo } of boundedLines(input, limits)) {
    if (raw.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw HttpError.invalid(lineError(lineNo, [], `not valid JSON (${(err as Error).message})`), {
        code: 'invalid_json',
        param: limits.param,
        extra: { line: lineNo },
      });
    }
    const problem = jsonProblem(value);
    if (problem)
      throw HttpError.invalid(lineError(lineNo, problem.path, problem.message), {
        code: problem.code,
        param: problem.path.map(String).join('.') || limits.param,
        extra: { line: lineNo },
      });
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const { path, message } = issueOf(parsed.error);
      throw HttpError.invalid(lineError(lineNo, path, message), {
        code: 'invalid_line',
        param: path.map(String).join('.') || limits.param,
        extra: { line: lineNo },
      });
    }
    if (++count > MAX_BATCH_ITEMS)
      throw HttpError.invalid(`line ${lineNo}: a batch holds at most ${MAX_BATCH_ITEMS} items`, {
        code: 'too_many_items',
        param: limits.param,
        extra: { line: lineNo },
      });
    await onItem(parsed.data, lineNo);
  }
  return count;
}

/** The first problem of a zod error, phrased for an upload: the field's path and what is wrong. */
export function issueOf(error: z.ZodError): { path: PropertyKey[]; message: string } {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys')
    return { path: [...issue.path, issue.keys[0]!], message: 'unrecognized field' };
  return {
    path: issue.path as PropertyKey[],
    message: /received undefined/.test(issue.message) ? 'required' : issue.message,
  };
}

/** Ids of one upload: a repeated one is a 400 naming its line and the line it first came on. */
export class UniqueIds {
  private readonly seen = new Map<string, number>();

  get count(): number {
    return this.seen.size;
  }

  add(id: string, lineNo: number, field = 'id'): void {
    const first = this.seen.get(id);
    if (first !== undefined)
      throw HttpError.invalid(lineError(lineNo, [field], `duplicate id '${id}' (first on line ${first})`), {
        code: 'duplicate_id',
        param: field,
        extra: { line: lineNo },
      });
    this.seen.set(id, lineNo);
  }
}

/** Starts the batch's workflow; if Temporal cannot take it, the batch is marked failed and the client gets a 503. */
export async function startBatchWorkflow(
  deps: { db: Db; client: Client; taskQueue: string; batches: BatchSettings },
  b: { id: string; tenantId: string; kind: BatchKind; options: BatchOptions },
): Promise<void> {
  const input: BatchJobInput = {
    batchId: b.id,
    tenantId: b.tenantId,
    kind: b.kind,
    concurrency: b.options.concurrency,
    recheckMs: deps.batches.recheckMs,
  };
  try {
    const type = b.kind === 'summarize' ? batchSummarize : b.kind === 'openai' ? openaiBatch : operationBatch;
    await deps.client.workflow.start(type, {
      taskQueue: deps.taskQueue,
      workflowId: batchWorkflowId(b.id),
      args: [input],
      typedSearchAttributes: [
        { key: SA_TENANT, value: b.tenantId },
        { key: SA_OPERATION, value: `${b.kind}-batch` },
        { key: SA_STATUS, value: 'running' },
      ],
      staticSummary: `${b.kind} batch ${b.id} · tenant ${b.tenantId}`,
    });
  } catch (err) {
    await batches.setBatchStatus(deps.db, b.id, 'failed', 'the batch workflow could not be started');
    throw unavailable('Temporal', err);
  }
}

/**
 * Cancels a batch: marks it in Postgres (from then on no call of the batch starts), asks its
 * workflow to stop, and waits (bounded) until the calls already started have ended. False: the
 * batch had already finished, so nothing was cancelled (the caller says so).
 */
export async function cancelBatchJob(deps: { db: Db; client: Client }, batchId: string): Promise<boolean> {
  if (!(await batches.cancelBatch(deps.db, batchId))) return false;
  try {
    await deps.client.workflow.getHandle(batchWorkflowId(batchId)).cancel();
  } catch {
    // Already finished (or never started): nothing runs to stop.
  }
  const until = Date.now() + 30_000;
  while (Date.now() < until && (await batches.callsInFlight(deps.db, batchId)) > 0) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
