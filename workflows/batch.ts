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
import type { ItemRoute } from '../activities/batch';
import {
  DEFERRING_ENDINGS,
  itemWorkflowId,
  type BatchItemInput,
  type BatchItemOutcome,
  type BatchItemRef,
  type BatchJobInput,
  type BatchStatus,
} from '../src/domain/batch/spec';
import type { RouteFailureDetails, RouteRequestInput } from '../src/domain/request';
import { batchTaskQueue } from '../src/temporal/taskQueues';
import { routeRequest } from './routeRequest';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: ['NotFound'] },
});
const { notifyBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '2 seconds', nonRetryableErrorTypes: ['WebhookBlocked'] },
});

/** Items dispatched per run before it continues as new (about 4 history events each). */
const ITEMS_PER_RUN = 250;
const PAGE = 100;
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
  let page: BatchItemRef[] = [];
  let pageDone = false;
  let dispatched = 0;
  let probing = false;
  const show = () =>
    setCurrentDetails(
      [
        `**${p.status}**: ${p.done} done, ${p.failed} failed of ${p.total}; ${p.inFlight} in flight`,
        ...(p.reason ? [`**Waiting:** ${p.reason} (next try at ${p.waitingUntil})`] : []),
      ].join('\n\n'),
    );
  show();

  const setStatus = async (status: BatchStatus, reason?: string) => {
    p.status = status;
    p.reason = reason;
    if (status !== 'waiting') p.waitingUntil = undefined;
    show();
    await acts.setBatchState({ batchId: input.batchId, status, reason });
  };

  const settle = async (ref: BatchItemRef, outcome: BatchItemOutcome, probe: boolean) => {
    if (probe) probing = false;
    if (outcome.status === 'deferred') {
      deferred.push(ref);
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

  /** Runs an item to its outcome; never throws (a cancelled job stops waiting for it). */
  const runItem = async (ref: BatchItemRef, probe: boolean) => {
    p.inFlight++;
    let outcome: BatchItemOutcome;
    try {
      outcome = await executeChild(batchItem, {
        workflowId: itemWorkflowId(input.batchId, ref.itemId),
        args: [{ batchId: input.batchId, tenantId: input.tenantId, kind: input.kind, ...ref }],
        staticSummary: `${input.kind} item ${ref.itemId} (#${ref.seq})`,
      });
    } catch (err) {
      // The item's own failures are results; anything else is a fault of the engine: count it failed.
      outcome = isCancellation(err) ? { status: 'cancelled' } : { status: 'failed' };
    } finally {
      p.inFlight--;
    }
    if (outcome.status !== 'cancelled') await settle(ref, outcome, probe);
  };

  const nextFromPage = async (): Promise<BatchItemRef | undefined> => {
    if (page.length === 0 && !pageDone) {
      const rows = await acts.nextItems({ batchId: input.batchId, afterSeq: cursor, limit: PAGE });
      page = rows.map((r) => ({ seq: r.seq, itemId: r.item_id }));
      if (rows.length < PAGE) pageDone = true;
    }
    const next = page.shift();
    if (next) cursor = next.seq;
    return next;
  };

  try {
    for (;;) {
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
      const fromDeferred = deferred.shift();
      const next = fromDeferred ?? (await nextFromPage());
      if (!next) {
        if (p.inFlight === 0 && deferred.length === 0) break;
        await condition(() => p.inFlight === 0 || deferred.length > 0);
        continue;
      }
      if (dispatched >= ITEMS_PER_RUN) {
        // Keep the history small: finish what runs, then continue with a cursor.
        if (fromDeferred) deferred.unshift(fromDeferred);
        else cursor = next.seq - 1;
        await condition(() => p.inFlight === 0);
        await continueAsNew<typeof batchSummarize>({
          ...input,
          cursor,
          deferred,
          startedBefore: (input.startedBefore ?? 0) + dispatched,
          waiting: p.status === 'waiting' ? { until: waitUntil, reason: p.reason ?? 'waiting' } : undefined,
        });
      }
      dispatched++;
      const probe = p.status === 'waiting';
      if (probe) probing = true;
      void runItem(next, probe);
    }
    await setStatus('completed');
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(() => setStatus('cancelled'));
    await CancellationScope.nonCancellable(() => notifyBatch({ batchId: input.batchId }));
    throw err;
  }
  await notifyBatch({ batchId: input.batchId });
  return { ...p, deferred: 0 };
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

/** One item: its requests as `routeRequest` children, combined round after round for a summary. */
export async function batchItem(input: BatchItemInput): Promise<BatchItemOutcome> {
  const prep = await acts.prepareItem({ batchId: input.batchId, kind: input.kind, seq: input.seq });
  if (prep.kind === 'done') return { status: 'succeeded' };
  if (prep.kind === 'cancelled') return { status: 'cancelled' };
  const queue = batchTaskQueue(workflowInfo().taskQueue);
  const all = [...prep.requestIds];
  const runRequests = async (ids: string[], route: ItemRoute) => {
    for (let i = 0; i < ids.length; i += CHUNKS_IN_PARALLEL) {
      await Promise.all(
        ids.slice(i, i + CHUNKS_IN_PARALLEL).map((requestId) => {
          const args: RouteRequestInput = {
            requestId,
            tenantId: input.tenantId,
            ...route,
            deadlineAt: Date.now() + REQUEST_DEADLINE_MS,
            classifyInDecide: true,
            batchId: input.batchId,
          };
          return executeChild(routeRequest, {
            workflowId: `req-${requestId}`,
            taskQueue: queue,
            args: [args],
            parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
            staticSummary: `${route.operation} of batch ${input.batchId}, item ${input.itemId}`,
          });
        }),
      );
    }
  };
  let ids = prep.requestIds;
  try {
    await runRequests(ids, prep.route);
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
      await runRequests(ids, prep.route);
    }
  } catch (err) {
    if (isCancellation(err)) throw err;
    const f = routeFailureOf(err);
    const wait = f && deferral(f);
    if (wait) return { status: 'deferred', ...wait };
    const status = await acts.finishItem({
      batchId: input.batchId,
      kind: input.kind,
      itemId: input.itemId,
      requestIds: all,
      finalRequestId: f?.details?.requestId,
      error: {
        type: f?.type ?? 'Error',
        message: f?.message ?? String(err),
        status: f?.details?.httpStatus,
      },
    });
    return { status };
  }
  const status = await acts.finishItem({
    batchId: input.batchId,
    kind: input.kind,
    itemId: input.itemId,
    requestIds: all,
    finalRequestId: ids[0],
    chunks: prep.requestIds.length,
  });
  return { status };
}
