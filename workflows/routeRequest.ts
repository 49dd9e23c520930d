/**
 * routeRequest: one workflow per request. Reads like the process it runs:
 * classify → decide → call candidate 1 (Temporal retries it per its policy) → on failure, the
 * taxonomy says whether to fall back, skip to a larger context window, or stop → record → return.
 * Fallback is workflow code, so every decision is in the history and survives a worker crash.
 */
import {
  type ActivityOptions,
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FAILURE_RULES, isFailureType, NON_RETRYABLE_TYPES } from '../src/domain/failures';
import type { CandidateOutcome, RouteFailureDetails, RouteRequestInput, RouteResult, RoutedCandidate } from '../src/domain/request';
import { SA_COST_USD, SA_FALLBACKS, SA_MODEL, SA_PROVIDER, SA_STATUS } from '../src/temporal/searchAttributes';
import { providerTaskQueue } from '../src/temporal/taskQueues';

const { classifyRequest, decideRoute } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['NotFound', 'RequestNotFound'] },
});

const { recordOutcome } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10 },
});

const { callModel } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

/** Per-candidate call options: its provider's task queue (bulkhead) and its own retry policy. */
function callOptions(c: RoutedCandidate, summary: string): ActivityOptions {
  return {
    taskQueue: providerTaskQueue(c.provider),
    // Margin over the SDK's own timeout so the SDK reports the timeout (typed), not Temporal.
    startToCloseTimeout: c.call.timeoutMs + 5_000,
    retry: {
      maximumAttempts: c.call.maximumAttempts,
      initialInterval: c.call.initialIntervalMs,
      backoffCoefficient: c.call.backoffCoefficient,
      maximumInterval: c.call.maximumIntervalMs,
      nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
    },
    summary,
  };
}

/** The failure type behind an activity failure: our taxonomy, or Timeout for Temporal's own timeouts. */
function failureTypeOf(err: ActivityFailure): string {
  if (err.cause instanceof ApplicationFailure && err.cause.type) return err.cause.type;
  if (err.cause instanceof TimeoutFailure) return 'Timeout';
  return 'Connection';
}

export async function routeRequest(input: RouteRequestInput): Promise<RouteResult> {
  const startedAt = Date.now();
  const classification = await classifyRequest({ requestId: input.requestId, operation: input.operation });
  const plan = await decideRoute({ route: input, classification });
  setCurrentDetails(`**Route:** ${plan.summary}\n\n**Task:** ${classification.taskType}, ${classification.complexity}, ${classification.inputTokens} input tokens`);

  const outcomes: CandidateOutcome[] = [];
  let minContext = 0; // raised by a context-length failure: smaller models cannot take this prompt
  let stopType: string | undefined;

  for (const [index, c] of plan.candidates.entries()) {
    if (stopType) break;
    if (c.contextWindow <= minContext) {
      outcomes.push({ modelId: c.modelId, provider: c.provider, outcome: 'skipped', action: `context window ${c.contextWindow} not larger than ${minContext}` });
      continue;
    }
    upsertSearchAttributes([
      { key: SA_PROVIDER, value: c.provider },
      { key: SA_MODEL, value: c.modelId },
      { key: SA_FALLBACKS, value: outcomes.length },
    ]);
    try {
      const result = await callModel.executeWithOptions(
        callOptions(c, `${c.modelId} (candidate ${index + 1}/${plan.candidates.length}: ${c.reason})`),
        [{ requestId: input.requestId, candidateIndex: index, provider: c.provider, model: c.model, modelId: c.modelId }],
      );
      outcomes.push({ modelId: c.modelId, provider: c.provider, outcome: 'success' });
      const latencyMs = Date.now() - startedAt;
      await recordOutcome({
        requestId: input.requestId,
        outcome: { status: 'succeeded', provider: c.provider, model: c.modelId, inputTokens: result.inputTokens, outputTokens: result.outputTokens, costUsd: result.costUsd, latencyMs },
      });
      upsertSearchAttributes([
        { key: SA_STATUS, value: 'succeeded' },
        { key: SA_COST_USD, value: result.costUsd },
      ]);
      return {
        requestId: input.requestId,
        status: 'succeeded',
        provider: c.provider,
        model: c.model,
        modelId: c.modelId,
        classification,
        decisionSummary: plan.summary,
        candidates: outcomes,
        inputTokens: result.inputTokens,
        outputTokens: result.outputTokens,
        costUsd: result.costUsd,
        finishReason: result.finishReason,
        latencyMs,
      };
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      const type = failureTypeOf(err);
      const rule = isFailureType(type) ? FAILURE_RULES[type] : FAILURE_RULES.Connection;
      const message = err.cause?.message ?? err.message;
      if (rule.disposition === 'stop') {
        stopType = type;
        outcomes.push({ modelId: c.modelId, provider: c.provider, outcome: 'error', errorType: type, message, action: `stop: ${rule.why}` });
      } else if (rule.disposition === 'fallback-larger-context') {
        minContext = Math.max(minContext, c.contextWindow);
        outcomes.push({ modelId: c.modelId, provider: c.provider, outcome: 'error', errorType: type, message, action: `fallback to a larger context window: ${rule.why}` });
      } else {
        outcomes.push({ modelId: c.modelId, provider: c.provider, outcome: 'error', errorType: type, message, action: `fallback: ${rule.why}` });
      }
    }
  }

  // No candidate answered: record why, then fail the workflow so the UI shows it as failed.
  const lastError = [...outcomes].reverse().find((o) => o.outcome === 'error');
  const errorType = stopType ?? (plan.candidates.length === 0 ? 'NoCandidate' : 'AllCandidatesFailed');
  const httpStatus = stopType && isFailureType(stopType) ? FAILURE_RULES[stopType].httpStatus : 503;
  const message =
    plan.candidates.length === 0
      ? `No model can serve this request: ${plan.rejected.map((r) => `${r.modelId}: ${r.reason}`).join('; ')}`
      : stopType
        ? (lastError?.message ?? 'request refused')
        : `Every candidate failed: ${outcomes.map((o) => `${o.modelId} → ${o.errorType ?? o.outcome}`).join(', ')}`;
  await recordOutcome({
    requestId: input.requestId,
    outcome: { status: 'failed', error: { type: errorType, message, candidates: outcomes }, latencyMs: Date.now() - startedAt },
  });
  upsertSearchAttributes([
    { key: SA_STATUS, value: 'failed' },
    { key: SA_FALLBACKS, value: Math.max(0, outcomes.length - 1) },
  ]);
  const details: RouteFailureDetails = { requestId: input.requestId, httpStatus, errorType, candidates: outcomes };
  throw ApplicationFailure.create({ type: errorType, message, nonRetryable: true, details: [details] });
}
