/**
 * How a request that did not succeed reaches the client: a failed route becomes the HTTP error its
 * ending names (with the attempts), a refused budget a 429 naming its window, an outage a 503.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { WorkflowFailedError } from '@temporalio/client';
import { FAILURE_RULES, isFailureType, ROUTE_ENDINGS } from '../domain/failures';
import type { RouteFailureDetails } from '../domain/request';
import { windowJson } from './budgetJson';
import { HttpError, type ErrorType } from './errors';

/** An outage of a dependency is a 503 the client can retry (with the same Idempotency-Key), not a 500. */
export function unavailable(what: string, err: unknown, requestId?: string): HttpError {
  const detail = err instanceof Error ? err.message : String(err);
  return HttpError.unavailable(
    `${what} is unavailable (${detail}). Retry the request${requestId ? ' with the same Idempotency-Key' : ''}.`,
    { code: 'service_unavailable', extra: requestId ? { request_id: requestId } : {} },
  );
}

export async function unavailableOnError<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw unavailable(what, err);
  }
}

export function routeFailureToHttp(err: WorkflowFailedError, requestId: string, requestedModel?: string): HttpError {
  const cause = err.cause;
  // Cancelled (a Responses API cancel, a cancelled batch's child, an operator's cancel): it
  // recorded `Cancelled` and ended cancelled. Its own ending, not an outage: a waiting stream or a
  // retried create says so, and does not retry.
  if (cause instanceof CancelledFailure)
    return new HttpError(
      ROUTE_ENDINGS.Cancelled.httpStatus,
      'invalid_request_error',
      'The request was cancelled before it finished.',
      {
        code: 'Cancelled',
        extra: { request_id: requestId },
      },
    );
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as RouteFailureDetails | undefined;
    if (cause.type === 'NotFound')
      return HttpError.notFound(cause.message, {
        param: 'model',
        code: 'model_not_found',
        extra: { request_id: requestId },
      });
    if (cause.type === 'BudgetExceeded') return budgetExceeded(cause.message, requestId, details);
    if (cause.type === 'ModelUnavailable') return modelUnavailable(cause.message, requestId, details, requestedModel);
    const status = details?.httpStatus ?? 503;
    const type =
      status === 400
        ? 'invalid_request_error'
        : status === 429
          ? 'rate_limit_error'
          : status === 504
            ? 'timeout_error'
            : 'provider_error';
    return new HttpError(status, type, cause.message, {
      code:
        cause.type === 'ContextLengthExceeded'
          ? 'context_length_exceeded'
          : cause.type === 'ContentFiltered'
            ? filterCode(details)
            : (cause.type ?? null),
      ...(cause.type === 'ContextLengthExceeded' && { param: 'messages' }),
      extra: {
        request_id: requestId,
        candidates: details?.candidates ?? [],
        attempts: details?.attempts ?? [],
      },
      headers: retryHeaders(cause.type ?? undefined, details),
    });
  }
  return new HttpError(503, 'provider_error', `The request failed: ${err.message}`, {
    code: 'route_failed',
    extra: { request_id: requestId },
  });
}

/**
 * A content filter's stop: the provider's own code for it (`content_policy_violation`,
 * `content_filter`, `ResponsibleAIPolicyViolation`, `SAFETY`…), as the client would have had it from
 * the provider; OpenAI's `content_filter` when the provider gave none (a filtered answer).
 */
function filterCode(details: RouteFailureDetails | undefined): string {
  const filtered = details?.candidates.filter((c) => c.errorType === 'ContentFiltered').at(-1);
  return filtered?.providerCode ?? 'content_filter';
}

/**
 * A request naming a model with no substitution, which that model did not answer: the status the
 * workflow chose (the class of the model's failure, or the filter's refusal), `model_unavailable`,
 * and the model in `model` and `param`. The SDKs are told not to retry what a retry cannot fix
 * (a refused key, a filter), and when an open breaker reopens.
 */
function modelUnavailable(
  message: string,
  requestId: string,
  details: RouteFailureDetails | undefined,
  requestedModel: string | undefined,
): HttpError {
  const status = details?.httpStatus ?? ROUTE_ENDINGS.ModelUnavailable.httpStatus;
  const failed = details?.candidates.find((c) => c.outcome === 'error');
  const type: ErrorType =
    status === 400 ? 'invalid_request_error' : status === 403 ? 'permission_error' : 'model_unavailable';
  const retryable =
    failed?.errorType !== undefined && isFailureType(failed.errorType) && FAILURE_RULES[failed.errorType].retryable;
  const headers: Record<string, string> = details?.retryAt
    ? { 'retry-after': String(Math.max(1, Math.ceil((Date.parse(details.retryAt) - Date.now()) / 1000))) }
    : retryable
      ? {}
      : { 'x-should-retry': 'false' };
  return new HttpError(status, type, message, {
    param: 'model',
    code: 'model_unavailable',
    extra: {
      request_id: requestId,
      model: failed?.modelId ?? requestedModel ?? null,
      candidates: details?.candidates ?? [],
      attempts: details?.attempts ?? [],
    },
    headers,
  });
}

/**
 * 429 `budget_exceeded`: which window, how much is left and when it resets. `x-should-retry:
 * false` stops the official SDKs from retrying a 429 that will not clear before the reset.
 */
function budgetExceeded(message: string, requestId: string, details: RouteFailureDetails | undefined): HttpError {
  const w = details?.budget;
  const retryAfter = w ? Math.max(1, Math.ceil((Date.parse(w.resetsAt) - Date.now()) / 1000)) : undefined;
  return new HttpError(429, 'budget_exceeded', message, {
    code: 'budget_exceeded',
    extra: {
      request_id: requestId,
      ...(w && { budget: windowJson(w) }),
      candidates: details?.candidates ?? [],
    },
    headers: { 'x-should-retry': 'false', ...(retryAfter !== undefined && { 'retry-after': String(retryAfter) }) },
  });
}

/**
 * Whether the SDKs should retry: not a request no model can take (until the configuration
 * changes), and after a breaker's cooldown when every breaker is open. (4xx get `false` in
 * `sendError`.)
 */
function retryHeaders(type: string | undefined, details: RouteFailureDetails | undefined): Record<string, string> {
  if (type !== 'NoCandidate') return {};
  if (!details?.retryAt) return { 'x-should-retry': 'false' };
  return { 'retry-after': String(Math.max(1, Math.ceil((Date.parse(details.retryAt) - Date.now()) / 1000))) };
}
