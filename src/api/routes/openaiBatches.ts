/**
 * The OpenAI Files and Batch APIs on Switchyard's batch engine: `files.create` (purpose `batch`,
 * multipart as the SDKs send it), `files.retrieve`, `files.content`, and `batches.create`,
 * `retrieve`, `cancel`, `list`, in OpenAI's object shapes. Each line runs as a routed, durable
 * request; the output file is read from the results when asked for.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import { z } from 'zod';
import * as batches from '../../db/batches';
import { batchObject, fileObject } from '../../domain/batch/openai';
import { OpenAIBatchLineSchema, type BatchOptions } from '../../domain/batch/spec';
import { actorOf, authOf, hasRole, tenantFilterOf, tenantInScope } from '../auth';
import {
  cancelBatchJob,
  MAX_LINE_BYTES,
  MAX_UPLOAD_BYTES,
  newBatchId,
  readJsonLines,
  startBatchWorkflow,
  UniqueIds,
} from '../batchIntake';
import { clientGone, requestGone, tooLarge } from '../bodyStream';
import { routeContext } from '../context';
import { HttpError } from '../errors';
import { RecordSpool } from '../uploadSpool';
import { validate } from '../validate';
import { BatchListQuery, batchList, batchView, ownBatch, progressOf, streamPages, type BatchDeps } from './batches';

/** `kind`: OpenAI's batches (the default: what an OpenAI client lists), or every kind (the console). */
const OpenAIBatchListQuery = BatchListQuery.extend({ kind: z.enum(['openai', 'all']).default('openai') });
import { routeSpecs } from '../routeSpec';

const outputFileId = (batchId: string) => `file-${batchId}-output`;
const errorFileId = (batchId: string) => `file-${batchId}-errors`;
const lineId = (batchId: string, seq: number) => `batch_req_${batchId.slice(6)}_${seq}`;

export const CreateBatchSchema = z
  .object({
    input_file_id: z.string().min(1).max(100),
    endpoint: z.enum(['/v1/chat/completions', '/v1/embeddings']),
    completion_window: z.literal('24h'),
    metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
    output_expires_after: z.unknown().optional(),
  })
  .strict();

/** The form around the file (the `purpose` field, boundaries, part headers): a little over the file. */
const MAX_FORM_BYTES = MAX_UPLOAD_BYTES + 64 * 1024;
const FILE_LIMITS = { maxLineBytes: MAX_LINE_BYTES, maxBytes: MAX_UPLOAD_BYTES, param: 'file' } as const;

const malformed = (detail: string) =>
  HttpError.invalid(`The multipart body is malformed: ${detail}.`, { param: 'file', code: 'invalid_multipart' });

/**
 * Reads a multipart upload to its end: `onFile` consumes the `file` part's stream (with its own
 * line limits); resolves with the `purpose` field (the SDKs may send it before or after the file)
 * once the whole body is read and the file consumed. Rejects, without reading further, when the
 * file is refused, the form is malformed or over its size, or the client leaves; busboy is then
 * detached and destroyed, and every stream keeps an error listener (no uncaught exception). Either
 * way it returns only once `onFile` has finished, so the caller may release what `onFile` uses.
 */
async function multipartFile(
  req: Request,
  onFile: (file: Readable) => Promise<void>,
): Promise<{ purpose?: string; filename: string }> {
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: req.headers,
      limits: { files: 1, fileSize: MAX_UPLOAD_BYTES + 1, fields: 10, fieldSize: 1024, parts: 20 },
    });
  } catch {
    throw HttpError.invalid('Upload the file as multipart/form-data with fields "purpose" and "file".', {
      code: 'invalid_content_type',
    });
  }
  const ignore = () => undefined;
  bb.on('error', ignore);
  let fail: (err: HttpError) => void = ignore;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(ignore);
  const gone = requestGone(req);
  let purpose: string | undefined;
  let filename = 'upload.jsonl';
  let handled: Promise<void> | undefined;
  let file: Readable | undefined;
  let formBytes = 0;
  const count = (chunk: Buffer) => {
    formBytes += chunk.length;
    if (formBytes > MAX_FORM_BYTES)
      fail(tooLarge(`The upload is larger than ${MAX_FORM_BYTES} bytes.`, 'body_too_large', 'file'));
  };
  bb.on('field', (name, value) => {
    if (name === 'purpose') purpose = value;
  });
  bb.on('file', (name, stream, info) => {
    stream.on('error', ignore);
    if (name !== 'file' || handled) {
      stream.resume();
      return;
    }
    filename = info.filename ?? filename;
    file = stream;
    handled = onFile(stream);
    handled.catch(fail);
  });
  bb.on('error', (err: Error) => fail(malformed(err.message)));
  const closed = new Promise<void>((resolve) => bb.on('close', resolve));
  req.on('data', count);
  req.pipe(bb);
  try {
    await Promise.race([closed, failed, gone.promise]);
    if (!handled)
      throw HttpError.invalid("Missing the multipart field 'file'.", { param: 'file', code: 'missing_file' });
    await Promise.race([handled, failed, gone.promise]);
    return { purpose, filename };
  } finally {
    gone.dispose();
    req.off('data', count);
    req.unpipe(bb);
    bb.destroy();
    // A read still waiting on the file part (the request failed first) ends too, and its last
    // records are done before the caller disposes of where they go.
    file?.destroy();
    await handled?.catch(ignore);
  }
}

/** The caller's tenant's file, or (an operator) any tenant's: batch outputs are downloaded from the console. */
const ownFile = async (deps: BatchDeps, req: Request) => {
  const f = await batches.getFile(deps.db, String(req.params.id));
  const auth = authOf(req);
  if (!f || !(f.tenant_id === auth.tenantId || hasRole(auth, 'operator')))
    throw HttpError.notFound(`No such File object: ${req.params.id}`, { param: 'id', code: 'file_not_found' });
  return f;
};

const openaiView = async (deps: BatchDeps, row: batches.BatchRow) => {
  const totals = await batches.batchTotals(deps.db, row.id);
  const finished = row.status === 'completed' || row.status === 'cancelled' || row.status === 'failed';
  const object = batchObject({
    id: row.id,
    status: row.status,
    endpoint: row.options.endpoint ?? '/v1/chat/completions',
    inputFileId: row.input_file_id!,
    completionWindow: row.options.completionWindow ?? '24h',
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    cancelledAt: row.cancelled_at,
    total: row.total,
    done: totals.done,
    failed: totals.failed,
    metadata: row.options.metadata ?? null,
    outputFileId: finished && totals.done > 0 ? outputFileId(row.id) : null,
    errorFileId: finished && totals.failed > 0 ? errorFileId(row.id) : null,
  });
  // OpenAI's object, then what a progress view needs besides (clients ignore fields they do not know).
  return { ...object, tenant_id: row.tenant_id, cost_usd: totals.cost_usd, ...progressOf(row, totals) };
};

export const openaiBatchRoutes = routeSpecs<BatchDeps>([
  {
    method: 'post',
    path: '/v1/files',
    summary: 'Upload a batch input file (multipart, OpenAI Files API)',
    tag: 'batches',
    role: 'member',
    bodyType: 'multipart/form-data',
    errors: [400, 401, 408, 413, 415, 429],
    handle: async (deps, req, res) => {
      const { tenantId } = authOf(req);
      // The upload parses whole into a spool first; the transaction opens only when it is good.
      const spool = new RecordSpool(deps.uploads?.spoolMemoryBytes, deps.uploads?.spoolDir);
      try {
        const ids = new UniqueIds();
        const counted = { bytes: 0 };
        const upload = await multipartFile(req, async (stream) => {
          await readJsonLines(
            stream,
            { ...FILE_LIMITS, counted, sourceError: malformedOrGone(req) },
            OpenAIBatchLineSchema,
            async (line, lineNo) => {
              ids.add(line.custom_id, lineNo, 'custom_id');
              await spool.add(JSON.stringify({ line_no: lineNo, content: line }));
            },
          );
        });
        if (upload.purpose !== 'batch')
          throw HttpError.invalid(`purpose must be 'batch' (the only purpose this server stores files for).`, {
            param: 'purpose',
            code: 'invalid_value',
          });
        if (ids.count === 0)
          throw HttpError.invalid('The file holds no request line.', { param: 'file', code: 'empty_file' });
        const id = `file-${randomBytes(12).toString('hex')}`;
        const file = await deps.db.transaction(async (tx) => {
          const row = await batches.insertFile(tx, {
            id,
            tenant_id: tenantId,
            purpose: 'batch',
            filename: upload.filename,
            bytes: counted.bytes,
            source: 'upload',
          });
          for await (const page of spool.pages()) await batches.insertFileLinesJson(tx, id, page);
          return row;
        });
        res.json(fileObject(file));
      } finally {
        await spool.dispose();
      }
    },
  },

  {
    method: 'get',
    path: '/v1/files/:id',
    summary: 'A file',
    tag: 'batches',
    role: 'member',
    errors: [401, 404],
    handle: async (deps, req, res) => {
      res.json(fileObject(await ownFile(deps, req)));
    },
  },

  {
    method: 'get',
    path: '/v1/files/:id/content',
    summary: "A file's content (input, output and error files)",
    tag: 'batches',
    role: 'member',
    responseType: 'application/x-ndjson',
    errors: [401, 404],
    handle: async (deps, req, res) => {
      const f = await ownFile(deps, req);
      res.setHeader('content-type', 'application/jsonl; charset=utf-8');
      if (f.source === 'upload') {
        return streamPages(
          res,
          async (after) =>
            (await batches.fileLines(deps.db, f.id, after, 500)).map((l) => ({ seq: l.line_no, content: l.content })),
          (l) => l.content,
        );
      }
      const wantOk = f.source === 'batch_output';
      const batchId = f.batch_id!;
      return streamPages(
        res,
        async (after) => {
          // Pages of finished items; lines of the other file are skipped, not counted.
          const rows = await batches.resultsPage(deps.db, batchId, after, 500);
          return rows.map((r) => ({ ...r, keep: r.ok === wantOk }));
        },
        (r) =>
          r.keep
            ? { id: lineId(batchId, r.seq), custom_id: r.item_id, response: wantOk ? r.result : r.error, error: null }
            : undefined,
      );
    },
  },

  {
    method: 'post',
    path: '/v1/batches',
    summary: 'An OpenAI Batch API batch',
    tag: 'batches',
    role: 'member',
    body: CreateBatchSchema,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const { tenantId } = authOf(req);
      const body = validate(CreateBatchSchema, req.body);
      const file = await batches.getFile(deps.db, body.input_file_id);
      if (!file || file.tenant_id !== tenantId || file.source !== 'upload')
        throw HttpError.notFound(`No such File object: ${body.input_file_id}`, {
          param: 'input_file_id',
          code: 'file_not_found',
        });
      const mismatch = await deps.db.query<{ line_no: number; url: string }>(
        `select line_no, content->>'url' as url from file_lines where file_id = $1 and content->>'url' <> $2 order by line_no limit 1`,
        [file.id, body.endpoint],
      );
      if (mismatch.rows[0])
        throw HttpError.invalid(
          `line ${mismatch.rows[0].line_no}: url: '${mismatch.rows[0].url}' does not match the batch's endpoint '${body.endpoint}'`,
          { param: 'endpoint', code: 'endpoint_mismatch' },
        );
      const options: BatchOptions = {
        model: 'auto',
        concurrency: Math.min(16, deps.batches.maxConcurrency),
        context: routeContext(req, tenantId, {}),
        endpoint: body.endpoint,
        completionWindow: body.completion_window,
        metadata: body.metadata ?? null,
      };
      const id = newBatchId();
      const row = await deps.db.transaction(async (tx) => {
        await batches.insertBatch(tx, {
          id,
          tenantId,
          kind: 'openai',
          options,
          workflowId: `batch-${id}`,
          inputFileId: file.id,
          createdBy: actorOf(req).keyId,
        });
        const total = await batches.itemsFromFile(tx, id, file.id);
        await batches.setBatchTotal(tx, id, total);
        for (const [fid, source] of [
          [outputFileId(id), 'batch_output'],
          [errorFileId(id), 'batch_error'],
        ] as const)
          await batches.insertFile(tx, {
            id: fid,
            tenant_id: tenantId,
            purpose: 'batch_output',
            filename: `${id}_${source === 'batch_output' ? 'output' : 'error'}.jsonl`,
            bytes: 0,
            source,
            batch_id: id,
          });
        return (await batches.getBatch(tx, id))!;
      });
      await startBatchWorkflow(deps, { id, tenantId, kind: 'openai', options });
      res.json(await openaiView(deps, row));
    },
  },

  {
    method: 'get',
    path: '/v1/batches',
    summary: 'OpenAI batches (`kind=all`: every kind of batch, each in its own shape), newest first',
    tag: 'batches',
    role: 'member',
    query: OpenAIBatchListQuery,
    response: batchList,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const q = validate(OpenAIBatchListQuery, req.query);
      // A tenant's own batches; an operator's: every tenant's, or the one it names.
      const tenant = q.tenant !== undefined ? tenantInScope(req, q.tenant) : tenantFilterOf(req);
      const kind = q.kind === 'all' ? undefined : 'openai';
      const rows = await batches.listBatches(deps.db, tenant, kind, { limit: q.limit + 1, after: q.after });
      const data = await Promise.all(
        rows.slice(0, q.limit).map((r) => (r.kind === 'openai' ? openaiView(deps, r) : batchView(deps.db, r))),
      );
      res.json({
        object: 'list',
        data,
        first_id: data[0]?.id ?? null,
        last_id: data[data.length - 1]?.id ?? null,
        has_more: rows.length > q.limit,
      });
    },
  },

  {
    method: 'get',
    path: '/v1/batches/:id',
    summary: 'An OpenAI batch',
    tag: 'batches',
    role: 'member',
    errors: [401, 404],
    handle: async (deps, req, res) => {
      res.json(await openaiView(deps, await ownBatch(deps.db, req, 'openai')));
    },
  },

  {
    method: 'post',
    path: '/v1/batches/:id/cancel',
    summary: 'Cancel an OpenAI batch',
    tag: 'batches',
    role: 'member',
    errors: [401, 404, 409],
    handle: async (deps, req, res) => {
      const row = await ownBatch(deps.db, req, 'openai');
      await cancelBatchJob(deps, row.id);
      res.json(await openaiView(deps, (await batches.getBatch(deps.db, row.id))!));
    },
  },
]);

/** A file part that fails: busboy's own error (a truncated or malformed body), or the client gone. */
const malformedOrGone = (req: Request) => (err: unknown) =>
  req.destroyed && !req.complete ? clientGone() : malformed((err as Error).message ?? String(err));
