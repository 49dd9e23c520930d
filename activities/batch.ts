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
import { chatCompletionObject, embeddingsObject } from '../src/domain/batch/openai';
import {
  batchRequestId,
  chunkBudget,
  summaryOutputTokens,
  type BatchKind,
  type BatchOptions,
  type BatchStatus,
} from '../src/domain/batch/spec';
import type { Catalog } from '../src/domain/catalog';
import { maxOutputTokens, type ChatCompletionRequest } from '../src/domain/chat';
import { AUTO_MODELS } from '../src/domain/policy';
import type { RouteRequestInput } from '../src/domain/request';
import { countTokens } from '../src/domain/tokens';
import type { ActivityDeps } from './deps';

/** The part of a route request every request of an item shares (the workflow adds ids and deadline). */
export type ItemRoute = Pick<
  RouteRequestInput,
  'operation' | 'requestedModel' | 'maxOutputTokens' | 'needsJson' | 'context'
>;

export type PreparedItem =
  { kind: 'done' } | { kind: 'cancelled' } | { kind: 'requests'; run: number; requestIds: string[]; route: ItemRoute };

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

    async nextItems(input: { batchId: string; afterSeq: number; limit: number }): Promise<batches.PendingItem[]> {
      return batches.pendingItems(deps.db, input.batchId, input.afterSeq, input.limit);
    },

    async setBatchState(input: { batchId: string; status: BatchStatus; reason?: string }): Promise<void> {
      await batches.setBatchStatus(deps.db, input.batchId, input.status, input.reason ?? null);
    },

    /**
     * Starts a run of an item: a document is cut into chunks that fit the smallest context window
     * its route may use, each stored as a summarize request; an OpenAI line is one request.
     */
    async prepareItem(input: { batchId: string; kind: BatchKind; seq: number }): Promise<PreparedItem> {
      const item = await batches.startItemRun(deps.db, input.batchId, input.seq);
      if (!item) throw ApplicationFailure.nonRetryable(`item ${input.seq} of ${input.batchId} not found`, 'NotFound');
      if (item.done) return { kind: 'done' };
      if (item.batch.cancelled_at) return { kind: 'cancelled' };
      const o = item.batch.options;
      const id = (round: number, index: number) => batchRequestId(input.batchId, input.seq, item.run, round, index);
      if (input.kind === 'openai') {
        const line = item.input as { url: string; body: Record<string, unknown> };
        const chat = line.url === '/v1/chat/completions';
        const body = chat ? line.body : { input: line.body.input, model: line.body.model };
        const requestId = id(0, 0);
        await batches.insertBatchRequests(deps.db, input.batchId, item.batch.tenant_id, [
          { requestId, operation: chat ? 'chat' : 'embed', requestedModel: String(line.body.model), body },
        ]);
        const req = line.body as ChatCompletionRequest;
        return {
          kind: 'requests',
          run: item.run,
          requestIds: [requestId],
          route: {
            operation: chat ? 'chat' : 'embed',
            requestedModel: String(line.body.model),
            maxOutputTokens: chat ? maxOutputTokens(req) : 0,
            needsJson: chat && req.response_format !== undefined && req.response_format.type !== 'text',
            context: { ...o.context, ...(typeof req.user === 'string' && { userId: req.user }) },
          },
        };
      }
      const text = String(item.input.text);
      const maxTokens = chunkBudget(summaryWindow(deps.config().config.catalog, o.model), o.maxWords ?? 120);
      const overlap = Math.min(o.overlapTokens ?? 100, Math.floor(maxTokens / 4));
      const chunks =
        countTokens(text) <= maxTokens ? [{ text }] : chunkText(text, { maxTokens, overlapTokens: overlap });
      const requestIds = chunks.map((_, i) => id(0, i));
      await batches.insertBatchRequests(
        deps.db,
        input.batchId,
        item.batch.tenant_id,
        chunks.map((c, i) => ({
          requestId: requestIds[i]!,
          operation: 'summarize',
          requestedModel: o.model,
          body: summaryBody(o, c.text),
        })),
      );
      return { kind: 'requests', run: item.run, requestIds, route: summaryRoute(o) };
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
        const r = (answers.get(rid)?.response as { result?: { summary?: string } } | undefined)?.result;
        if (!r?.summary) throw ApplicationFailure.nonRetryable(`request ${rid} has no summary`, 'NotFound');
        return r.summary;
      });
      const maxTokens = chunkBudget(summaryWindow(deps.config().config.catalog, o.model), o.maxWords ?? 120);
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
     * The item's one result (idempotent). A failure of a cancelled batch is not a result: the item
     * stays unfinished. Returns what was recorded.
     */
    async finishItem(input: {
      batchId: string;
      kind: BatchKind;
      itemId: string;
      requestIds: string[];
      finalRequestId?: string;
      chunks?: number;
      error?: { type: string; message: string; status?: number };
    }): Promise<'succeeded' | 'failed' | 'cancelled'> {
      if (input.error) {
        if (await batches.batchCancelled(deps.db, input.batchId)) return 'cancelled';
        const status = input.error.status ?? 500;
        await batches.writeResult(deps.db, input.batchId, input.itemId, {
          ok: false,
          error:
            input.kind === 'openai'
              ? {
                  status_code: status,
                  request_id: input.finalRequestId,
                  body: { error: { message: input.error.message, type: input.error.type, code: input.error.type } },
                }
              : input.error,
          requestIds: input.requestIds,
        });
        return 'failed';
      }
      const full = await getRequest(deps.db, input.finalRequestId!);
      if (!full || full.status !== 'succeeded')
        throw ApplicationFailure.nonRetryable(`request ${input.finalRequestId} did not succeed`, 'NotFound');
      let result: unknown;
      if (input.kind === 'openai') {
        const body = full.operation === 'embed' ? embeddingsObject(full) : chatCompletionObject(full);
        result = { status_code: 200, request_id: full.request_id, body };
      } else {
        const r = (full.response as { result: { summary: string; keyPoints: string[] } }).result;
        result = { summary: r.summary, keyPoints: r.keyPoints, chunks: input.chunks ?? 1 };
      }
      await batches.writeResult(deps.db, input.batchId, input.itemId, {
        ok: true,
        result,
        requestIds: input.requestIds,
      });
      return 'succeeded';
    },

    /** Calls the batch's webhook once, when it has one (its host checked again, as budget alerts are). */
    async notifyBatch(input: { batchId: string }): Promise<void> {
      const url = await batches.claimWebhook(deps.db, input.batchId);
      if (!url) return;
      try {
        const blocked = await deps.urlPolicy?.checkResolved(url);
        if (blocked) throw ApplicationFailure.nonRetryable(`webhook not called: ${blocked}`, 'WebhookBlocked');
        const [row, totals] = await Promise.all([
          batches.getBatch(deps.db, input.batchId),
          batches.batchTotals(deps.db, input.batchId),
        ]);
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            type: 'batch.finished',
            batch_id: input.batchId,
            status: row?.status,
            total: row?.total,
            done: totals.done,
            failed: totals.failed,
            cost_usd: totals.cost_usd,
          }),
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw ApplicationFailure.retryable(`webhook answered HTTP ${res.status}`, 'WebhookFailed');
      } catch (err) {
        // Not delivered: the next attempt may claim it again.
        if (!(err instanceof ApplicationFailure && err.nonRetryable))
          await batches.unclaimWebhook(deps.db, input.batchId);
        throw err;
      }
    },
  };
}
