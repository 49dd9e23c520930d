/**
 * A batch job's steps: read the next items, prepare an item's requests (chunks of a document, or
 * an OpenAI line), prepare a round of combining, write an item's one result, and close the batch.
 * Texts stay in Postgres: these return request ids and counts.
 */
import { ApplicationFailure } from '@temporalio/common';
import * as batches from '../src/db/batches';
import { getRequest } from '../src/db/requests';
import { chunkText } from '../src/domain/batch/chunk';
import { reductionGroups } from '../src/domain/batch/reduce';
import {
  batchRequestId,
  chunkBudget,
  summaryOutputTokens,
  type BatchKind,
  type BatchOptions,
  type BatchStatus,
} from '../src/domain/batch/spec';
import type { Catalog } from '../src/domain/catalog';
import {
  chatCompletionObject,
  embeddingsObject,
  hasImages,
  maxOutputTokens,
  offersTools,
  type ChatCompletionRequest,
} from '../src/domain/chat';
import { batchItemOptions, SummaryResultSchema } from '../src/domain/operations';
import { AUTO_MODELS } from '../src/domain/policy';
import { postWebhook } from './webhook';
import type { RouteRequestInput } from '../src/domain/request';
import { countTokens } from '../src/domain/tokens';
import { readAnswer } from '../src/domain/storedAnswer';
import type { ActivityDeps } from './deps';

/** The part of a route request every request of an item shares (the workflow adds ids and deadline). */
export type ItemRoute = Pick<
  RouteRequestInput,
  | 'operation'
  | 'requestedModel'
  | 'maxOutputTokens'
  | 'needsJson'
  | 'needsVision'
  | 'needsTools'
  | 'context'
  | 'fallbacks'
>;

/** An item ready to run: the ids of its first requests (chunks, or the one line) and their route. */
export interface PreparedItem {
  seq: number;
  itemId: string;
  run: number;
  requestIds: string[];
  route: ItemRoute;
}

/** What an item's run ended with, for its result row. */
export interface ItemEnd {
  itemId: string;
  requestIds: string[];
  /** The request whose answer is the item's (the last combine, or the only request). */
  finalRequestId?: string;
  chunks?: number;
  error?: { type: string; message: string; status?: number };
}

/** The smallest context window a summary call may land on: the requested model's, or every chat model's. */
export function summaryWindow(catalog: Catalog, model: string): number {
  const eligible = catalog.models.filter(
    (m) => m.status === 'active' && m.capabilities.includes('chat') && (AUTO_MODELS.has(model) || m.id === model),
  );
  const windows = eligible.length ? eligible.map((m) => m.contextWindow) : catalog.models.map((m) => m.contextWindow);
  return Math.min(...windows);
}

const summaryBody = (o: BatchOptions, text: string) => ({
  text,
  maxWords: o.maxWords ?? 120,
  ...(o.style && { style: o.style }),
  model: o.model,
});

function summaryRoute(o: BatchOptions): ItemRoute {
  return {
    operation: 'summarize',
    requestedModel: o.model,
    maxOutputTokens: summaryOutputTokens(o.maxWords ?? 120),
    needsJson: false,
    context: o.context,
  };
}

export function createBatchActivities(deps: ActivityDeps) {
  /** The most document tokens one summary call may take, for the batch's model and summary length. */
  const chunkTokens = (o: BatchOptions) =>
    chunkBudget(summaryWindow(deps.config().config.catalog, o.model), o.maxWords ?? 120);

  async function finishOne(
    batchId: string,
    kind: BatchKind,
    end: ItemEnd,
    cancelled: boolean,
  ): Promise<'succeeded' | 'failed' | 'cancelled'> {
    if (end.error) {
      if (cancelled) return 'cancelled';
      const status = end.error.status ?? 500;
      await batches.writeResult(deps.db, batchId, end.itemId, {
        ok: false,
        error:
          kind === 'openai'
            ? {
                status_code: status,
                request_id: end.finalRequestId,
                body: { error: { message: end.error.message, type: end.error.type, code: end.error.type } },
              }
            : end.error,
        requestIds: end.requestIds,
      });
      return 'failed';
    }
    const full = await getRequest(deps.db, end.finalRequestId!);
    if (!full || full.status !== 'succeeded')
      throw ApplicationFailure.nonRetryable(`request ${end.finalRequestId} did not succeed`, 'NotFound');
    let result: unknown;
    if (kind === 'openai') {
      const body =
        full.operation === 'embed'
          ? embeddingsObject({ ...full, answer: readAnswer(full.response, 'embeddings') })
          : chatCompletionObject({ ...full, answer: readAnswer(full.response, 'chat') });
      result = { status_code: 200, request_id: full.request_id, body };
    } else if (kind === 'summarize') {
      const r = SummaryResultSchema.parse(readAnswer(full.response, 'chat').result);
      result = { summary: r.summary, keyPoints: r.keyPoints, chunks: end.chunks ?? 1 };
    } else {
      result = readAnswer(full.response, 'chat').result;
    }
    await batches.writeResult(deps.db, batchId, end.itemId, { ok: true, result, requestIds: end.requestIds });
    return 'succeeded';
  }

  return {
    /** Marks the batch running (or still waiting) and reads its counts so far. */
    async startBatchRun(input: {
      batchId: string;
      status: BatchStatus;
      reason?: string;
    }): Promise<{ total: number; done: number; failed: number }> {
      await batches.setBatchStatus(deps.db, input.batchId, input.status, input.reason ?? null);
      const [row, totals] = await Promise.all([
        batches.getBatch(deps.db, input.batchId),
        batches.batchTotals(deps.db, input.batchId),
      ]);
      if (!row) throw ApplicationFailure.nonRetryable(`batch ${input.batchId} is not in the database`, 'NotFound');
      return { total: row.total, done: totals.done, failed: totals.failed };
    },

    async setBatchState(input: { batchId: string; status: BatchStatus; reason?: string }): Promise<void> {
      await batches.setBatchStatus(deps.db, input.batchId, input.status, input.reason ?? null);
    },

    /**
     * Starts runs of the next items (or of `seqs`, deferred ones run again): a document is cut into
     * chunks that fit the smallest context window its route may use, each stored as a summarize
     * request; an OpenAI line is one request. One activity for a page of items.
     */
    async prepareItems(input: {
      batchId: string;
      kind: BatchKind;
      afterSeq?: number;
      seqs?: number[];
      limit: number;
    }): Promise<{ items: PreparedItem[]; cancelled: boolean }> {
      const row = await batches.getBatch(deps.db, input.batchId);
      if (!row) throw ApplicationFailure.nonRetryable(`batch ${input.batchId} is not in the database`, 'NotFound');
      if (row.cancelled_at) return { items: [], cancelled: true };
      const runs = await batches.startRuns(
        deps.db,
        input.batchId,
        input.seqs ? { seqs: input.seqs } : { afterSeq: input.afterSeq ?? 0, limit: input.limit },
      );
      const o = row.options;
      const requests: batches.NewBatchRequest[] = [];
      const items = runs.map((item): PreparedItem => {
        const id = (index: number) => batchRequestId(input.batchId, item.seq, item.run, 0, index);
        if (input.kind === 'openai') {
          const line = item.input as { url: string; body: Record<string, unknown> };
          const chat = line.url === '/v1/chat/completions';
          const req = line.body as ChatCompletionRequest;
          requests.push({
            requestId: id(0),
            operation: chat ? 'chat' : 'embed',
            requestedModel: String(line.body.model),
            body: chat ? line.body : { input: line.body.input, model: line.body.model },
          });
          return {
            seq: item.seq,
            itemId: item.item_id,
            run: item.run,
            requestIds: [id(0)],
            route: {
              operation: chat ? 'chat' : 'embed',
              requestedModel: String(line.body.model),
              maxOutputTokens: chat ? maxOutputTokens(req) : 0,
              needsJson: chat && req.response_format !== undefined && req.response_format.type !== 'text',
              ...(chat && hasImages(req.messages) && { needsVision: true }),
              ...(chat && offersTools(req) && { needsTools: true }),
              // A line's own fallback chain (`models`), as a request's.
              ...(chat && req.models && { fallbacks: req.models }),
              // A line's own attributes over the batch's, as a request's body: its user and its dial
              // (`switchyard.quality`; absent, the batch's header, then the tenant's default).
              context: {
                ...o.context,
                ...(typeof req.user === 'string' && { userId: req.user }),
                ...(chat && req.switchyard?.quality !== undefined && { quality: req.switchyard.quality }),
              },
            },
          };
        }
        const text = String(item.input.text);
        if (input.kind !== 'summarize') {
          // intent, sentiment, entities: one request per text, the operation's own schema (and the
          // batch options its registry entry passes on).
          requests.push({
            requestId: id(0),
            operation: input.kind,
            requestedModel: o.model,
            body: {
              text,
              model: o.model,
              ...batchItemOptions(input.kind, o),
            },
          });
          return {
            seq: item.seq,
            itemId: item.item_id,
            run: item.run,
            requestIds: [id(0)],
            route: { operation: input.kind, requestedModel: o.model, needsJson: false, context: o.context },
          };
        }
        const maxTokens = chunkTokens(o);
        const overlap = Math.min(o.overlapTokens ?? 100, Math.floor(maxTokens / 4));
        const chunks =
          countTokens(text) <= maxTokens ? [{ text }] : chunkText(text, { maxTokens, overlapTokens: overlap });
        const requestIds = chunks.map((_, i) => id(i));
        chunks.forEach((c, i) =>
          requests.push({
            requestId: requestIds[i]!,
            operation: 'summarize',
            requestedModel: o.model,
            body: summaryBody(o, c.text),
          }),
        );
        return { seq: item.seq, itemId: item.item_id, run: item.run, requestIds, route: summaryRoute(o) };
      });
      await batches.insertBatchRequests(deps.db, input.batchId, row.tenant_id, requests);
      return { items, cancelled: false };
    },

    /**
     * One round of combining: the summaries of `requestIds`, grouped so each group fits one call,
     * each group a new summarize request over its summaries joined. Returns the new requests' ids.
     */
    async prepareCombine(input: {
      batchId: string;
      seq: number;
      run: number;
      round: number;
      requestIds: string[];
    }): Promise<string[]> {
      const row = await batches.getBatch(deps.db, input.batchId);
      if (!row) throw ApplicationFailure.nonRetryable(`batch ${input.batchId} is not in the database`, 'NotFound');
      const o = row.options;
      const answers = new Map(
        (await batches.requestAnswers(deps.db, input.requestIds)).map((a) => [a.request_id, a] as const),
      );
      const summaries = input.requestIds.map((rid) => {
        const response = answers.get(rid)?.response;
        const r = response ? SummaryResultSchema.safeParse(readAnswer(response, 'chat').result).data : undefined;
        if (!r?.summary) throw ApplicationFailure.nonRetryable(`request ${rid} has no summary`, 'NotFound');
        return r.summary;
      });
      const maxTokens = chunkTokens(o);
      let groups = reductionGroups(
        summaries.map((s) => countTokens(s) + 2),
        maxTokens,
      );
      // Summaries too long to pair within the budget: pair them anyway (a larger window may take
      // it; otherwise the request fails with its reason) rather than never converge.
      if (groups.length === summaries.length)
        groups = Array.from({ length: Math.ceil(summaries.length / 2) }, (_, i) =>
          [2 * i, 2 * i + 1].filter((j) => j < summaries.length),
        );
      const ids = groups.map((_, i) => batchRequestId(input.batchId, input.seq, input.run, input.round, i));
      await batches.insertBatchRequests(
        deps.db,
        input.batchId,
        row.tenant_id,
        groups.map((g, i) => ({
          requestId: ids[i]!,
          operation: 'summarize',
          requestedModel: o.model,
          body: summaryBody(o, g.map((j) => summaries[j]!).join('\n\n')),
        })),
      );
      return ids;
    },

    /**
     * Items' results, each written once (idempotent). A failure of a cancelled batch is not a
     * result: the item stays unfinished. Returns what each item ended as, in order.
     */
    async finishItems(input: {
      batchId: string;
      kind: BatchKind;
      ends: ItemEnd[];
    }): Promise<Array<'succeeded' | 'failed' | 'cancelled'>> {
      const cancelled = input.ends.some((e) => e.error) && (await batches.batchCancelled(deps.db, input.batchId));
      const out: Array<'succeeded' | 'failed' | 'cancelled'> = [];
      for (const end of input.ends) out.push(await finishOne(input.batchId, input.kind, end, cancelled));
      return out;
    },

    /** Calls the batch's webhook once, when it has one (its address checked again and pinned, as budget alerts are). */
    async notifyBatch(input: { batchId: string }): Promise<void> {
      const url = await batches.claimWebhook(deps.db, input.batchId);
      if (!url) return;
      try {
        const [row, totals] = await Promise.all([
          batches.getBatch(deps.db, input.batchId),
          batches.batchTotals(deps.db, input.batchId),
        ]);
        await postWebhook(deps, url, {
          type: 'batch.finished',
          batch_id: input.batchId,
          status: row?.status,
          total: row?.total,
          done: totals.done,
          failed: totals.failed,
          cost_usd: totals.cost_usd,
        });
      } catch (err) {
        // Not delivered: the next attempt may claim it again.
        if (!(err instanceof ApplicationFailure && err.nonRetryable))
          await batches.unclaimWebhook(deps.db, input.batchId);
        throw err;
      }
    },
  };
}
