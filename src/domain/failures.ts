/**
 * The error taxonomy of provider calls, as data: each failure type, whether Temporal should retry
 * it on the same candidate, and what the workflow does once a candidate's attempts are spent.
 * Pure so the workflow can import it; `src/providers/errors.ts` maps SDK errors onto these types.
 */
export const FAILURE_TYPES = [
  'RateLimited',
  'Overloaded',
  'Timeout',
  'FirstTokenTimeout',
  'Connection',
  'ContextLengthExceeded',
  'ContentFiltered',
  'InvalidRequest',
  'AuthFailed',
  'NotFound',
  'MalformedResponse',
  'InvalidOutput',
  'BreakerOpen',
  'BudgetExceeded',
  'ProviderBusy',
  'BatchCancelled',
  'StreamInterrupted',
] as const;
export type FailureType = (typeof FAILURE_TYPES)[number];

/**
 * After the last attempt on a candidate: try the next one, only a larger-context one, only a
 * stronger (higher quality tier) one, or stop.
 */
export type Disposition = 'fallback' | 'fallback-larger-context' | 'fallback-cheaper' | 'escalate' | 'stop';

export interface FailureRule {
  /** Retry on the same candidate (with backoff) before giving up on it. */
  retryable: boolean;
  disposition: Disposition;
  /** HTTP status when this failure ends the request. */
  httpStatus: number;
  why: string;
}

export const FAILURE_RULES: Record<FailureType, FailureRule> = {
  RateLimited: { retryable: true, disposition: 'fallback', httpStatus: 429, why: 'another provider has its own quota' },
  ProviderBusy: {
    retryable: true,
    disposition: 'fallback',
    httpStatus: 429,
    why: "this worker's calls to that provider are at their limit (the bulkhead); others have their own",
  },
  Overloaded: {
    retryable: true,
    disposition: 'fallback',
    httpStatus: 503,
    why: 'a server-side fault is specific to that provider',
  },
  Timeout: { retryable: true, disposition: 'fallback', httpStatus: 504, why: 'another provider may answer in time' },
  // Not retried: each retry on the same endpoint would cost the client another whole first-token wait.
  FirstTokenTimeout: {
    retryable: false,
    disposition: 'fallback',
    httpStatus: 504,
    why: 'a stream with no first token in time says nothing good about a retry on the same endpoint',
  },
  Connection: {
    retryable: true,
    disposition: 'fallback',
    httpStatus: 503,
    why: 'the endpoint is unreachable, others may not be',
  },
  MalformedResponse: {
    retryable: true,
    disposition: 'fallback',
    httpStatus: 502,
    why: 'a broken response is specific to that provider',
  },
  ContextLengthExceeded: {
    retryable: false,
    disposition: 'fallback-larger-context',
    httpStatus: 400,
    why: 'only a model with a larger context window can take the prompt',
  },
  ContentFiltered: { retryable: false, disposition: 'fallback', httpStatus: 400, why: 'providers filter differently' },
  AuthFailed: {
    retryable: false,
    disposition: 'fallback',
    httpStatus: 503,
    why: "our key for that provider is wrong, not the client's request",
  },
  NotFound: {
    retryable: false,
    disposition: 'fallback',
    httpStatus: 503,
    why: 'that provider does not serve the model',
  },
  InvalidRequest: {
    retryable: false,
    disposition: 'stop',
    httpStatus: 400,
    why: 'the request itself is wrong; every provider would refuse it',
  },
  BreakerOpen: {
    retryable: false,
    disposition: 'fallback',
    httpStatus: 503,
    why: 'the endpoint is cooling down after failures; no call was made',
  },
  BudgetExceeded: {
    retryable: false,
    disposition: 'fallback-cheaper',
    httpStatus: 429,
    why: 'its worst-case cost does not fit the remaining budget; a cheaper model may',
  },
  BatchCancelled: {
    retryable: false,
    disposition: 'stop',
    httpStatus: 409,
    why: 'the batch this request belongs to was cancelled; no call was made',
  },
  StreamInterrupted: {
    retryable: false,
    disposition: 'stop',
    httpStatus: 502,
    why: 'the client already holds part of the answer; another model cannot continue it',
  },
  InvalidOutput: {
    retryable: false,
    disposition: 'escalate',
    httpStatus: 502,
    why: 'the output failed its schema; a stronger model is likelier to get it right',
  },
};

/** Why the route ended without an answer, beyond a single failure type. */
export const ROUTE_ENDINGS = {
  NoCandidate: { httpStatus: 503, why: 'every model was removed by a filter' },
  ContextLengthExceeded: {
    httpStatus: 400,
    why: "the prompt (with its output) fits no model's context window: the client must shorten it",
  },
  AllCandidatesFailed: { httpStatus: 503, why: 'every candidate failed' },
  AllRateLimited: { httpStatus: 429, why: 'every candidate was rate limited' },
  EscalationsExhausted: {
    httpStatus: 502,
    why: 'no model produced valid structured output within the escalation limit',
  },
  DeadlineExceeded: { httpStatus: 504, why: 'the request deadline passed' },
  BudgetExceeded: { httpStatus: 429, why: 'no candidate fits the remaining budget' },
  // A request naming a model with no substitution: that model failed or was filtered out. Its
  // status is the class of the model's own failure (`strictEnding` in ./fallback); 503 by default.
  ModelUnavailable: { httpStatus: 503, why: 'the named model did not answer and substitution is off' },
  // Not a fallback outcome: the workflow was cancelled (a Responses API cancel). 409 as for a
  // cancelled batch's request (`BatchCancelled`): the request conflicts with its client's own cancel.
  Cancelled: { httpStatus: 409, why: 'the client cancelled the request' },
} as const;
export type RouteEnding = keyof typeof ROUTE_ENDINGS;

export const NON_RETRYABLE_TYPES: string[] = FAILURE_TYPES.filter((t) => !FAILURE_RULES[t].retryable);

export function isFailureType(x: unknown): x is FailureType {
  return typeof x === 'string' && (FAILURE_TYPES as readonly string[]).includes(x);
}
