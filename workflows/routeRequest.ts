/**
 * routeRequest: one workflow per request. Reads like the process it runs (`routeRequest` at the end):
 *   classify and decide (`decide`) → until the deadline, for each candidate: call it (Temporal
 *   retries it per its own policy) → on failure the taxonomy decides: fall back, skip to a larger
 *   context window, escalate to a stronger model (invalid structured output), or stop
 *   (`tryCandidates`) → an answer (`succeeded`: its call recorded it), or record why not (`failed`).
 * A cancelled workflow (a Responses API cancel, a cancelled batch's child request, an operator's
 * cancel) records `Cancelled` before it ends (`cancelled`).
 * Fallback is workflow code, so every decision is in the history and survives a worker crash.
 * The rules themselves are pure functions in `src/domain/fallback.ts`.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  type ActivityOptions,
  type LocalActivityOptions,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ChildWorkflowFailure,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { RetryState, TimeoutType, type RetryPolicy, type SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  afterFailure,
  describeAttempts,
  initialFallbackState,
  routeEnding,
  routeFailureMessage,
  skipReason,
  type FallbackState,
} from '../src/domain/fallback';
import { ROUTE_ENDINGS } from '../src/domain/failures';
import { continuationAfter, continuedLine, type ContinueFrom } from '../src/domain/continuation';
import type { WindowState } from '../src/domain/budget';
import type { Classification } from '../src/domain/classify';
import {
  describeDecider,
  describeTask,
  routeSummaryOf,
  totalCost,
  type AttemptRecord,
  type CallModelInput,
  type CallModelResult,
  type CandidateOutcome,
  type FitSummaryStep,
  type PlannedRoute,
  type RouteFailureDetails,
  type RouteRequestInput,
  type RouteResult,
  type RoutedCandidate,
} from '../src/domain/request';
import {
  SA_COST_USD,
  SA_FALLBACKS,
  SA_MODEL,
  SA_OPERATION,
  SA_PROVIDER,
  SA_ROUTE,
  SA_STATUS,
  SA_TENANT,
} from '../src/temporal/searchAttributes';
import { providerTaskQueue } from '../src/temporal/taskQueues';
import { STREAM_CALL_MAX_MS } from '../src/domain/stream';

const { decideRoute } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['NotFound', 'RequestNotFound'] },
});

// A request no candidate answered is recorded here (an answer is recorded by its call).
const { recordOutcome } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10 },
});

const { callModel } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });
// The fast path (issue 24): the same activity, run as a local activity in this workflow's task.
const { callModel: callModelHere } = proxyLocalActivities<Activities>({ startToCloseTimeout: '1 minute' });

// The call heartbeats while it waits on the provider: a dead worker is noticed in this long.
const CALL_HEARTBEAT_TIMEOUT_MS = 10_000;

/** The candidate's retry policy, on either path. */
function callRetry(c: RoutedCandidate): RetryPolicy {
  return {
    maximumAttempts: c.call.maximumAttempts,
    initialInterval: c.call.initialIntervalMs,
    backoffCoefficient: c.call.backoffCoefficient,
    maximumInterval: c.call.maximumIntervalMs,
    nonRetryableErrorTypes: c.call.nonRetryableTypes,
  };
}

/**
 * Per-candidate call options: its task queue (the workflow's own, or its provider's as a bulkhead;
 * decided by `decideRoute`, so history says which) and its own retry policy.
 */
function callOptions(c: RoutedCandidate, summary: string, stream: boolean): ActivityOptions {
  return {
    ...(c.callQueue !== 'shared' && { taskQueue: providerTaskQueue(c.provider) }),
    // Margin over the SDK's own timeout so the SDK reports the timeout (typed), not Temporal. A
    // stream runs as long as pieces keep coming (its limits are first token and idle), up to a cap.
    startToCloseTimeout: (stream ? STREAM_CALL_MAX_MS : c.call.timeoutMs) + 5_000,
    heartbeatTimeout: CALL_HEARTBEAT_TIMEOUT_MS,
    // A rate-limited provider's call waits its turn in the queue, but only so long: then fallback.
    ...(c.rateLimitWaitMs !== undefined && { scheduleToStartTimeout: c.rateLimitWaitMs }),
    // At the request deadline, stop waiting at once; a late answer is simply not used.
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    retry: callRetry(c),
    summary,
  };
}

/**
 * The fast path's patch: histories before it have no `path` on their candidates and never reach it;
 * it is checked only for a candidate whose decision says `local`, so other histories carry no marker.
 */
const FAST_PATH_PATCH = 'fast-path-local-call';
/**
 * Backoffs between local retries up to this long are slept in the worker (the workflow task is kept
 * alive meanwhile); a longer one is a durable timer, then the next attempt runs as a local activity again.
 */
const LOCAL_RETRY_THRESHOLD_MS = 10_000;

/** The time left until the deadline, for a local call's schedule-to-close timeout (at least 1 ms). */
const leftUntil = (deadlineAt: number): number => Math.max(1, deadlineAt - Date.now());

/**
 * The same call on the fast path: a local activity with the candidate's retry policy and timeout.
 * It cannot heartbeat (nor needs to): a dead worker is seen by the workflow task's timeout (set at
 * start, 10 s), and another worker replays the workflow and runs the call again. A call on its
 * provider's own queue never comes here (`callPathOf`).
 */
function localCallOptions(c: RoutedCandidate, summary: string, deadlineAt: number): LocalActivityOptions {
  return {
    startToCloseTimeout: c.call.timeoutMs + 5_000,
    // The request's deadline, enforced by the worker itself: the deadline's timer cannot fire while
    // the workflow task that runs the call is still open (its command is sent when the task ends).
    scheduleToCloseTimeout: leftUntil(deadlineAt),
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    localRetryThreshold: LOCAL_RETRY_THRESHOLD_MS,
    retry: callRetry(c),
    summary,
  };
}

/**
 * A local call's failure, seen as a regular call's. One that came of the request's deadline is a
 * cancellation (as the deadline's timer gives a regular call: the request ends with a 504, no
 * fallback): its schedule-to-close timeout (the deadline), its start-to-close timeout when that was
 * cut to the deadline (`cut`: the worker reports it so), an attempt that found the deadline passed
 * (`DeadlineExceeded`, thrown before anything is on record), or any failure once workflow time is
 * past it. Any other reaches the workflow as its cause alone (the `ApplicationFailure` the call
 * threw, or a `TimeoutFailure`), so it is wrapped in an `ActivityFailure` as a regular call's arrives.
 */
function callFailureOf(err: unknown, local: { cut: boolean } | undefined, deadlineAt: number): unknown {
  if (!local || isCancellation(err)) return err;
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const deadline =
    (cause instanceof TimeoutFailure && (local.cut || cause.timeoutType === TimeoutType.SCHEDULE_TO_CLOSE)) ||
    (cause instanceof ApplicationFailure && cause.type === 'DeadlineExceeded') ||
    Date.now() >= deadlineAt;
  if (deadline) return new CancelledFailure('the request deadline passed during its call');
  if (err instanceof ActivityFailure) return err;
  if (!(err instanceof ApplicationFailure || err instanceof TimeoutFailure)) return err;
  return new ActivityFailure(err.message, 'callModel', undefined, RetryState.RETRY_STATE_UNSPECIFIED, undefined, err);
}

/** What decided the route, for the SwitchyardRoute search attribute. */
function routeLabel(plan: PlannedRoute): string {
  if (plan.override) return `override:${plan.override.id}`;
  if (plan.rule) return `rule:${plan.rule.id}`;
  if (plan.candidates[0]?.step === 'requested') return 'requested';
  return `strategy:${plan.strategy}`;
}

/** The failure type behind an activity failure: our taxonomy, or Timeout for Temporal's own timeouts. */
function failureTypeOf(err: ActivityFailure): string {
  if (err.cause instanceof ApplicationFailure && err.cause.type) return err.cause.type;
  if (err.cause instanceof TimeoutFailure) return 'Timeout';
  return 'Connection';
}

interface Answer {
  candidate: RoutedCandidate;
  result: CallModelResult;
  /** The answer finished a broken stream (issue 29): "continued after N pieces on X". */
  continued?: string;
}

/** Continuation of a broken stream (issue 29): histories recorded before it never continue. */
const CONTINUATION_PATCH = 'stream-continuation';
/**
 * A fallback that can continue takes over a stream an earlier candidate's call began and left
 * without an ending (its worker killed with no retry left: a heartbeat Timeout, not a
 * StreamInterrupted with a count). Histories before it never take over.
 */
const TAKEOVER_PATCH = 'stream-continuation-takeover';

/** The pieces a broken stream had sent (its failure's details: a count, no text). */
function chunksOf(err: ActivityFailure): number | undefined {
  const d =
    err.cause instanceof ApplicationFailure ? (err.cause.details?.[0] as { chunks?: unknown } | undefined) : undefined;
  return typeof d?.chunks === 'number' ? d.chunks : undefined;
}

/** One call's input: ids, the model and its limits (never the request's text). */
function callInputOf(input: RouteRequestInput, c: RoutedCandidate, index: number): CallModelInput {
  return {
    requestId: input.requestId,
    operation: input.operation,
    candidateIndex: index,
    provider: c.provider,
    model: c.model,
    modelId: c.modelId,
    timeoutMs: c.call.timeoutMs,
    ...(input.batchId !== undefined && { batchId: input.batchId }),
    ...(input.stream && { stream: true }),
    ...(c.reserveUsd !== undefined && {
      budget: { tenantId: input.tenantId, userId: input.context.userId, reserveUsd: c.reserveUsd },
    }),
  };
}

/** A later candidate could continue a stream that breaks on candidate `index` (never for a strict request). */
const canBeContinued = (r: Routed, index: number): boolean =>
  !!r.input.stream && !r.plan.substitution && continuationAfter(r.plan.candidates, index).index !== undefined;

/**
 * Candidate `index` can continue, and an earlier candidate's call failed: it may find the stream
 * that call began still open (its worker died), and take it over (never for a strict request).
 */
const mayTakeOver = (r: Routed, index: number): boolean =>
  !!r.input.stream &&
  !r.plan.substitution &&
  !!r.plan.candidates[index]!.continues &&
  r.outcomes.some((o) => o.outcome === 'error');

/** The call found the stream an earlier candidate's call began, and this candidate is to continue it. */
function takenOver(err: ActivityFailure): boolean {
  const d = err.cause instanceof ApplicationFailure ? (err.cause.details?.[0] as { takeOver?: unknown }) : undefined;
  return d?.takeOver === true;
}

/** A request once its route is decided: the steps below read it and add to its lists. */
interface Routed {
  readonly input: RouteRequestInput;
  readonly plan: PlannedRoute;
  readonly classification: Classification;
  /** The workflow's details: the route, what decided it, the task. */
  readonly header: string;
  /** Each candidate's outcome, in order. */
  readonly outcomes: CandidateOutcome[];
  /** Search attributes still to write: sent with the next upsert (each upsert is a history event). */
  readonly pending: SearchAttributeUpdatePair[];
}

/**
 * One local activity classifies the request and decides its route. Batch callers may wait out an
 * outage: sleep (a durable timer) until the first breaker reopens, then decide again.
 */
async function decide(input: RouteRequestInput): Promise<{ plan: PlannedRoute; classification: Classification }> {
  let plan = await decideRoute({ route: input });
  let classification = plan.classification!;
  // Only a decision that asks for a summary reaches the patch: other histories carry no marker.
  if (plan.fitSummary && patched(CONTEXT_FIT_PATCH)) {
    plan = await summarizeThenDecide(input, plan.fitSummary, classification);
    classification = plan.classification ?? classification;
  }
  while (
    input.waitForRecovery &&
    plan.candidates.length === 0 &&
    plan.retryAt &&
    Date.parse(plan.retryAt) < input.deadlineAt
  ) {
    setCurrentDetails(`**Waiting:** every candidate's breaker is open; the first reopens at ${plan.retryAt}`);
    await sleep(Math.max(1_000, Date.parse(plan.retryAt) - Date.now() + 500));
    plan = await decideRoute({ route: input, classification });
  }
  return { plan, classification };
}

/**
 * Context fitting by summary (issue 26): the decision found the conversation too long for every
 * window, and no cached summary of the turns it drops. Histories before it never ask for one.
 */
const CONTEXT_FIT_PATCH = 'context-fit';

/** The summarizing request's input: the parent's routing context, without fitting of its own or a session. */
function summaryInputOf(input: RouteRequestInput, step: FitSummaryStep): RouteRequestInput {
  const { session: _session, ...context } = input.context;
  return {
    requestId: step.requestId,
    tenantId: input.tenantId,
    operation: 'summarize',
    requestedModel: 'auto',
    needsJson: false,
    context: { ...context, fit: 'off' },
    deadlineAt: input.deadlineAt,
  };
}

/**
 * Runs the summarizing request (its row inserted by the decision, the dropped turns its body) as a
 * child `routeRequest`, with its own decision, fallbacks and record; then decides again with its
 * outcome: the summary before the kept turns, or (it failed) truncation, the decision says why.
 */
async function summarizeThenDecide(
  input: RouteRequestInput,
  step: FitSummaryStep,
  classification: Classification,
): Promise<PlannedRoute> {
  setCurrentDetails(`**Fitting:** summarizing the earlier conversation (${step.workflowId})`);
  let failed: string | undefined;
  try {
    await executeChild(routeRequest, {
      workflowId: step.workflowId,
      args: [summaryInputOf(input, step)],
      workflowTaskTimeout: '10 seconds',
      typedSearchAttributes: [
        { key: SA_TENANT, value: input.tenantId },
        { key: SA_OPERATION, value: 'summarize' },
        { key: SA_STATUS, value: 'running' },
      ],
      staticSummary: `summarize · context fitting of ${input.requestId} · tenant ${input.tenantId}`,
    });
  } catch (err) {
    // The request itself was cancelled (its child with it); a child cancelled alone is a failed summary.
    if (isCancellation(err) && CancellationScope.current().consideredCancelled) throw err;
    failed = err instanceof ChildWorkflowFailure ? (err.cause?.message ?? err.message) : String(err);
  }
  return decideRoute({ route: input, classification, fitSummary: { step, ...(failed !== undefined && { failed }) } });
}

/** The workflow's details once routed: the route, what decided it, the task, what was left out. */
function headerOf(input: RouteRequestInput, plan: PlannedRoute, classification: Classification): string {
  return [
    `**Route:** ${plan.summary}`,
    `**Decided by:** ${describeDecider(routeLabel(plan), plan)}`,
    `**Task:** ${describeTask(input.operation, classification)}`,
    ...(plan.rejected.length
      ? [`**Filtered out:** ${plan.rejected.map((r) => `${r.modelId} (${r.filter})`).join(', ')}`]
      : []),
    ...(plan.notes.length ? [`**Notes:** ${plan.notes.join('; ')}`] : []),
    ...(plan.candidates.some((c) => c.path === 'local')
      ? [
          `**Fast path:** ${plan.candidates
            .filter((c) => c.path === 'local')
            .map((c) => c.modelId)
            .join(', ')} (local activity)`,
        ]
      : []),
  ].join('\n\n');
}

/** Tries the candidates in order until one answers or the fallback rules say stop. */
async function tryCandidates(r: Routed): Promise<{ answer?: Answer; state: FallbackState }> {
  const { input, plan, outcomes, pending } = r;
  let state = initialFallbackState();
  for (const [index, c] of plan.candidates.entries()) {
    if (state.stop) break;
    const skip = skipReason(c, state);
    if (skip) {
      outcomes.push({ modelId: c.modelId, provider: c.provider, outcome: 'skipped', action: `skipped: ${skip}` });
      continue;
    }
    upsertSearchAttributes([
      ...pending.splice(0),
      { key: SA_PROVIDER, value: c.provider },
      { key: SA_MODEL, value: c.modelId },
      { key: SA_FALLBACKS, value: outcomes.filter((o) => o.outcome === 'error').length },
    ]);
    // Checked only where a continuation is possible, so other histories carry no marker.
    const continuable = canBeContinued(r, index) && patched(CONTINUATION_PATCH);
    const takeOver = mayTakeOver(r, index) && patched(TAKEOVER_PATCH);
    // The decision's path (never `local` for a stream, so never with the two above).
    const local =
      c.path === 'local' && patched(FAST_PATH_PATCH)
        ? { cut: leftUntil(input.deadlineAt) < c.call.timeoutMs + 5_000 }
        : undefined;
    const path = c.path && { path: local ? ('local' as const) : ('activity' as const) };
    const summary = `${c.modelId} (candidate ${index + 1}/${plan.candidates.length}: ${c.reason})`;
    const args: [CallModelInput] = [
      {
        ...callInputOf(input, c, index),
        ...(continuable && { continuable: true }),
        ...(takeOver && { takeOver: true }),
        ...(local && { deadlineAt: input.deadlineAt }),
      },
    ];
    try {
      const result = local
        ? await callModelHere.executeWithOptions(localCallOptions(c, summary, input.deadlineAt), args)
        : await callModel.executeWithOptions(callOptions(c, summary, !!input.stream), args);
      outcomes.push({ modelId: c.modelId, provider: c.provider, outcome: 'success', ...path });
      return { answer: { candidate: c, result }, state };
    } catch (thrown) {
      const err = callFailureOf(thrown, local, input.deadlineAt);
      // The request's deadline cancelled the call: that ends the request (504), it is not a
      // provider failure to fall back from.
      if (isCancellation(err)) throw err;
      if (!(err instanceof ActivityFailure)) throw err;
      const type = failureTypeOf(err);
      if (type === 'BudgetExceeded' && err.cause instanceof ApplicationFailure) {
        const refused = (err.cause.details?.[0] as { budget?: WindowState } | undefined)?.budget;
        if (refused) state = { ...state, refusedWindow: refused };
      }
      const decision = afterFailure(type, c, state, plan);
      state = decision.state;
      // It found the stream an earlier call began: it continues it itself (below).
      const self = takeOver && type === 'StreamInterrupted' && takenOver(err);
      // Already an identifier (`failure()` keeps nothing else): the code a filter's 400 passes on.
      const providerCode =
        err.cause instanceof ApplicationFailure
          ? (err.cause.details?.[0] as { providerCode?: unknown } | undefined)?.providerCode
          : undefined;
      outcomes.push({
        modelId: c.modelId,
        provider: c.provider,
        outcome: 'error',
        errorType: type,
        message: err.cause?.message ?? err.message,
        ...(typeof providerCode === 'string' && { providerCode }),
        action: self ? 'found the stream an earlier call began: continue it here' : decision.action,
        ...path,
      });
      const chunks = (continuable || self) && type === 'StreamInterrupted' ? chunksOf(err) : undefined;
      if (chunks !== undefined) {
        // Taken over: this candidate is the first to try (continuationAfter looks after `index - 1`).
        const answer = await continueStream(r, { candidateIndex: index, chunks }, state, self ? index - 1 : index);
        if (answer) return { answer, state };
      }
    }
  }
  return { state };
}

/**
 * A stream broke after `from.chunks` pieces: the next candidates that can continue it are called
 * in turn with the answer so far as their prefill (the call reads it from the relay; only ids and
 * counts are in history). A continuation that breaks after pieces of its own is continued in turn;
 * one that fails otherwise (a prefill refused) is passed over. Undefined: none continued, and the
 * original failure stands (the workflow's stop state is left as it was).
 */
async function continueStream(
  r: Routed,
  broke: ContinueFrom,
  state: FallbackState,
  first = broke.candidateIndex,
): Promise<Answer | undefined> {
  const { input, plan, outcomes } = r;
  let from = broke;
  let after = first;
  for (;;) {
    const next = continuationAfter(plan.candidates, after, (k) => skipReason(plan.candidates[k]!, state));
    for (const p of next.passed) {
      const c = plan.candidates.find((x) => x.modelId === p.modelId)!;
      outcomes.push({ modelId: c.modelId, provider: c.provider, outcome: 'skipped', action: `skipped: ${p.why}` });
    }
    if (next.index === undefined) return undefined;
    const index = next.index;
    const c = plan.candidates[index]!;
    const line = continuedLine(from.chunks, c.modelId);
    try {
      const result = await callModel.executeWithOptions(
        callOptions(c, `${c.modelId} (candidate ${index + 1}/${plan.candidates.length}: ${line})`, true),
        [
          {
            ...callInputOf(input, c, index),
            continueFrom: from,
            ...(canBeContinued(r, index) && { continuable: true }),
          },
        ],
      );
      outcomes.push({ modelId: c.modelId, provider: c.provider, outcome: 'success', action: line });
      return { candidate: c, result, continued: line };
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (!(err instanceof ActivityFailure)) throw err;
      const type = failureTypeOf(err);
      const chunks = type === 'StreamInterrupted' ? chunksOf(err) : undefined;
      outcomes.push({
        modelId: c.modelId,
        provider: c.provider,
        outcome: 'error',
        errorType: type,
        message: err.cause?.message ?? err.message,
        action:
          chunks !== undefined
            ? `continuation broke after ${chunks} pieces: continue on the next that can`
            : "continuation failed: the broken stream's error stands",
      });
      // The answer so far cannot be carried (the relay lost it, a tool call cut mid-way): no other can either.
      if (type === 'ContinuationImpossible') return undefined;
      if (chunks !== undefined) from = { candidateIndex: index, chunks };
      after = index;
    }
  }
}

/** The candidates, until the request's deadline: reaching it stops them (DeadlineExceeded, a 504). */
async function callWithinDeadline(r: Routed): Promise<{ answer?: Answer; state: FallbackState }> {
  const stop = { type: 'DeadlineExceeded', httpStatus: ROUTE_ENDINGS.DeadlineExceeded.httpStatus };
  const remainingMs = r.input.deadlineAt - Date.now();
  // A zero or past deadline ends the request at once: a timer of 0 ms would never fire.
  if (remainingMs <= 0) return { state: { ...initialFallbackState(), stop } };
  try {
    return await CancellationScope.withTimeout(remainingMs, () => tryCandidates(r));
  } catch (err) {
    // The workflow itself was cancelled, not the deadline's scope: that ends it (`cancelled`).
    if (!isCancellation(err) || CancellationScope.current().consideredCancelled) throw err;
    return { state: { ...initialFallbackState(), stop } };
  }
}

/** The attempts, one line each, under the workflow's details. */
const attemptLines = (r: Routed, attempts: AttemptRecord[]): string =>
  describeAttempts(attempts, r.plan, r.outcomes)
    .map((l) => `- ${l}`)
    .join('\n');

/** An answer: the call already completed the request in its own transaction and returned its attempts. */
function succeeded(r: Routed, answer: Answer, latencyMs: number): RouteResult {
  const { candidate: c, result } = answer;
  const { input, plan, outcomes } = r;
  const { attempts } = result;
  const cost = totalCost(attempts);
  const continued = answer.continued ? `\n\n**Continued:** ${answer.continued}` : '';
  setCurrentDetails(`${r.header}${continued}\n\n**Attempts:**\n${attemptLines(r, attempts)}`);
  upsertSearchAttributes([
    ...r.pending.splice(0),
    { key: SA_STATUS, value: 'succeeded' },
    { key: SA_COST_USD, value: cost },
  ]);
  return {
    requestId: input.requestId,
    status: 'succeeded',
    provider: c.provider,
    model: c.model,
    modelId: c.modelId,
    classification: r.classification,
    decisionSummary: plan.summary,
    route: routeSummaryOf(plan),
    candidates: outcomes,
    attempts,
    inputTokens: result.inputTokens,
    outputTokens: result.outputTokens,
    costUsd: cost,
    finishReason: result.finishReason,
    latencyMs,
    ...((plan.notes.length > 0 || answer.continued) && {
      notes: [...plan.notes, ...(answer.continued ? [answer.continued] : [])],
    }),
  };
}

/** No candidate answered: record why, then fail the workflow so the UI shows it as failed. */
async function failed(r: Routed, state: FallbackState, latencyMs: number): Promise<never> {
  const { input, plan, outcomes } = r;
  const { errorType, httpStatus } = routeEnding(plan, outcomes, state);
  const message = routeFailureMessage({
    errorType,
    plan,
    outcomes,
    state,
    inputTokens: r.classification.inputTokens,
    latencyMs,
  });
  const attempts = await recordOutcome({
    requestId: input.requestId,
    outcome: { status: 'failed', error: { type: errorType, message, candidates: outcomes }, latencyMs },
  });
  setCurrentDetails(`${r.header}\n\n**Failed:** ${errorType}\n\n**Attempts:**\n${attemptLines(r, attempts)}`);
  upsertSearchAttributes([
    ...r.pending.splice(0),
    { key: SA_STATUS, value: 'failed' },
    { key: SA_FALLBACKS, value: outcomes.filter((o) => o.outcome === 'error').length },
  ]);
  const refused = errorType === 'BudgetExceeded' ? (state.refusedWindow ?? plan.budget) : undefined;
  const details: RouteFailureDetails = {
    requestId: input.requestId,
    httpStatus,
    errorType,
    candidates: outcomes,
    attempts,
    ...(refused && { budget: refused }),
    ...(plan.retryAt !== undefined && { retryAt: plan.retryAt }),
  };
  throw ApplicationFailure.create({ type: errorType, message, nonRetryable: true, details: [details] });
}

/**
 * The workflow was cancelled (a client cancelled a background response, a batch was cancelled
 * with its child requests, or an operator cancelled it): record the request as failed,
 * `Cancelled`, out of reach of the cancel, so its row does not stay `running` and the in-flight
 * attempt (abandoned by the cancel) has its budget reservation settled by the same outcome path
 * as a dead worker's (`finishRequest`): at its reservation, the worst case charged. The caller
 * then ends the workflow cancelled.
 */
async function cancelled(input: RouteRequestInput, r: Routed | undefined, latencyMs: number): Promise<void> {
  const candidates = r?.outcomes ?? [];
  const attempts = await CancellationScope.nonCancellable(() =>
    recordOutcome({
      requestId: input.requestId,
      outcome: {
        status: 'failed',
        error: { type: 'Cancelled', message: 'cancelled by the client', candidates },
        latencyMs,
      },
    }),
  );
  const lines = r ? `\n\n**Attempts:**\n${attemptLines(r, attempts)}` : '';
  setCurrentDetails(`${r?.header ?? ''}\n\n**Cancelled** by the client${lines}`.trim());
  upsertSearchAttributes([...(r?.pending.splice(0) ?? []), { key: SA_STATUS, value: 'failed' }]);
}

export async function routeRequest(input: RouteRequestInput): Promise<RouteResult> {
  const startedAt = Date.now();
  let r: Routed | undefined;
  try {
    const { plan, classification } = await decide(input);
    r = {
      input,
      plan,
      classification,
      header: headerOf(input, plan, classification),
      outcomes: [],
      // Each upsert is a history event: the route label goes out with the first call's.
      pending: [{ key: SA_ROUTE, value: routeLabel(plan) }],
    };
    setCurrentDetails(r.header);
    const { answer, state } = await callWithinDeadline(r);
    const latencyMs = Date.now() - startedAt;
    return answer ? succeeded(r, answer, latencyMs) : await failed(r, state, latencyMs);
  } catch (err) {
    // Before this patch a cancel left the row `running` (its record was cancelled with it). Only
    // a cancelled run writes the marker.
    if (isCancellation(err) && CancellationScope.current().consideredCancelled && patched('cancel-records-outcome'))
      await cancelled(input, r, Date.now() - startedAt);
    throw err;
  }
}
