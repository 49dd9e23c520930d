/**
 * The contract between the API, the `routeRequest` workflow and its activities. Everything here is
 * small on purpose: the prompt and the completion live in Postgres, keyed by `requestId`.
 */
import { AUTO_MODELS } from './autoModels';
import type { Classification } from './classify';
import { DEFAULT_OUTPUT_TOKENS } from './limits';
import type { CallPolicy } from './settings';
import { roundUsd } from './usd';
import type { Candidate, PolicyInput, RouteContext, RouteDecision } from './policy';
import type { OperationName } from './operations';
import type { WindowState } from './budget';
import type { ContinueFrom } from './continuation';
import type { CallPath } from './fastPath';
import type { FitRecord } from './fit';

/**
 * Chat, or an operation of the registry (`./operations`). Its names as a type only: the workflows
 * bundle this module, and the registry holds zod schemas.
 */
export type Operation = 'chat' | OperationName;

export interface RouteRequestInput {
  requestId: string;
  tenantId: string;
  operation: Operation;
  requestedModel: string;
  maxOutputTokens?: number;
  needsJson: boolean;
  /** The messages carry images: only `vision` models may take the request. */
  needsVision?: boolean;
  /** The request offers tools: only `tools` models may take it. */
  needsTools?: boolean;
  /** The request attributes routing looks at (tenant, user, workspace, region, metadata…). */
  context: RouteContext;
  /** Epoch ms after which no new provider attempt starts; the request ends with 504. */
  deadlineAt: number;
  /** When every candidate's breaker is open, wait (durably) for the first to reopen instead of failing. */
  waitForRecovery?: boolean;
  /** A batch's request: its calls start only while the batch is not cancelled. */
  batchId?: string;
  /** The client streams the answer: calls relay their pieces as they come. */
  stream?: boolean;
  /** The request's own fallback chain (chat's `models`), after the named model. */
  fallbacks?: string[];
}

/** The fields of a route request the policy reads. */
export type PolicyFields =
  | 'requestId'
  | 'requestedModel'
  | 'operation'
  | 'maxOutputTokens'
  | 'needsJson'
  | 'needsVision'
  | 'needsTools'
  | 'context'
  | 'fallbacks';

/** The policy's input for a request: one definition for the workflow's decision and the dry run. */
export function policyInputOf(route: Pick<RouteRequestInput, PolicyFields>, now: string): PolicyInput {
  return {
    requestId: route.requestId,
    requestedModel: route.requestedModel,
    operation: route.operation,
    capability: route.operation === 'embed' ? 'embeddings' : 'chat',
    maxOutputTokens: route.maxOutputTokens ?? DEFAULT_OUTPUT_TOKENS,
    needsJson: route.needsJson,
    ...(route.needsVision && { needsVision: true }),
    ...(route.needsTools && { needsTools: true }),
    context: route.context,
    now,
    ...(route.fallbacks && { fallbacks: route.fallbacks }),
  };
}

export type { CallPolicy } from './settings';

export interface RoutedCandidate extends Candidate {
  contextWindow: number;
  qualityTier: number;
  call: CallPolicy;
  /** Under a budget: the worst-case cost the call reserves before it runs. */
  reserveUsd?: number;
  /**
   * `shared`: the call runs on the workflow's own task queue (the server hands it to the worker
   * with the workflow task's completion: no separate poll). Absent: on its provider's queue.
   */
  callQueue?: 'shared';
  /** Its provider is rate limited: the call may wait this long for its turn (schedule-to-start). */
  rateLimitWaitMs?: number;
  /** The model can continue another's broken stream (the catalog's `continuation` capability). */
  continues?: boolean;
  /**
   * Where its call runs (`callPathOf` in `./fastPath`): `local`, the fast path (a local activity);
   * `activity`, a regular one. Absent (decisions made before the fast path): a regular activity.
   */
  path?: CallPath;
}

export interface PlannedRoute extends Omit<RouteDecision, 'candidates'> {
  candidates: RoutedCandidate[];
  /** The request's classification, when `decideRoute` made it (the first decision; not a re-decision given one). */
  classification?: Classification;
  configVersion: number;
  /** The budget's tightest window when the decision was made (named in a budget 429). */
  budget?: WindowState;
  fallbackOnContentFilter: boolean;
  maxEscalations: number;
  /** The conversation was fitted to a window (issue 26): what was dropped or summarized (or why it could not be). */
  fit?: FitRecord;
  /**
   * Fitting by summary, the summary not yet made: the workflow runs this request (its row already
   * inserted, the dropped turns its body) as a child `routeRequest`, then decides again.
   */
  fitSummary?: FitSummaryStep;
}

/** A summarizing child request: its ids only (its body, the dropped turns, is in its row). */
export interface FitSummaryStep {
  requestId: string;
  workflowId: string;
}

export interface CallModelInput {
  requestId: string;
  operation: Operation;
  candidateIndex: number;
  provider: string;
  model: string;
  modelId: string;
  timeoutMs: number;
  /** Under a budget: who pays and the worst case to reserve before the call. */
  budget?: { tenantId: string; userId?: string; reserveUsd: number };
  /** A batch's request: no call starts once the batch is cancelled. */
  batchId?: string;
  /**
   * On the fast path (a local activity), the request's deadline (epoch ms): no attempt starts after
   * it. A regular activity needs none: the deadline's timer cancels it.
   */
  deadlineAt?: number;
  /** Stream the answer through the relay as it comes (the client asked for `stream: true`). */
  stream?: boolean;
  /**
   * A later candidate could continue this stream if it broke (issue 29): a break leaves the
   * stream open for it (no error event; the workflow's ending says the error if none continues).
   */
  continuable?: boolean;
  /** This call continues a broken stream: it reads the answer so far from the relay (ids and counts only here). */
  continueFrom?: ContinueFrom;
  /**
   * A fallback that can itself continue (issue 29): if an earlier candidate's call began the stream
   * and died without an ending (its worker killed with no retry left), this call ends as
   * `StreamInterrupted` with `takeOver` in its details and no error event, so that the workflow
   * continues the stream on this candidate.
   */
  takeOver?: boolean;
}

export interface CallModelResult {
  providerModel: string;
  finishReason: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  /** The request's attempts so far, this one included: the call completed the request. */
  attempts: AttemptRecord[];
}

/** One provider call attempt, as recorded by the activity itself (it alone knows the attempt number). */
export interface AttemptRecord {
  candidateIndex: number;
  attempt: number;
  provider: string;
  model: string;
  /**
   * `started`: recorded before the provider is called; `abandoned`: its worker died before it
   * ended (the provider may have answered and charged: its cost is unknown).
   */
  outcome: 'started' | 'success' | 'error' | 'abandoned';
  errorType?: string;
  errorMessage?: string;
  status?: number;
  startedAt: string;
  latencyMs: number;
  /** Present when the provider answered (a success, or an answer rejected as invalid output). */
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  /** How long it waited for its turn under the provider's rate limits. */
  queuedMs?: number;
  /** Malformed events its stream had, skipped (a stream past the bound ends as cut). */
  malformedEvents?: number;
}

/** Total cost of a request: every answered attempt is paid for, valid or not. */
export function totalCost(attempts: AttemptRecord[]): number {
  return roundUsd(attempts.reduce((sum, a) => sum + (a.costUsd ?? 0), 0));
}

/** What the workflow concluded about each candidate it considered. */
export interface CandidateOutcome {
  modelId: string;
  provider: string;
  outcome: 'success' | 'error' | 'skipped';
  errorType?: string;
  message?: string;
  /**
   * The provider's own code for its failure (`content_policy_violation`, `content_filter`,
   * `SAFETY`…), a short identifier: what a content-filter 400 passes on to the client.
   */
  providerCode?: string;
  action?: string;
  /** How its call ran: `local` (the fast path, a local activity) or `activity`; absent when skipped. */
  path?: CallPath;
}

export interface RouteResult {
  requestId: string;
  status: 'succeeded';
  provider: string;
  model: string;
  modelId: string;
  classification: Classification;
  decisionSummary: string;
  /** The routing decision in short: where it sent the request first and why. */
  route: RouteSummary;
  candidates: CandidateOutcome[];
  attempts: AttemptRecord[];
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  finishReason: string;
  latencyMs: number;
  /** The decision's notes (a requested model removed by a filter and why, a rule without targets…). */
  notes?: string[];
}

/**
 * A model asked for by name that did not answer: which one served instead, and why (its filter's
 * note, or its own failure). Undefined when `auto` was asked for or the named model answered.
 */
export function substitutionOf(
  requested: string,
  served: string,
  result?: Pick<RouteResult, 'candidates' | 'notes'>,
): { requested: string; served: string; reason: string } | undefined {
  if (requested === served || AUTO_MODELS.has(requested) || !requested.includes('/')) return undefined;
  const note = result?.notes?.find((n) => n.startsWith(`requested ${requested} `));
  const failed = result?.candidates.find((c) => c.modelId === requested && c.outcome !== 'success');
  const reason =
    note ??
    (failed ? `${failed.errorType ?? failed.outcome}: ${failed.message ?? failed.action ?? ''}`.trim() : undefined) ??
    'another candidate answered first';
  return { requested, served, reason };
}

export interface RouteSummary {
  configVersion: number;
  strategy: string;
  candidates: string[];
  rule?: { id: string; name?: string; picked?: string };
  override?: { id: string; scope: string; subject: string; expiresAt?: string };
  /** The request named a model and may not be answered by another (`X-Switchyard-Substitution: none`). */
  substitution?: 'none';
}

/**
 * The task line of a workflow's details (the Temporal UI's summary): the operation, then the task
 * type routing classified it as only when it differs (a chat is classified `chat`: "chat, chat"
 * said nothing twice), its complexity and size.
 */
export function describeTask(operation: string, c: Pick<Classification, 'taskType' | 'complexity' | 'inputTokens'>) {
  const task = c.taskType === operation ? operation : `${operation} (${c.taskType})`;
  return `${task}, ${c.complexity}, ${c.inputTokens} input tokens`;
}

/**
 * What decided a route, for the same details: its label (`rule:…`, `override:…`, `requested`,
 * `strategy:…`) and the configuration version, with the strategy unless the label already is it.
 */
export function describeDecider(label: string, plan: Pick<PlannedRoute, 'configVersion' | 'strategy'>) {
  const strategy = label === `strategy:${plan.strategy}` ? '' : `, strategy ${plan.strategy}`;
  return `${label} (config version ${plan.configVersion}${strategy})`;
}

export function routeSummaryOf(plan: PlannedRoute): RouteSummary {
  return {
    configVersion: plan.configVersion,
    strategy: plan.strategy,
    candidates: plan.candidates.map((c) => c.modelId),
    ...(plan.rule && { rule: plan.rule }),
    ...(plan.override && { override: plan.override }),
    ...(plan.substitution && { substitution: plan.substitution.mode }),
  };
}

/** Details carried by the workflow's failure when no candidate produced an answer. */
export interface RouteFailureDetails {
  requestId: string;
  httpStatus: number;
  errorType: string;
  candidates: CandidateOutcome[];
  attempts: AttemptRecord[];
  /** For BudgetExceeded: the window that refused. */
  budget?: WindowState;
  /** When every candidate's breaker was open: when the first reopens. */
  retryAt?: string;
}
