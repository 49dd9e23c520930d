/**
 * Batch jobs: one engine for summarization batches (`batchSummarize`) and the OpenAI Batch API
 * (`openaiBatch`). The job workflow walks the stored items in upload order with bounded
 * concurrency, one child workflow per item (`batch-<batchId>/<itemId>`), and continues as new
 * every few hundred items with a cursor, so a batch of any size keeps a small history.
 *
 * An item's requests are `routeRequest` children, so routing, fallbacks, breakers, budgets and the
 * request ledger apply to each as to interactive traffic. A summary item cuts its document into
 * chunks (in an activity: texts stay in Postgres), summarizes each, and combines the summaries,
 * round after round, until one is left. An item blocked by an outage or an exhausted budget is
 * deferred, not failed: the job waits durably (a timer) and runs it again.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  defineQuery,
  executeChild,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ItemEnd, ItemRoute, PreparedItem } from '../activities/batch';
import {
  DEFERRING_ENDINGS,
  itemWorkflowId,
  type BatchItemInput,
  type BatchItemOutcome,
  type BatchItemRef,
  type BatchJobInput,
  type BatchStatus,
} from '../src/domain/batch/job';
import type { RouteFailureDetails, RouteRequestInput } from '../src/domain/request';
import { batchTaskQueue } from '../src/temporal/taskQueues';
import { routeRequest } from './routeRequest';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: ['NotFound'] },
});
const { notifyBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '2 seconds', nonRetryableErrorTypes: ['WebhookBlocked'] },
});

/** Items dispatched per run before it continues as new (a few history events each). */
const ITEMS_PER_RUN = 500;
/** Items prepared (chunked, their requests stored) per activity. */
const PAGE = 50;
/** Results written per activity, at most; a write also goes out after WRITE_DELAY_MS. */
const WRITE_BATCH = 64;
const WRITE_DELAY_MS = 500;
/** Parallel requests within one item (the chunks of a long document). */
const CHUNKS_IN_PARALLEL = 4;
/** A batch request's own deadline: long enough for fallbacks and retries, bounded all the same. */
const REQUEST_DEADLINE_MS = 15 * 60_000;

export interface BatchProgress {
  status: BatchStatus;
  total: number;
  done: number;
  failed: number;
  inFlight: number;
  deferred: number;
  reason?: string;
  waitingUntil?: string;
}

export const progressQuery = defineQuery<BatchProgress>('progress');

export async function batchSummarize(input: BatchJobInput): Promise<BatchProgress> {
  return batchJob(input);
}

export async function openaiBatch(input: BatchJobInput): Promise<BatchProgress> {
  return batchJob(input);
}

/** Intent, sentiment and entities batches: the same engine, one request per text. */
export async function operationBatch(input: BatchJobInput): Promise<BatchProgress> {
  return batchJob(input);
}

/** A request of a batch item as a `routeRequest` child on the batch queue. */
function routeChild(item: BatchItemInput, requestId: string, route: ItemRoute, workflowId = `req-${requestId}`) {
  const args: RouteRequestInput = {
    requestId,
    tenantId: item.tenantId,
    ...route,
    deadlineAt: Date.now() + REQUEST_DEADLINE_MS,
    classifyInDecide: true,
    batchId: item.batchId,
  };
  return executeChild(routeRequest, {
    workflowId,
    taskQueue: batchTaskQueue(workflowInfo().taskQueue),
    args: [args],
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: `${route.operation} of batch ${item.batchId}, item ${item.itemId}`,
  });
}

/** The route failure behind a child's failure, when it is one. */
function routeFailureOf(err: unknown): { type: string; message: string; details?: RouteFailureDetails } | undefined {
  if (!(err instanceof ChildWorkflowFailure) || !(err.cause instanceof ApplicationFailure)) return undefined;
  return {
    type: err.cause.type ?? 'Error',
    message: err.cause.message,
    details: err.cause.details?.[0] as RouteFailureDetails | undefined,
  };
}

/** Why a route failure means "not now": an open breaker or an exhausted budget, with when to retry. */
function deferral(f: {
  type: string;
  details?: RouteFailureDetails;
}): { reason: string; retryAt?: string } | undefined {
  if (!DEFERRING_ENDINGS.has(f.type)) return undefined;
  if (f.type === 'BudgetExceeded')
    return {
      reason: `budget exhausted${f.details?.budget ? ` (${f.details.budget.scope} ${f.details.budget.period}, resets at ${f.details.budget.resetsAt})` : ''}`,
      retryAt: f.details?.budget?.resetsAt,
    };
  if (f.details?.retryAt) return { reason: `every candidate's breaker is open`, retryAt: f.details.retryAt };
  if (f.type === 'AllRateLimited') return { reason: 'every candidate is rate limited' };
  return undefined;
}

/** An item's failure as its end: deferred when it says "not now", otherwise its error. */
function failureEnd(
  err: unknown,
  item: PreparedItem,
  requestIds: string[],
): ItemEnd | { deferred: { reason: string; retryAt?: string } } {
  const f = routeFailureOf(err);
  const wait = f && deferral(f);
  if (wait) return { deferred: wait };
  return {
    itemId: item.itemId,
    requestIds,
    finalRequestId: f?.details?.requestId,
    error: { type: f?.type ?? 'Error', message: f?.message ?? String(err), status: f?.details?.httpStatus },
  };
}

async function batchJob(input: BatchJobInput): Promise<BatchProgress> {
  // A run continued while waiting stays waiting (its status in the database too).
  const status: BatchStatus = input.waiting ? 'waiting' : 'running';
  const counts = await acts.startBatchRun({ batchId: input.batchId, status, reason: input.waiting?.reason });
  const deferred: BatchItemRef[] = [...(input.deferred ?? [])];
  let waitUntil = input.waiting?.until ?? 0;
  const p: BatchProgress = {
    status,
    total: counts.total,
    done: counts.done,
    failed: counts.failed,
    inFlight: 0,
    deferred: 0,
    ...(input.waiting && { reason: input.waiting.reason, waitingUntil: new Date(waitUntil).toISOString() }),
  };
  setHandler(progressQuery, () => ({ ...p, deferred: deferred.length }));
  let cursor = input.cursor ?? 0;
  let prepared: PreparedItem[] = [];
  let pageDone = false;
  let dispatched = 0;
  let probing = false;
  let cancelled = false;
  const show = () =>
    setCurrentDetails(
      [
        `**${p.status}**: ${p.done} done, ${p.failed} failed of ${p.total}; ${p.inFlight} in flight`,
        ...(p.reason ? [`**Waiting:** ${p.reason} (next try at ${p.waitingUntil})`] : []),
      ].join('\n\n'),
    );
  show();

  const setStatus = async (next: BatchStatus, reason?: string) => {
    p.status = next;
    p.reason = reason;
    if (next !== 'waiting') p.waitingUntil = undefined;
    show();
    await acts.setBatchState({ batchId: input.batchId, status: next, reason });
  };

  // Results go out in groups (one activity for many items): fewer activities per item.
  const writes: Array<{ end: ItemEnd; probe: boolean }> = [];
  let writing = 0;
  const flush = async () => {
    const group = writes.splice(0, WRITE_BATCH);
    if (group.length === 0) return;
    writing++;
    try {
      // Not cancellable: these answers are in, and a cancelled batch keeps its finished results.
      const outcomes = await CancellationScope.nonCancellable(() =>
        acts.finishItems({ batchId: input.batchId, kind: input.kind, ends: group.map((w) => w.end) }),
      );
      for (const [i, o] of outcomes.entries()) await settle(undefined, { status: o }, group[i]!.probe);
    } finally {
      writing--;
    }
  };
  const writer = (async () => {
    for (;;) {
      await condition(() => writes.length > 0);
      if (writes.length < WRITE_BATCH) await condition(() => writes.length >= WRITE_BATCH, WRITE_DELAY_MS);
      await flush();
    }
  })();
  void writer.catch(() => undefined);

  const settle = async (ref: BatchItemRef | undefined, outcome: BatchItemOutcome, probe: boolean) => {
    if (probe) probing = false;
    if (outcome.status === 'deferred') {
      if (ref) deferred.push(ref);
      const at = Math.min(
        outcome.retryAt ? Math.max(Date.parse(outcome.retryAt), Date.now() + 1_000) : Infinity,
        Date.now() + input.recheckMs,
      );
      waitUntil = Math.max(waitUntil, at);
      p.waitingUntil = new Date(waitUntil).toISOString();
      if (p.status !== 'waiting') await setStatus('waiting', outcome.reason);
      return;
    }
    if (outcome.status === 'succeeded') p.done++;
    if (outcome.status === 'failed') p.failed++;
    if (p.status === 'waiting' && outcome.status !== 'cancelled') await setStatus('running');
    show();
  };

  /** Runs an item to its end; never throws (a cancelled job stops waiting for it). */
  const runItem = async (item: PreparedItem, probe: boolean) => {
    p.inFlight++;
    const ref = { seq: item.seq, itemId: item.itemId };
    const child: BatchItemInput = { batchId: input.batchId, tenantId: input.tenantId, kind: input.kind, ...ref };
    let end: ItemEnd | { deferred: { reason: string; retryAt?: string } } | undefined;
    try {
      if (item.requestIds.length === 1) {
        // One request: it is the item's child workflow itself.
        await routeChild(child, item.requestIds[0]!, item.route, itemWorkflowId(input.batchId, item.itemId));
        end = { itemId: item.itemId, requestIds: item.requestIds, finalRequestId: item.requestIds[0], chunks: 1 };
      } else {
        // Chunks to combine: a child of its own runs them and writes the item's result.
        const outcome = await executeChild(batchItem, {
          workflowId: itemWorkflowId(input.batchId, item.itemId),
          args: [{ ...child, prepared: item }],
          staticSummary: `${input.kind} item ${item.itemId} (#${item.seq}): ${item.requestIds.length} chunks`,
        });
        if (outcome.status === 'deferred') end = { deferred: outcome };
        else await settle(ref, outcome, probe);
      }
    } catch (err) {
      if (isCancellation(err)) end = undefined;
      else end = failureEnd(err, item, item.requestIds);
    } finally {
      p.inFlight--;
    }
    if (!end) return;
    if ('deferred' in end) await settle(ref, { status: 'deferred', ...end.deferred }, probe);
    else writes.push({ end, probe });
  };

  /** The next item to run: prepared a page at a time (deferred ones first, one at a time while waiting). */
  const nextItem = async (): Promise<PreparedItem | undefined> => {
    if (prepared.length === 0) {
      const again = p.status === 'waiting' ? deferred.splice(0, 1) : deferred.splice(0, PAGE);
      if (again.length === 0 && pageDone) return undefined;
      if (again.length === 0 && dispatched >= ITEMS_PER_RUN) {
        // Keep the history small: finish what runs, then continue after the cursor.
        await condition(() => p.inFlight === 0 && writes.length === 0 && writing === 0);
        await continueAsNew<typeof batchSummarize>({
          ...input,
          cursor,
          deferred,
          waiting: p.status === 'waiting' ? { until: waitUntil, reason: p.reason ?? 'waiting' } : undefined,
        });
      }
      const page = await acts.prepareItems({
        batchId: input.batchId,
        kind: input.kind,
        ...(again.length ? { seqs: again.map((r) => r.seq) } : { afterSeq: cursor }),
        limit: PAGE,
      });
      if (page.cancelled) cancelled = true;
      if (again.length === 0) {
        if (page.items.length < PAGE) pageDone = true;
        if (page.items.length) cursor = page.items[page.items.length - 1]!.seq;
      }
      prepared = page.items;
    }
    return prepared.shift();
  };

  try {
    while (!cancelled) {
      await condition(() => p.inFlight < input.concurrency);
      if (p.status === 'waiting') {
        // One deferred item at a time probes whether the way is open again.
        if (Date.now() < waitUntil) {
          await sleep(waitUntil - Date.now());
          continue;
        }
        if (probing) {
          await condition(() => !probing || p.status !== 'waiting');
          continue;
        }
      }
      const next = await nextItem();
      if (!next) {
        if (p.inFlight === 0 && deferred.length === 0 && writes.length === 0 && writing === 0) break;
        await condition(() => (p.inFlight === 0 && writes.length === 0 && writing === 0) || deferred.length > 0);
        continue;
      }
      dispatched++;
      const probe = p.status === 'waiting';
      if (probe) probing = true;
      void runItem(next, probe);
    }
    if (cancelled) await condition(() => p.inFlight === 0 && writes.length === 0 && writing === 0);
    await setStatus(cancelled ? 'cancelled' : 'completed');
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Answers already in are results: write them before closing the batch.
    await CancellationScope.nonCancellable(async () => {
      while (writes.length) await flush();
      await setStatus('cancelled');
      await notifyBatch({ batchId: input.batchId });
    });
    throw err;
  }
  await notifyBatch({ batchId: input.batchId });
  return { ...p, deferred: 0 };
}

/** A document in chunks: its chunk requests, then rounds of combining until one summary is left. */
export async function batchItem(input: BatchItemInput & { prepared: PreparedItem }): Promise<BatchItemOutcome> {
  const prep = input.prepared;
  const all = [...prep.requestIds];
  const runRequests = async (ids: string[]) => {
    for (let i = 0; i < ids.length; i += CHUNKS_IN_PARALLEL)
      await Promise.all(ids.slice(i, i + CHUNKS_IN_PARALLEL).map((id) => routeChild(input, id, prep.route)));
  };
  let ids = prep.requestIds;
  let end: ItemEnd;
  try {
    await runRequests(ids);
    for (let round = 1; ids.length > 1; round++) {
      setCurrentDetails(`Combining ${ids.length} summaries (round ${round})`);
      ids = await acts.prepareCombine({
        batchId: input.batchId,
        seq: input.seq,
        run: prep.run,
        round,
        requestIds: ids,
      });
      all.push(...ids);
      await runRequests(ids);
    }
    end = { itemId: input.itemId, requestIds: all, finalRequestId: ids[0], chunks: prep.requestIds.length };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failed = failureEnd(err, prep, all);
    if ('deferred' in failed) return { status: 'deferred', ...failed.deferred };
    end = failed;
  }
  const [status] = await acts.finishItems({ batchId: input.batchId, kind: input.kind, ends: [end] });
  return { status: status! };
}
