/**
 * What the workflow does after a candidate's attempts are spent, as pure functions of the failure
 * type, the candidate and what earlier failures taught (a minimum context window, a minimum
 * quality tier). The workflow calls these; the unit tests pin them down.
 */
import { FAILURE_RULES, isFailureType, ROUTE_ENDINGS, type Disposition, type RouteEnding } from './failures';
import type { WindowState } from './budget';
import type { AttemptRecord, CandidateOutcome, PlannedRoute, RoutedCandidate } from './request';
import type { FilterName } from './policy';

export interface FallbackState {
  /** Candidates with a context window ≤ this cannot take the prompt (a context-length failure). */
  minContextExclusive: number;
  /** Candidates with a quality tier ≤ this are not stronger (an invalid-output escalation). */
  minQualityExclusive: number;
  escalations: number;
  /** Candidates reserving this much or more cannot fit the budget (a budget refusal). */
  maxReserveExclusive?: number;
  /** The budget window that refused the last reservation (named in the 429). */
  refusedWindow?: WindowState;
  /** Set when the route must end now. */
  stop?: { type: string; httpStatus: number };
}

export const initialFallbackState = (): FallbackState => ({
  minContextExclusive: 0,
  minQualityExclusive: 0,
  escalations: 0,
});

/** Why a candidate is skipped given what earlier failures taught; undefined when it may be tried. */
export function skipReason(c: RoutedCandidate, s: FallbackState): string | undefined {
  if (c.contextWindow <= s.minContextExclusive)
    return `context window ${c.contextWindow} is not larger than the ${s.minContextExclusive} that overflowed`;
  if (c.qualityTier <= s.minQualityExclusive)
    return `quality tier ${c.qualityTier} is not stronger than the tier ${s.minQualityExclusive} that produced invalid output`;
  if (s.maxReserveExclusive !== undefined && c.reserveUsd !== undefined && c.reserveUsd >= s.maxReserveExclusive) {
    return `worst case $${c.reserveUsd.toFixed(6)} is not below the $${s.maxReserveExclusive.toFixed(6)} the budget refused`;
  }
  return undefined;
}

export interface FailureDecision {
  disposition: Disposition;
  action: string;
  state: FallbackState;
}

/** The decision after candidate `c` failed with `failureType` once its retries were spent. */
export function afterFailure(
  failureType: string,
  c: RoutedCandidate,
  s: FallbackState,
  route: Pick<PlannedRoute, 'fallbackOnContentFilter' | 'maxEscalations'> & Partial<Pick<PlannedRoute, 'substitution'>>,
): FailureDecision {
  const d = failureDecision(failureType, c, s, route);
  // A strict request's chain is its named model alone: whatever the rule says, nothing follows it.
  if (route.substitution && d.disposition !== 'stop')
    return { ...d, action: `stop: substitution none, no other model may answer (else ${d.action})` };
  return d;
}

function failureDecision(
  failureType: string,
  c: RoutedCandidate,
  s: FallbackState,
  route: Pick<PlannedRoute, 'fallbackOnContentFilter' | 'maxEscalations'>,
): FailureDecision {
  const type = isFailureType(failureType) ? failureType : 'Connection';
  const rule = FAILURE_RULES[type];
  let disposition = rule.disposition;
  if (type === 'ContentFiltered' && !route.fallbackOnContentFilter) disposition = 'stop';
  switch (disposition) {
    case 'stop':
      return {
        disposition,
        action: `stop: ${type === 'ContentFiltered' ? 'content-filter fallback is disabled' : rule.why}`,
        state: { ...s, stop: { type, httpStatus: rule.httpStatus } },
      };
    case 'fallback-cheaper':
      return {
        disposition,
        action: `fallback to a cheaper model: ${rule.why}`,
        state:
          c.reserveUsd === undefined
            ? s
            : { ...s, maxReserveExclusive: Math.min(s.maxReserveExclusive ?? Infinity, c.reserveUsd) },
      };
    case 'fallback-larger-context':
      return {
        disposition,
        action: `fallback to a larger context window: ${rule.why}`,
        state: { ...s, minContextExclusive: Math.max(s.minContextExclusive, c.contextWindow) },
      };
    case 'escalate': {
      const escalations = s.escalations + 1;
      if (escalations > route.maxEscalations) {
        const ending = ROUTE_ENDINGS.EscalationsExhausted;
        return {
          disposition: 'stop',
          action: `stop: escalation limit ${route.maxEscalations} reached`,
          state: { ...s, escalations, stop: { type: 'EscalationsExhausted', httpStatus: ending.httpStatus } },
        };
      }
      return {
        disposition,
        action: `escalate to a stronger model (${escalations}/${route.maxEscalations}): ${rule.why}`,
        state: { ...s, escalations, minQualityExclusive: Math.max(s.minQualityExclusive, c.qualityTier) },
      };
    }
    default:
      return { disposition, action: `fallback: ${rule.why}`, state: s };
  }
}

/** How a route that produced no answer ends: its error type and HTTP status. */
export function routeEnding(
  plan: Pick<PlannedRoute, 'candidates'> & Partial<Pick<PlannedRoute, 'rejected' | 'substitution'>>,
  outcomes: CandidateOutcome[],
  s: FallbackState,
): { errorType: string; httpStatus: number } {
  if (s.stop) return { errorType: s.stop.type, httpStatus: s.stop.httpStatus };
  if (plan.substitution) return strictEnding(plan.substitution.modelId, plan, outcomes);
  let ending: RouteEnding = 'AllCandidatesFailed';
  const errors = outcomes.filter((o) => o.outcome === 'error');
  if (plan.candidates.length === 0)
    ending = plan.rejected?.some((r) => r.filter === 'budget')
      ? 'BudgetExceeded'
      : fitsNoWindow(plan.rejected ?? [])
        ? 'ContextLengthExceeded'
        : 'NoCandidate';
  else if (errors.length > 0 && errors.every((o) => o.errorType === 'RateLimited')) ending = 'AllRateLimited';
  else if (errors.length > 0 && errors.every((o) => o.errorType === 'BudgetExceeded')) ending = 'BudgetExceeded';
  // The prompt overflowed every model tried and the rest were skipped as no larger: the client must shorten it.
  else if (errors.length > 0 && errors.every((o) => o.errorType === 'ContextLengthExceeded'))
    ending = 'ContextLengthExceeded';
  return { errorType: ending, httpStatus: ROUTE_ENDINGS[ending].httpStatus };
}

/**
 * The status of a strict request whose named model a filter removed: the refusal it is. The
 * request's own constraints (capability, window, residency, compliance, cost cap, exclusions) are
 * the client's to change (400), an allow-list the tenant's (403); an inactive model or an open
 * breaker is the model being unavailable (503), a budget the 429 it always is.
 */
const STRICT_FILTER_STATUS: Record<FilterName, number> = {
  status: 503,
  capability: 400,
  json: 400,
  'context-window': 400,
  residency: 400,
  compliance: 400,
  'tenant-allowlist': 403,
  'workspace-allowlist': 403,
  'excluded-provider': 400,
  'cost-cap': 400,
  budget: 429,
  'breaker-open': 503,
};

/**
 * How a strict request (substitution none) ends when its one model did not answer: a budget
 * refusal and a prompt too long for it keep their endings; anything else is `ModelUnavailable`,
 * with the status class of the model's own failure (its key refused: 503, a timeout: 504, rate
 * limited: 429…) or of the filter that removed it.
 */
function strictEnding(
  modelId: string,
  plan: Partial<Pick<PlannedRoute, 'rejected'>>,
  outcomes: CandidateOutcome[],
): { errorType: string; httpStatus: number } {
  const failed = outcomes.find((o) => o.modelId === modelId && o.outcome === 'error');
  const filtered = plan.rejected?.find((r) => r.modelId === modelId);
  const type = failed?.errorType ?? (filtered?.filter === 'budget' ? 'BudgetExceeded' : undefined);
  if (type === 'BudgetExceeded') return { errorType: type, httpStatus: ROUTE_ENDINGS.BudgetExceeded.httpStatus };
  if (type === 'ContextLengthExceeded') return { errorType: type, httpStatus: FAILURE_RULES[type].httpStatus };
  const httpStatus = failed
    ? isFailureType(type)
      ? FAILURE_RULES[type].httpStatus
      : 503
    : filtered
      ? STRICT_FILTER_STATUS[filtered.filter]
      : ROUTE_ENDINGS.ModelUnavailable.httpStatus;
  return { errorType: 'ModelUnavailable', httpStatus };
}

/** Why a strict request's model did not answer, naming it: the filter that removed it, or its own failure. */
function modelUnavailableMessage(
  substitution: Pick<NonNullable<PlannedRoute['substitution']>, 'modelId' | 'source'>,
  plan: Pick<PlannedRoute, 'rejected'>,
  outcomes: CandidateOutcome[],
): string {
  const { modelId } = substitution;
  const failed = outcomes.find((o) => o.modelId === modelId && o.outcome === 'error');
  const filtered = plan.rejected.find((r) => r.modelId === modelId);
  const why = failed
    ? `failed: ${failed.errorType ?? 'error'}${failed.message ? ` (${failed.message.replace(/\.$/, '')})` : ''}`
    : filtered
      ? `was removed by the ${filtered.filter} filter (${filtered.reason})`
      : 'did not answer';
  const off =
    substitution.source === 'tenant'
      ? "the tenant's default is no substitution"
      : 'the request asked for no substitution (X-Switchyard-Substitution: none)';
  return `The model ${modelId} ${why}. No other model answered: ${off}.`;
}

/** One line per attempt, as an operator reads it: "alpha/a attempt 2: 429 RateLimited → fallback". */
export function describeAttempts(
  attempts: AttemptRecord[],
  plan: Pick<PlannedRoute, 'candidates'>,
  outcomes: CandidateOutcome[],
): string[] {
  return attempts.map((a, i) => {
    const c = plan.candidates[a.candidateIndex];
    const name = c?.modelId ?? `${a.provider}/${a.model}`;
    if (a.outcome === 'success') return `${name} attempt ${a.attempt}: success in ${a.latencyMs} ms`;
    const lastOfCandidate = attempts[i + 1]?.candidateIndex !== a.candidateIndex;
    const outcome = outcomes.find((o) => o.modelId === name && o.outcome === 'error');
    const next = lastOfCandidate ? (outcome?.action?.split(':')[0] ?? 'give up') : 'retry';
    return `${name} attempt ${a.attempt}: ${a.status ? `${a.status} ` : ''}${a.errorType ?? 'error'} → ${next}`;
  });
}

// Filters applied before the context window's: a model they removed was never a candidate.
const BEFORE_CONTEXT = new Set(['status', 'capability', 'json']);

/**
 * The request fits no model: of the models that could serve it at all, every one was removed for
 * its context window (none fit and was removed later for another reason, such as residency).
 */
export function fitsNoWindow(rejected: Array<{ filter: string }>): boolean {
  return (
    rejected.some((r) => r.filter === 'context-window') &&
    rejected.every((r) => r.filter === 'context-window' || BEFORE_CONTEXT.has(r.filter))
  );
}

/** Why a request fits no model: the tokens it needs against the largest context window. */
export function contextLengthMessage(
  rejected: Array<{ modelId: string; contextWindow?: number; neededTokens?: number }>,
  promptTokens: number,
): string {
  const largest = [...rejected].sort((a, b) => (b.contextWindow ?? 0) - (a.contextWindow ?? 0))[0];
  const needed = largest?.neededTokens ?? promptTokens;
  return `The prompt has ${promptTokens} tokens (${needed} with room for the output), more than the largest context window of any model, ${largest?.contextWindow ?? 0} tokens (${largest?.modelId ?? 'none'}). Shorten the prompt or lower max_tokens.`;
}

/** Why a budget refused the request, for the 429: the refusing window, then each candidate's refusal. */
export function budgetMessage(
  w: WindowState | undefined,
  plan: Pick<PlannedRoute, 'candidates' | 'rejected'>,
  outcomes: CandidateOutcome[],
): string {
  const why =
    plan.candidates.length === 0
      ? plan.rejected.filter((r) => r.filter === 'budget').map((r) => `${r.modelId}: ${r.reason}`)
      : outcomes.filter((o) => o.errorType === 'BudgetExceeded').map((o) => o.message ?? o.modelId);
  const where = w
    ? `The ${w.period} budget of ${w.scope} has $${w.remainingUsd.toFixed(6)} of $${w.limitUsd} left (resets at ${w.resetsAt}). `
    : '';
  return `${where}No candidate's worst-case cost fits: ${why.join('; ')}`;
}

/** What a route that produced no answer knows when it ends: the inputs of its failure message. */
export interface RouteFailureFacts {
  /** The ending `routeEnding` chose. */
  errorType: string;
  plan: Pick<PlannedRoute, 'candidates' | 'rejected' | 'budget'> & Partial<Pick<PlannedRoute, 'substitution' | 'fit'>>;
  outcomes: CandidateOutcome[];
  state: FallbackState;
  /** The prompt's tokens, as classified. */
  inputTokens: number;
  /** Time from the workflow's start to its ending. */
  latencyMs: number;
}

/** The message of a route that produced no answer, one wording per ending (clients read these). */
export function routeFailureMessage(f: RouteFailureFacts): string {
  const { errorType, plan, outcomes, state } = f;
  switch (errorType) {
    case 'ModelUnavailable':
      return modelUnavailableMessage(plan.substitution ?? { modelId: '', source: 'request' }, plan, outcomes);
    case 'NoCandidate':
      return `No model can serve this request: ${plan.rejected.map((r) => `${r.modelId}: ${r.reason}`).join('; ')}`;
    case 'ContextLengthExceeded': {
      const tooSmall = plan.rejected.filter((r) => r.filter === 'context-window');
      const refused = outcomes.filter((o) => o.errorType === 'ContextLengthExceeded');
      // No window was known too small: the providers themselves refused the prompt as too long.
      if (tooSmall.length === 0 && refused.length > 0)
        return `Every model tried refused the prompt as too long: ${refused.map((o) => `${o.modelId}: ${o.message ?? 'context length exceeded'}`).join('; ')}. Shorten the prompt or lower max_tokens.`;
      // Fitting was on and could not help (issue 26): say why, so the client knows what to shorten.
      const unfit = plan.fit?.unfit ? ` Context fitting (${plan.fit.mode}) could not help: ${plan.fit.unfit}.` : '';
      return contextLengthMessage(tooSmall, f.inputTokens) + unfit;
    }
    case 'BudgetExceeded':
      return budgetMessage(state.refusedWindow ?? plan.budget, plan, outcomes);
    case 'DeadlineExceeded': {
      const lastError = [...outcomes].reverse().find((o) => o.outcome === 'error');
      return `The request deadline passed after ${f.latencyMs} ms${lastError ? ` (last error: ${lastError.errorType})` : ''}.`;
    }
  }
  // A stop (an invalid request, a content filter) passes the provider's own words on to the client.
  if (state.stop && errorType !== 'EscalationsExhausted') {
    // A broken stream's error stands whatever its continuations did (a refused prefill never replaces it).
    const lastError =
      errorType === 'StreamInterrupted'
        ? outcomes.find((o) => o.errorType === 'StreamInterrupted')
        : [...outcomes].reverse().find((o) => o.outcome === 'error');
    return lastError?.message ?? 'request refused';
  }
  return `No candidate produced an answer: ${outcomes.map((o) => `${o.modelId} → ${o.errorType ?? o.outcome}`).join(', ')}`;
}
