/**
 * The contract between the API, the `routeRequest` workflow and its activities. Everything here is
 * small on purpose: the prompt and the completion live in Postgres, keyed by `requestId`.
 */
import type { Classification } from './classify';
import type { FailureType } from './failures';
import type { Candidate } from './route';

export interface RouteRequestInput {
  requestId: string;
  tenantId: string;
  operation: 'chat';
  requestedModel: string;
  maxOutputTokens?: number;
  needsJson: boolean;
}

export interface CallPolicy {
  maximumAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  timeoutMs: number;
}

export interface RoutedCandidate extends Candidate {
  contextWindow: number;
  call: CallPolicy;
}

export interface PlannedRoute {
  candidates: RoutedCandidate[];
  rejected: Array<{ modelId: string; reason: string }>;
  summary: string;
}

export interface CallModelInput {
  requestId: string;
  candidateIndex: number;
  provider: string;
  model: string;
  modelId: string;
}

export interface CallModelResult {
  providerModel: string;
  finishReason: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
}

/** One provider call attempt, as recorded by the activity itself (it alone knows the attempt number). */
export interface AttemptRecord {
  candidateIndex: number;
  attempt: number;
  provider: string;
  model: string;
  outcome: 'success' | 'error';
  errorType?: FailureType | string;
  errorMessage?: string;
  status?: number;
  startedAt: string;
  latencyMs: number;
}

/** What the workflow concluded about each candidate it tried. */
export interface CandidateOutcome {
  modelId: string;
  provider: string;
  outcome: 'success' | 'error' | 'skipped';
  errorType?: string;
  message?: string;
  action?: string;
}

export interface RouteResult {
  requestId: string;
  status: 'succeeded';
  provider: string;
  model: string;
  modelId: string;
  classification: Classification;
  decisionSummary: string;
  candidates: CandidateOutcome[];
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  finishReason: string;
  latencyMs: number;
}

/** Details carried by the workflow's failure when no candidate produced an answer. */
export interface RouteFailureDetails {
  requestId: string;
  httpStatus: number;
  errorType: string;
  candidates: CandidateOutcome[];
}
