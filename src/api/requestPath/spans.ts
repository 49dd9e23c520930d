/**
 * The request path's span (`route chat`, under the API's server span when there is one) and
 * Switchyard's decision on it: the candidates, the model that answered, why earlier ones were
 * fallen back from, the cache. Ids, model names and error types only: never the request's text.
 * Tracing off: `inSpan` and `annotate` return at once.
 */
import type { Attributes, Span } from '@opentelemetry/api';
import type { CandidateOutcome, RouteResult } from '../../domain/request';
import { annotate, failSpan, inSpan, SpanKind } from '../../services/tracing';
import { HttpError } from '../errors';
import type { CacheStatus, RouteInput } from './outcome';

/** Runs a request path in its span (`route <operation>`). */
export function inRouteSpan<T>(
  r: { tenantId: string; route: Pick<RouteInput, 'operation' | 'requestedModel' | 'stream'> },
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  return inSpan(
    `route ${r.route.operation}`,
    SpanKind.INTERNAL,
    {
      'switchyard.tenant_id': r.tenantId,
      'switchyard.operation': r.route.operation,
      'switchyard.requested_model': r.route.requestedModel,
      ...(r.route.stream && { 'switchyard.stream': true }),
    },
    fn,
    errorTypeOf,
  );
}

/** What failed, for `error.type`: an HttpError's code (`all_candidates_failed`…) or type. */
export function errorTypeOf(err: unknown): string {
  if (err instanceof HttpError) return err.code ?? err.type;
  return err instanceof Error ? err.name : typeof err === 'string' ? err : '_OTHER';
}

/** Candidates that failed, each as `model: ErrorType` (the route fell back from them). */
const failures = (candidates: readonly Pick<CandidateOutcome, 'modelId' | 'outcome' | 'errorType'>[]) =>
  candidates.filter((c) => c.outcome === 'error').map((c) => `${c.modelId}: ${c.errorType ?? 'Unknown'}`);

/** A route's result as its counters see it (a continued stream's may be known only in part). */
export type RoutedAs = Pick<RouteResult, 'provider' | 'modelId' | 'candidates'> & Partial<RouteResult>;

/** The decision on the current span: the route's result, or its failure. */
export function noteRoute(outcome: { result: RoutedAs } | { error: unknown }): void {
  if ('result' in outcome) {
    const { result } = outcome;
    const last = result.candidates.filter((c) => c.outcome === 'error').at(-1);
    annotate({
      ...(result.requestId !== undefined && { 'switchyard.request_id': result.requestId }),
      ...(result.route && {
        'switchyard.candidates': result.route.candidates,
        'switchyard.strategy': result.route.strategy,
      }),
      'switchyard.chosen_model': result.modelId,
      'switchyard.provider': result.provider,
      'switchyard.fallbacks': failures(result.candidates),
      ...(last && { 'switchyard.fallback_reason': last.errorType ?? 'Unknown' }),
      ...(result.inputTokens !== undefined && { 'gen_ai.usage.input_tokens': result.inputTokens }),
      ...(result.outputTokens !== undefined && { 'gen_ai.usage.output_tokens': result.outputTokens }),
    });
    return;
  }
  const e = outcome.error;
  if (!(e instanceof HttpError)) return;
  const candidates = e.extra.candidates as CandidateOutcome[] | undefined;
  const attributes: Attributes = {};
  if (typeof e.extra.request_id === 'string') attributes['switchyard.request_id'] = e.extra.request_id;
  if (candidates) {
    attributes['switchyard.candidates'] = candidates.map((c) => c.modelId);
    attributes['switchyard.fallbacks'] = failures(candidates);
  }
  annotate(attributes);
}

/** The cache's part (`hit`, `miss`, `bypass`) and, for a hit, the request it came from. */
export function noteCache(status: CacheStatus | undefined, requestId?: string): void {
  if (status) annotate({ 'switchyard.cache': status });
  if (requestId) annotate({ 'switchyard.request_id': requestId });
}

export { failSpan };
