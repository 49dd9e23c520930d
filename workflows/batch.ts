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
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ItemEnd, ItemRoute, PreparedItem } from '../activities/batch';
import {
  deferralOf,
  itemWorkflowId,
  type Deferral,
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

/** Why a route failure means "not now" (`deferralOf`), for an item naming `model`. */
function deferral(f: { type: string; details?: RouteFailureDetails }, model: string): Deferral | undefined {
  const wait = deferralOf(f, model);
  // A strict item's ModelUnavailable failed its item before this was deferred: a run that already
  // failed one (no marker in its history) keeps doing so on replay.
  if (wait?.strict && !patched('batch-defer-strict')) return undefined;
  return wait;
}

/** How an item ended: its result to write, or deferred (to run again once the way is open). */
type ItemRun = ItemEnd | { deferred: { reason: string; retryAt?: string } };

/** An item's failure as its end: deferred when it says "not now", otherwise its error. */
function failureEnd(err: unknown, item: PreparedItem, requestIds: string[]): ItemRun {
  const f = routeFailureOf(err);
  const wait = f && deferral(f, item.route.requestedModel);
  if (wait) return { deferred: { reason: wait.reason, retryAt: wait.retryAt } };
  return {
    itemId: item.itemId,
    requestIds,
    finalRequestId: f?.details?.requestId,
    error: { type: f?.type ?? 'Error', message: f?.message ?? String(err), status: f?.details?.httpStatus },
  };
}

/** A result waiting to be written, and whether its item was the probe of a waiting job. */
interface PendingWrite {
  end: ItemEnd;
  probe: boolean;
}

/**
 * Everything one run of a batch job knows, in one record: the step functions below read and change
 * it, and the progress query reads it. Workflow state only (deterministic); none of it is stored
 * elsewhere except through the activities the steps call.
 */
interface JobState {
  readonly input: BatchJobInput;
  /** What the progress query and the workflow's details show (`deferred` counted on read). */
  readonly progress: BatchProgress;
  /** Items to run again once the way is open (an outage, an exhausted budget). */
  readonly deferred: BatchItemRef[];
  /** While waiting: not before this time (epoch ms) does a deferred item run again. */
  waitUntil: number;
  /** The last item seq taken from storage in upload order. */
  cursor: number;
  /** The page of prepared items not yet dispatched. */
  prepared: PreparedItem[];
  /** Storage has no item after the cursor. */
  pageDone: boolean;
  /** Items dispatched in this run (a run continues as new after ITEMS_PER_RUN). */
  dispatched: number;
  /** A deferred item is running as the probe of a waiting job. */
  probing: boolean;
  /** The batch was cancelled through the API (storage said so when preparing a page). */
  cancelled: boolean;
  /** Results not yet written: they go out in groups (one activity for many items). */
  readonly writes: PendingWrite[];
  /** Groups being written now. */
  writing: number;
}

/** Nothing runs and nothing is left to write. */
const idle = (s: JobState): boolean => s.progress.inFlight === 0 && s.writes.length === 0 && s.writing === 0;

function showProgress(s: JobState): void {
  const p = s.progress;
  setCurrentDetails(
    [
      `**${p.status}**: ${p.done} done, ${p.failed} failed of ${p.total}; ${p.inFlight} in flight`,
      ...(p.reason ? [`**Waiting:** ${p.reason} (next try at ${p.waitingUntil})`] : []),
    ].join('\n\n'),
  );
}

async function setStatus(s: JobState, next: BatchStatus, reason?: string): Promise<void> {
  s.progress.status = next;
  s.progress.reason = reason;
  if (next !== 'waiting') s.progress.waitingUntil = undefined;
  showProgress(s);
  await acts.setBatchState({ batchId: s.input.batchId, status: next, reason });
}

/** Writes the next group of results, then settles each item by what storage made of it. */
async function flushWrites(s: JobState): Promise<void> {
  const group = s.writes.splice(0, WRITE_BATCH);
  if (group.length === 0) return;
  s.writing++;
  try {
    // Not cancellable: these answers are in, and a cancelled batch keeps its finished results.
    const outcomes = await CancellationScope.nonCancellable(() =>
      acts.finishItems({ batchId: s.input.batchId, kind: s.input.kind, ends: group.map((w) => w.end) }),
    );
    for (const [i, o] of outcomes.entries()) await settle(s, undefined, { status: o }, group[i]!.probe);
  } finally {
    s.writing--;
  }
}

/** Runs for the life of the job: a full group goes out at once, a partial one after WRITE_DELAY_MS. */
async function writeResults(s: JobState): Promise<never> {
  for (;;) {
    await condition(() => s.writes.length > 0);
    if (s.writes.length < WRITE_BATCH) await condition(() => s.writes.length >= WRITE_BATCH, WRITE_DELAY_MS);
    await flushWrites(s);
  }
}

/** Counts an item's end; a deferred one is kept to run again, and the job waits until it may. */
async function settle(
  s: JobState,
  ref: BatchItemRef | undefined,
  outcome: BatchItemOutcome,
  probe: boolean,
): Promise<void> {
  const p = s.progress;
  if (probe) s.probing = false;
  if (outcome.status === 'deferred') {
    if (ref) s.deferred.push(ref);
    const at = Math.min(
      outcome.retryAt ? Math.max(Date.parse(outcome.retryAt), Date.now() + 1_000) : Infinity,
      Date.now() + s.input.recheckMs,
    );
    s.waitUntil = Math.max(s.waitUntil, at);
    p.waitingUntil = new Date(s.waitUntil).toISOString();
    if (p.status !== 'waiting') await setStatus(s, 'waiting', outcome.reason);
    return;
  }
  if (outcome.status === 'succeeded') p.done++;
  if (outcome.status === 'failed') p.failed++;
  if (p.status === 'waiting' && outcome.status !== 'cancelled') await setStatus(s, 'running');
  showProgress(s);
}

/**
 * An item's child workflow: its one request, or a `batchItem` that runs its chunks and writes the
 * item's result (settled here). Returns the end still to handle, or none once settled.
 */
async function runItemChild(
  s: JobState,
  item: PreparedItem,
  ref: BatchItemRef,
  probe: boolean,
): Promise<ItemRun | undefined> {
  const { input } = s;
  const child: BatchItemInput = { batchId: input.batchId, tenantId: input.tenantId, kind: input.kind, ...ref };
  if (item.requestIds.length === 1) {
    await routeChild(child, item.requestIds[0]!, item.route, itemWorkflowId(input.batchId, item.itemId));
    return { itemId: item.itemId, requestIds: item.requestIds, finalRequestId: item.requestIds[0], chunks: 1 };
  }
  const outcome = await executeChild(batchItem, {
    workflowId: itemWorkflowId(input.batchId, item.itemId),
    args: [{ ...child, prepared: item }],
    staticSummary: `${input.kind} item ${item.itemId} (#${item.seq}): ${item.requestIds.length} chunks`,
  });
  if (outcome.status === 'deferred') return { deferred: outcome };
  await settle(s, ref, outcome, probe);
  return undefined;
}

/** Runs an item to its end; never throws (a cancelled job stops waiting for it). */
async function runItem(s: JobState, item: PreparedItem, probe: boolean): Promise<void> {
  s.progress.inFlight++;
  const ref = { seq: item.seq, itemId: item.itemId };
  let end: ItemRun | undefined;
  try {
    end = await runItemChild(s, item, ref, probe);
  } catch (err) {
    end = isCancellation(err) ? undefined : failureEnd(err, item, item.requestIds);
  } finally {
    s.progress.inFlight--;
  }
  if (!end) return;
  if ('deferred' in end) await settle(s, ref, { status: 'deferred', ...end.deferred }, probe);
  else s.writes.push({ end, probe });
}

/** The next item to run: prepared a page at a time (deferred ones first, one at a time while waiting). */
async function nextItem(s: JobState): Promise<PreparedItem | undefined> {
  const { input, progress: p } = s;
  if (s.prepared.length === 0) {
    const again = p.status === 'waiting' ? s.deferred.splice(0, 1) : s.deferred.splice(0, PAGE);
    if (again.length === 0 && s.pageDone) return undefined;
    if (again.length === 0 && s.dispatched >= ITEMS_PER_RUN) {
      // Keep the history small: finish what runs, then continue after the cursor.
      await condition(() => idle(s));
      await continueAsNew<typeof batchSummarize>({
        ...input,
        cursor: s.cursor,
        deferred: s.deferred,
        waiting: p.status === 'waiting' ? { until: s.waitUntil, reason: p.reason ?? 'waiting' } : undefined,
      });
    }
    const page = await acts.prepareItems({
      batchId: input.batchId,
      kind: input.kind,
      ...(again.length ? { seqs: again.map((r) => r.seq) } : { afterSeq: s.cursor }),
      limit: PAGE,
    });
    if (page.cancelled) s.cancelled = true;
    if (again.length === 0) {
      if (page.items.length < PAGE) s.pageDone = true;
      if (page.items.length) s.cursor = page.items[page.items.length - 1]!.seq;
    }
    s.prepared = page.items;
  }
  return s.prepared.shift();
}

/** Dispatches items until none is left (or the batch is cancelled), within the concurrency. */
async function dispatchAll(s: JobState): Promise<void> {
  const p = s.progress;
  while (!s.cancelled) {
    await condition(() => p.inFlight < s.input.concurrency);
    if (p.status === 'waiting') {
      // One deferred item at a time probes whether the way is open again.
      if (Date.now() < s.waitUntil) {
        await sleep(s.waitUntil - Date.now());
        continue;
      }
      if (s.probing) {
        await condition(() => !s.probing || p.status !== 'waiting');
        continue;
      }
    }
    const next = await nextItem(s);
    if (!next) {
      if (idle(s) && s.deferred.length === 0) break;
      await condition(() => idle(s) || s.deferred.length > 0);
      continue;
    }
    s.dispatched++;
    const probe = p.status === 'waiting';
    if (probe) s.probing = true;
    void runItem(s, next, probe);
  }
}

/** A run's state at its start: the counts so far from storage, the cursor and deferred items carried over. */
function initialState(
  input: BatchJobInput,
  status: BatchStatus,
  counts: { total: number; done: number; failed: number },
): JobState {
  const waitUntil = input.waiting?.until ?? 0;
  return {
    input,
    progress: {
      status,
      total: counts.total,
      done: counts.done,
      failed: counts.failed,
      inFlight: 0,
      deferred: 0,
      ...(input.waiting && { reason: input.waiting.reason, waitingUntil: new Date(waitUntil).toISOString() }),
    },
    deferred: [...(input.deferred ?? [])],
    waitUntil,
    cursor: input.cursor ?? 0,
    prepared: [],
    pageDone: false,
    dispatched: 0,
    probing: false,
    cancelled: false,
    writes: [],
    writing: 0,
  };
}

async function batchJob(input: BatchJobInput): Promise<BatchProgress> {
  // A run continued while waiting stays waiting (its status in the database too).
  const status: BatchStatus = input.waiting ? 'waiting' : 'running';
  const counts = await acts.startBatchRun({ batchId: input.batchId, status, reason: input.waiting?.reason });
  const s = initialState(input, status, counts);
  setHandler(progressQuery, () => ({ ...s.progress, deferred: s.deferred.length }));
  showProgress(s);
  void writeResults(s).catch(() => undefined);

  try {
    await dispatchAll(s);
    if (s.cancelled) await condition(() => idle(s));
    await setStatus(s, s.cancelled ? 'cancelled' : 'completed');
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Answers already in are results: write them before closing the batch.
    await CancellationScope.nonCancellable(async () => {
      while (s.writes.length) await flushWrites(s);
      await setStatus(s, 'cancelled');
      await notifyBatch({ batchId: input.batchId });
    });
    throw err;
  }
  await notifyBatch({ batchId: input.batchId });
  return { ...s.progress, deferred: 0 };
}

type ChunkedItem = BatchItemInput & { prepared: PreparedItem };

/** Requests of an item, CHUNKS_IN_PARALLEL at a time. */
async function runInGroups(item: ChunkedItem, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += CHUNKS_IN_PARALLEL)
    await Promise.all(ids.slice(i, i + CHUNKS_IN_PARALLEL).map((id) => routeChild(item, id, item.prepared.route)));
}

/**
 * The chunks' requests, then rounds of combining until one summary is left; returns the last
 * request. Every request run is appended to `all`, so a failure part-way still names them.
 */
async function summarizeChunks(item: ChunkedItem, all: string[]): Promise<string | undefined> {
  const prep = item.prepared;
  let ids = prep.requestIds;
  await runInGroups(item, ids);
  for (let round = 1; ids.length > 1; round++) {
    setCurrentDetails(`Combining ${ids.length} summaries (round ${round})`);
    ids = await acts.prepareCombine({ batchId: item.batchId, seq: item.seq, run: prep.run, round, requestIds: ids });
    all.push(...ids);
    await runInGroups(item, ids);
  }
  return ids[0];
}

/** A document in chunks: its chunk requests, then rounds of combining until one summary is left. */
export async function batchItem(input: ChunkedItem): Promise<BatchItemOutcome> {
  const prep = input.prepared;
  const all = [...prep.requestIds];
  let end: ItemEnd;
  try {
    const finalRequestId = await summarizeChunks(input, all);
    end = { itemId: input.itemId, requestIds: all, finalRequestId, chunks: prep.requestIds.length };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failed = failureEnd(err, prep, all);
    if ('deferred' in failed) return { status: 'deferred', ...failed.deferred };
    end = failed;
  }
  const [status] = await acts.finishItems({ batchId: input.batchId, kind: input.kind, ends: [end] });
  return { status: status! };
}
