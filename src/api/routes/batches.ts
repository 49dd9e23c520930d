/**
 * Summarization batches: `POST /v1/operations/summarize/batches` (documents inline, or JSONL
 * streamed), list, status, results (JSONL streamed from Postgres) and cancel. Tenant-scoped: another
 * tenant's batch is not found.
 */
import type { Client } from '@temporalio/client';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { Db } from '../../db';
import * as batches from '../../db/batches';
import {
  DocumentSchema,
  batchProgress,
  isFinished,
  OperationBatchOptionsSchema,
  SummarizeOptionsSchema,
  TEXT_OPERATION_KINDS,
  type BatchOptions,
  type OperationBatchOptions,
  type SummarizeOptions,
  type TextOperationKind,
} from '../../domain/batch/spec';
import { findModel } from '../../domain/catalog';
import { AUTO_MODELS, RouteContextSchema, type RouteContext } from '../../domain/policy';
import type { ConfigStore } from '../../services/configStore';
import type { UrlPolicy } from '../../services/urlPolicy';
import { actorOf, authOf, hasRole, tenantFilterOf, tenantInScope } from '../auth';
import {
  cancelBatchJob,
  issueOf,
  MAX_LINE_BYTES,
  MAX_UPLOAD_BYTES,
  newBatchId,
  readJsonLines,
  startBatchWorkflow,
  UniqueIds,
  type BatchSettings,
} from '../batchIntake';
import { drained } from '../bodyStream';
import { routeContext } from '../context';
import { HttpError } from '../errors';
import { RecordSpool } from '../uploadSpool';
import { routeSpecs } from '../routeSpec';
import { validate } from '../validate';

export interface BatchDeps {
  db: Db;
  client: Client;
  taskQueue: string;
  configStore: ConfigStore;
  batches: BatchSettings & { urlPolicy?: UrlPolicy };
  /** Uploads' settings (absent: the defaults). */
  uploads?: { spoolMemoryBytes?: number; spoolDir?: string };
}

const BASE = '/v1/operations/:operation/batches';
const baseOf = (kind: TextOperationKind) => `/v1/operations/${kind}/batches`;
const documents = z
  .array(z.unknown())
  .min(1, 'at least one document')
  .max(10_000, 'at most 10,000 inline; upload JSONL');
const optionsSchema = (kind: TextOperationKind) =>
  kind === 'summarize' ? SummarizeOptionsSchema : OperationBatchOptionsSchema;
type AnyOptions = SummarizeOptions | OperationBatchOptions;

/** The operation of the path: one of the text operations, or 404. */
function kindOf(req: Request): TextOperationKind {
  const op = String(req.params.operation);
  if (!(TEXT_OPERATION_KINDS as readonly string[]).includes(op))
    throw HttpError.notFound(`No batches for '${op}'. Use one of: ${TEXT_OPERATION_KINDS.join(', ')}.`, {
      param: 'operation',
      code: 'unknown_operation',
    });
  return op as TextOperationKind;
}

/** The routing context of a batch: headers and body attributes, as for a single request. */
function batchContext(req: Request, tenantId: string, o: AnyOptions): RouteContext {
  const base = routeContext(req, tenantId, { user: o.user, metadata: o.metadata });
  const compliance =
    o.compliance === undefined
      ? undefined
      : (Array.isArray(o.compliance) ? o.compliance : o.compliance.split(',')).map((t) => t.trim().toLowerCase());
  const parsed = RouteContextSchema.safeParse({
    ...base,
    ...(o.workspace && { workspaceId: o.workspace }),
    ...(o.region && { region: o.region.toUpperCase() }),
    ...(compliance && { compliance }),
  });
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]!.path[0] ?? '');
    const param = { workspaceId: 'workspace', userId: 'user' }[field] ?? field;
    throw HttpError.invalid(`Invalid value for '${param}': ${parsed.error.issues[0]!.message}`, {
      param,
      code: 'invalid_value',
    });
  }
  return parsed.data;
}

export async function batchOptionsOf(
  deps: BatchDeps,
  req: Request,
  tenantId: string,
  o: AnyOptions,
): Promise<BatchOptions> {
  const catalog = deps.configStore.current().config.catalog;
  if (!AUTO_MODELS.has(o.model) && !findModel(catalog, o.model))
    throw HttpError.notFound(`The model '${o.model}' does not exist. Use "auto" or one of the catalog's models.`, {
      param: 'model',
      code: 'model_not_found',
    });
  if (o.concurrency !== undefined && o.concurrency > deps.batches.maxConcurrency)
    throw HttpError.invalid(`concurrency must be at most ${deps.batches.maxConcurrency} on this server.`, {
      param: 'concurrency',
      code: 'invalid_value',
    });
  if (o.webhookUrl) {
    const blocked = await deps.batches.urlPolicy?.checkResolved(o.webhookUrl);
    if (blocked)
      throw HttpError.invalid(`webhookUrl may not be used: ${blocked}.`, { param: 'webhookUrl', code: 'url_blocked' });
  }
  return {
    model: o.model,
    ...('maxWords' in o && { maxWords: o.maxWords, style: o.style, overlapTokens: o.overlapTokens }),
    ...('intents' in o && o.intents && { intents: o.intents }),
    ...('types' in o && o.types && { types: o.types }),
    concurrency: o.concurrency ?? Math.min(8, deps.batches.maxConcurrency),
    context: batchContext(req, tenantId, o),
  };
}

/** A batch's progress, rate, time left and why it waits (both batch shapes show them). */
export const progressOf = (row: batches.BatchRow, totals: batches.BatchTotals) =>
  batchProgress({
    done: totals.done,
    failed: totals.failed,
    total: row.total,
    startedAt: row.started_at ? new Date(row.started_at).toISOString() : null,
    finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
    now: Date.now(),
    status: row.status,
    statusReason: row.status_reason,
  });

/** The batch as the API shows it: status, counts, usage so far, and an ETA from the observed rate. */
export async function batchView(db: Db, row: batches.BatchRow) {
  const totals = await batches.batchTotals(db, row.id);
  const pending = Math.max(0, row.total - totals.done - totals.failed);
  const { eta_seconds, ...progress } = progressOf(row, totals);
  return {
    id: row.id,
    object: `${row.kind}.batch`,
    tenant_id: row.tenant_id,
    status: row.status,
    status_reason: row.status_reason,
    cancel_requested: row.cancelled_at !== null,
    counts: { total: row.total, done: totals.done, failed: totals.failed, pending },
    usage: { input_tokens: totals.input_tokens, output_tokens: totals.output_tokens, requests: totals.requests },
    cost_usd: totals.cost_usd,
    eta_seconds,
    ...progress,
    options: {
      model: row.options.model,
      ...(row.kind === 'summarize' && { maxWords: row.options.maxWords, style: row.options.style }),
      ...(row.options.intents && { intents: row.options.intents }),
      ...(row.options.types && { types: row.options.types }),
      concurrency: row.options.concurrency,
    },
    workflow_id: row.workflow_id,
    results_url: `${baseOf(row.kind as TextOperationKind)}/${row.id}/results`,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
  };
}

/**
 * The caller's tenant's batch of this kind, or 404 (another tenant's batch is not found either);
 * an operator's, any tenant's (the console lists, follows, downloads and cancels them all).
 */
export async function ownBatch(db: Db, req: Request, kind: batches.BatchRow['kind']): Promise<batches.BatchRow> {
  const row = await batches.getBatch(db, String(req.params.id));
  const auth = authOf(req);
  if (!row || !(row.tenant_id === auth.tenantId || hasRole(auth, 'operator')) || row.kind !== kind)
    throw HttpError.notFound(`No batch with id '${req.params.id}'.`, { param: 'id', code: 'batch_not_found' });
  return row;
}

const JSONL_LIMITS = { maxLineBytes: MAX_LINE_BYTES, maxBytes: MAX_UPLOAD_BYTES, param: 'body' } as const;

const isJsonl = (req: Request) =>
  /^application\/(x-ndjson|jsonl|x-jsonlines|ndjson)\b/i.test(req.header('content-type') ?? '');

/** The batch's status, on its results and cancel answers. */
export const BATCH_STATUS_HEADER = 'x-switchyard-batch-status';

const ResultsQuery = z.object({
  /** `true`: the results finished so far, while the batch still runs (200, status in the header). */
  partial: z.enum(['true', 'false']).optional(),
});

/** The 202 body of results asked for before the batch has finished. */
const ResultsPending = z.object({
  object: z.string(),
  id: z.string(),
  status: z.string(),
  status_reason: z.string().nullable(),
  message: z.string(),
  counts: z.object({ total: z.number(), done: z.number(), failed: z.number(), pending: z.number() }),
  eta_seconds: z.number().nullable(),
  batch_url: z.string(),
});

/** A page of batches: `after` is the last id of the previous page. */
export const BatchListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().max(64).optional(),
  tenant: z.string().min(1).max(256).optional(),
});

/** A page of batches, as the docs show it. */
export const batchList = z.object({
  object: z.literal('list'),
  data: z.array(z.record(z.string(), z.unknown())),
  has_more: z.boolean().optional(),
});

export const batchRoutes = routeSpecs<BatchDeps>([
  {
    method: 'post',
    path: BASE,
    summary: 'A batch of an operation over many texts (JSON or JSONL of documents)',
    tag: 'batches',
    role: 'member',
    body: SummarizeOptionsSchema.partial().extend({ documents: z.array(DocumentSchema) }),
    errors: [400, 401, 408, 413, 415, 429],
    handle: async (deps, req, res) => {
      const { tenantId } = authOf(req);
      const kind = kindOf(req);
      const jsonl = isJsonl(req);
      if (!jsonl && req.body === undefined)
        throw HttpError.invalid(
          'Send {"documents": [...]} as application/json, or one document per line as application/x-ndjson.',
          { code: 'invalid_content_type' },
        );
      const schema = optionsSchema(kind);
      const opts: AnyOptions = jsonl
        ? validate<AnyOptions>(schema, { ...req.query })
        : validate<AnyOptions>(schema.extend({ documents }), req.body);
      const options = await batchOptionsOf(deps, req, tenantId, opts);
      // The documents parse whole into a spool first; the transaction opens only when they are good.
      const spool = new RecordSpool(deps.uploads?.spoolMemoryBytes, deps.uploads?.spoolDir);
      const id = newBatchId();
      let row: batches.BatchRow;
      try {
        const ids = new UniqueIds();
        const add = (itemId: string, input: unknown, seq: number, field?: string) => {
          ids.add(itemId, seq, field);
          return spool.add(JSON.stringify({ seq, item_id: itemId, input }));
        };
        if (jsonl) {
          await readJsonLines(req, JSONL_LIMITS, DocumentSchema, (d, lineNo) =>
            add(d.id, { text: d.text, metadata: d.metadata ?? null }, lineNo),
          );
        } else {
          const docs = (opts as AnyOptions & { documents: unknown[] }).documents;
          for (const [i, raw] of docs.entries()) {
            const d = DocumentSchema.safeParse(raw);
            if (!d.success) {
              const issue = issueOf(d.error);
              const param = ['documents', i, ...issue.path].map(String).join('.');
              throw HttpError.invalid(`Invalid value for '${param}': ${issue.message}`, {
                param,
                code: 'invalid_value',
              });
            }
            await add(d.data.id, { text: d.data.text, metadata: d.data.metadata ?? null }, i + 1, `documents.${i}.id`);
          }
        }
        if (ids.count === 0)
          throw HttpError.invalid('The upload holds no document.', { code: 'empty_batch', param: 'documents' });
        row = await deps.db.transaction(async (tx) => {
          await batches.insertBatch(tx, {
            id,
            tenantId,
            kind,
            options,
            workflowId: `batch-${id}`,
            webhookUrl: opts.webhookUrl,
            createdBy: actorOf(req).keyId,
          });
          for await (const page of spool.pages()) await batches.insertItemsJson(tx, id, page);
          await batches.setBatchTotal(tx, id, ids.count);
          return (await batches.getBatch(tx, id))!;
        });
      } finally {
        await spool.dispose();
      }
      await startBatchWorkflow(deps, { id, tenantId, kind, options });
      res.status(201).json(await batchView(deps.db, row));
    },
  },

  {
    method: 'get',
    path: BASE,
    summary: "Your tenant's batches (an operator: every tenant's, or `tenant`'s), newest first",
    tag: 'batches',
    role: 'member',
    query: BatchListQuery,
    response: batchList,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const q = validate(BatchListQuery, req.query);
      // A tenant's own batches; an operator's: every tenant's, or the one it names.
      const tenant = q.tenant !== undefined ? tenantInScope(req, q.tenant) : tenantFilterOf(req);
      const rows = await batches.listBatches(deps.db, tenant, kindOf(req), { limit: q.limit + 1, after: q.after });
      const data = await Promise.all(rows.slice(0, q.limit).map((r) => batchView(deps.db, r)));
      res.json({ object: 'list', data, has_more: rows.length > q.limit });
    },
  },

  {
    method: 'get',
    path: `${BASE}/:id`,
    summary: 'A batch',
    tag: 'batches',
    role: 'member',
    errors: [401, 404],
    handle: async (deps, req, res) => {
      res.json(await batchView(deps.db, await ownBatch(deps.db, req, kindOf(req))));
    },
  },

  {
    method: 'get',
    path: `${BASE}/:id/results`,
    summary: "A batch's results (JSONL)",
    tag: 'batches',
    role: 'member',
    responseType: 'application/x-ndjson',
    query: ResultsQuery,
    accepted: {
      description: 'The batch has not finished: no results yet (`x-switchyard-batch-status`, `retry-after`)',
      schema: ResultsPending,
    },
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const kind = kindOf(req);
      const { partial } = validate(ResultsQuery, req.query);
      const row = await ownBatch(deps.db, req, kind);
      // Says what the lines are: a finished batch's results, or (partial=true) those so far.
      res.setHeader(BATCH_STATUS_HEADER, row.status);
      if (!isFinished(row.status) && partial !== 'true') {
        // An empty 200 would read as "no results": a 202 says the batch is still at work.
        const view = await batchView(deps.db, row);
        const url = `${baseOf(kind)}/${row.id}`;
        res.setHeader('retry-after', String(Math.min(60, Math.max(1, view.eta_seconds ?? 5))));
        res.status(202).json({
          object: `${kind}.batch.results_pending`,
          id: row.id,
          status: row.status,
          status_reason: row.status_reason,
          message:
            `Batch ${row.id} is ${row.status} (${view.counts.done + view.counts.failed}/${view.counts.total} finished): ` +
            `its results are served here once it has finished. Poll GET ${url} for its status, or add ?partial=true for the results so far.`,
          counts: view.counts,
          eta_seconds: view.eta_seconds,
          batch_url: url,
        } satisfies z.infer<typeof ResultsPending>);
        return;
      }
      res.setHeader('content-type', 'application/x-ndjson; charset=utf-8');
      await streamPages(
        res,
        (after) => batches.resultsPage(deps.db, row.id, after, 500),
        (r) =>
          kind !== 'summarize'
            ? {
                id: r.item_id,
                result: r.result,
                models: r.models,
                cost_usd: r.cost_usd,
                usage: { input_tokens: r.input_tokens, output_tokens: r.output_tokens },
                error: r.error,
              }
            : {
                id: r.item_id,
                summary: (r.result as { summary?: string } | null)?.summary ?? null,
                key_points: (r.result as { keyPoints?: string[] } | null)?.keyPoints ?? null,
                chunks: (r.result as { chunks?: number } | null)?.chunks ?? null,
                models: r.models,
                cost_usd: r.cost_usd,
                usage: { input_tokens: r.input_tokens, output_tokens: r.output_tokens },
                error: r.error,
              },
      );
    },
  },

  {
    method: 'post',
    path: `${BASE}/:id/cancel`,
    summary: 'Cancel a batch',
    tag: 'batches',
    role: 'member',
    errors: [401, 404, 409],
    handle: async (deps, req, res) => {
      const row = await ownBatch(deps.db, req, kindOf(req));
      const cancelled = await cancelBatchJob(deps, row.id);
      const view = await batchView(deps.db, (await batches.getBatch(deps.db, row.id))!);
      if (!cancelled)
        // Not a "cancelled" answer for a batch that ended on its own: 409 with its final status.
        throw HttpError.conflict(`Batch ${row.id} had already finished (${view.status}); there is nothing to cancel.`, {
          code: 'batch_already_finished',
          extra: { batch: view },
          headers: { [BATCH_STATUS_HEADER]: view.status },
        });
      res.setHeader(BATCH_STATUS_HEADER, view.status);
      res.json(view);
    },
  },
]);

/** Streams rows page by page as JSONL (a page in memory at a time), honouring back-pressure. */
export async function streamPages<R extends { seq: number }>(
  res: Response,
  page: (afterSeq: number) => Promise<R[]>,
  line: (r: R) => unknown,
): Promise<void> {
  let after = 0;
  for (;;) {
    const rows = await page(after);
    for (const r of rows) {
      if (res.destroyed) return;
      const value = line(r);
      if (value === undefined) continue;
      if (!res.write(`${JSON.stringify(value)}\n`)) await drained(res);
    }
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.seq;
  }
  res.end();
}
