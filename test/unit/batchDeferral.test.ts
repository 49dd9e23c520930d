/**
 * When a batch item waits instead of failing (`deferralOf`): an exhausted budget, every candidate's
 * breaker open, every candidate rate limited. A strict item (substitution none) ends its route in
 * `ModelUnavailable` whatever its model's failure; it defers exactly when the same failure of the
 * same one model does with substitution allowed, and fails (naming its model) otherwise.
 */
import { deferralOf, substitutableEnding, type ItemRouteFailure } from '../../src/domain/batch/job';
import { FAILURE_TYPES } from '../../src/domain/failures';
import { afterFailure, initialFallbackState, routeEnding } from '../../src/domain/fallback';
import type { CandidateOutcome, RoutedCandidate } from '../../src/domain/request';

const RETRY_AT = '2026-12-07T10:00:00.000Z';
const strict = { mode: 'none' as const, source: 'tenant' as const, modelId: 'oa/primary' };
const candidate = { modelId: 'oa/primary', provider: 'oa', contextWindow: 8000, qualityTier: 2 } as RoutedCandidate;
const failedWith = (errorType: string): CandidateOutcome[] => [
  { modelId: 'oa/primary', provider: 'oa', outcome: 'error', errorType, message: 'why' },
];
const breakerOpen = [{ modelId: 'oa/primary', filter: 'breaker-open' as const, reason: 'breaker open until later' }];

/** The failure the batch engine sees for a route of the one model, strict or not. */
function failure(allowed: boolean, outcomes: CandidateOutcome[], filteredByBreaker = false): ItemRouteFailure {
  const substitution = allowed ? {} : { substitution: strict };
  const plan = filteredByBreaker
    ? { candidates: [], rejected: breakerOpen, ...substitution }
    : { candidates: [candidate], rejected: [], ...substitution };
  // The state after the model's failure, as the workflow keeps it (a stop ends the route with its own type).
  const route = { fallbackOnContentFilter: true, maxEscalations: 1, ...substitution };
  const state = outcomes.reduce(
    (s, o) => afterFailure(o.errorType!, candidate, s, route).state,
    initialFallbackState(),
  );
  const { errorType } = routeEnding(plan, outcomes, state);
  // The route records when the first breaker reopens only when no candidate was left.
  return { type: errorType, details: { candidates: outcomes, ...(filteredByBreaker && { retryAt: RETRY_AT }) } };
}

describe('a strict item', () => {
  it('defers when its model is rate limited, naming the model, to be checked again after the recheck interval', () => {
    const f = failure(false, failedWith('RateLimited'));
    expect(f.type).toBe('ModelUnavailable');
    expect(deferralOf(f, 'primary')).toEqual({
      reason: 'oa/primary is rate limited (substitution none)',
      strict: true,
    });
  });

  it("defers when its model's breaker is open, until the breaker reopens", () => {
    const f = failure(false, [], true);
    expect(f.type).toBe('ModelUnavailable');
    expect(deferralOf(f, 'oa/primary')).toEqual({
      reason: 'the breaker of oa/primary is open (substitution none)',
      retryAt: RETRY_AT,
      strict: true,
    });
  });

  it('fails on a permanent failure of its model: a refused key, an unknown model, an invalid request', () => {
    for (const type of ['AuthFailed', 'NotFound', 'ContentFiltered', 'InvalidOutput']) {
      const f = failure(false, failedWith(type));
      expect(f.type).toBe('ModelUnavailable');
      expect(deferralOf(f, 'oa/primary')).toBeUndefined();
    }
    // An invalid request stops the route with its own ending, strict or not.
    expect(failure(false, failedWith('InvalidRequest')).type).toBe('InvalidRequest');
    expect(deferralOf(failure(false, failedWith('InvalidRequest')), 'oa/primary')).toBeUndefined();
  });

  it('defers exactly when the same failure of the same model defers with substitution allowed', () => {
    for (const type of FAILURE_TYPES) {
      const allowed = deferralOf(failure(true, failedWith(type)), 'oa/primary');
      const none = deferralOf(failure(false, failedWith(type)), 'oa/primary');
      expect([type, none !== undefined, none?.retryAt]).toEqual([type, allowed !== undefined, allowed?.retryAt]);
    }
    const allowed = deferralOf(failure(true, [], true), 'oa/primary');
    expect(allowed).toEqual({ reason: "every candidate's breaker is open", retryAt: RETRY_AT });
    expect(deferralOf(failure(false, [], true), 'oa/primary')?.retryAt).toBe(allowed?.retryAt);
  });

  it('does not defer when a filter other than an open breaker removed its model', () => {
    expect(deferralOf({ type: 'ModelUnavailable', details: { candidates: [] } }, 'oa/primary')).toBeUndefined();
  });

  it('maps its ending onto the one the failure has with substitution allowed', () => {
    expect(substitutableEnding({ type: 'ModelUnavailable', details: { candidates: failedWith('RateLimited') } })).toBe(
      'AllRateLimited',
    );
    expect(substitutableEnding({ type: 'ModelUnavailable', details: { candidates: failedWith('Timeout') } })).toBe(
      'AllCandidatesFailed',
    );
    expect(substitutableEnding({ type: 'ModelUnavailable', details: { retryAt: RETRY_AT, candidates: [] } })).toBe(
      'NoCandidate',
    );
    expect(substitutableEnding({ type: 'AllRateLimited' })).toBe('AllRateLimited');
  });
});

describe('an item allowed substitution (as before)', () => {
  it('defers an exhausted budget until it resets, an open breaker until it reopens, a rate limit for a recheck', () => {
    const budget = { scope: 'tenant:t1', period: 'daily', resetsAt: RETRY_AT } as never;
    expect(deferralOf({ type: 'BudgetExceeded', details: { budget } }, 'auto')).toEqual({
      reason: `budget exhausted (tenant:t1 daily, resets at ${RETRY_AT})`,
      retryAt: RETRY_AT,
    });
    expect(deferralOf({ type: 'NoCandidate', details: { retryAt: RETRY_AT } }, 'auto')).toEqual({
      reason: "every candidate's breaker is open",
      retryAt: RETRY_AT,
    });
    expect(deferralOf({ type: 'AllRateLimited' }, 'auto')).toEqual({ reason: 'every candidate is rate limited' });
  });

  it('fails every other ending', () => {
    for (const type of [
      'NoCandidate',
      'AllCandidatesFailed',
      'DeadlineExceeded',
      'ContextLengthExceeded',
      'AuthFailed',
    ])
      expect(deferralOf({ type, details: { candidates: [] } }, 'auto')).toBeUndefined();
  });
});
