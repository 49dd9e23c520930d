import {
  contextLengthMessage,
  fitsNoWindow,
  afterFailure,
  describeAttempts,
  initialFallbackState,
  routeEnding,
  skipReason,
} from '../../src/domain/fallback';
import { DEFAULT_SETTINGS, callPolicyFor } from '../../src/domain/settings';
import type { RoutedCandidate } from '../../src/domain/request';

const cand = (modelId: string, contextWindow: number, qualityTier: number): RoutedCandidate => ({
  modelId,
  provider: modelId.split('/')[0]!,
  model: modelId.split('/')[1]!,
  reason: 'test',
  step: 'strategy',
  estimatedCostUsd: 0,
  contextWindow,
  qualityTier,
  call: callPolicyFor(DEFAULT_SETTINGS, 'p', modelId),
});
const route = { fallbackOnContentFilter: true, maxEscalations: 2 };

describe('fallback rules', () => {
  it('falls through on transient provider faults', () => {
    for (const type of [
      'RateLimited',
      'Overloaded',
      'Timeout',
      'Connection',
      'MalformedResponse',
      'AuthFailed',
      'NotFound',
    ]) {
      expect(afterFailure(type, cand('a/x', 8000, 2), initialFallbackState(), route).disposition).toBe('fallback');
    }
  });

  it('after a budget refusal, tries only cheaper candidates; all refused ends in 429 BudgetExceeded', () => {
    const dear = { ...cand('a/dear', 8000, 4), reserveUsd: 0.02 };
    const same = { ...cand('b/same', 8000, 3), reserveUsd: 0.02 };
    const cheap = { ...cand('c/cheap', 8000, 2), reserveUsd: 0.005 };
    const d = afterFailure('BudgetExceeded', dear, initialFallbackState(), route);
    expect(d.disposition).toBe('fallback-cheaper');
    expect(skipReason(same, d.state)).toMatch(/not below/);
    expect(skipReason(cheap, d.state)).toBeUndefined();
    const refused = [{ modelId: 'a/dear', provider: 'a', outcome: 'error' as const, errorType: 'BudgetExceeded' }];
    expect(routeEnding({ candidates: [dear, cheap] }, refused, d.state)).toEqual({
      errorType: 'BudgetExceeded',
      httpStatus: 429,
    });
    expect(
      routeEnding(
        { candidates: [], rejected: [{ modelId: 'a/dear', filter: 'budget', reason: 'x' }] },
        [],
        initialFallbackState(),
      ),
    ).toEqual({ errorType: 'BudgetExceeded', httpStatus: 429 });
    expect(
      routeEnding(
        { candidates: [], rejected: [{ modelId: 'a/dear', filter: 'residency', reason: 'x' }] },
        [],
        initialFallbackState(),
      ),
    ).toEqual({ errorType: 'NoCandidate', httpStatus: 503 });
  });

  it('stops at once on an invalid request', () => {
    const d = afterFailure('InvalidRequest', cand('a/x', 8000, 2), initialFallbackState(), route);
    expect(d.disposition).toBe('stop');
    expect(d.state.stop).toEqual({ type: 'InvalidRequest', httpStatus: 400 });
  });

  it('after a context overflow, skips every model whose window is not larger', () => {
    const d = afterFailure('ContextLengthExceeded', cand('a/x', 8000, 2), initialFallbackState(), route);
    expect(skipReason(cand('b/same', 8000, 5), d.state)).toMatch(/not larger than the 8000/);
    expect(skipReason(cand('b/smaller', 4000, 5), d.state)).toBeDefined();
    expect(skipReason(cand('b/larger', 128000, 1), d.state)).toBeUndefined();
  });

  it('escalates invalid output only to stronger models, up to the limit', () => {
    let s = initialFallbackState();
    const first = afterFailure('InvalidOutput', cand('a/x', 8000, 2), s, route);
    expect(first.disposition).toBe('escalate');
    s = first.state;
    expect(skipReason(cand('b/same-tier', 8000, 2), s)).toMatch(/not stronger/);
    expect(skipReason(cand('b/stronger', 8000, 3), s)).toBeUndefined();
    s = afterFailure('InvalidOutput', cand('b/stronger', 8000, 3), s, route).state;
    const third = afterFailure('InvalidOutput', cand('c/best', 8000, 5), s, route);
    expect(third.disposition).toBe('stop');
    expect(third.state.stop).toEqual({ type: 'EscalationsExhausted', httpStatus: 502 });
  });

  it('stops on a content filter when content-filter fallback is disabled', () => {
    expect(afterFailure('ContentFiltered', cand('a/x', 8000, 2), initialFallbackState(), route).disposition).toBe(
      'fallback',
    );
    expect(
      afterFailure('ContentFiltered', cand('a/x', 8000, 2), initialFallbackState(), {
        ...route,
        fallbackOnContentFilter: false,
      }).disposition,
    ).toBe('stop');
  });

  it('ends a route without answer with the right status', () => {
    const plan = { candidates: [cand('a/x', 1, 1)] };
    const s = initialFallbackState();
    expect(routeEnding({ candidates: [] }, [], s)).toEqual({ errorType: 'NoCandidate', httpStatus: 503 });
    // Every model tried overflowed (the rest skipped as no larger): the client must shorten the prompt.
    expect(
      routeEnding(
        { candidates: [cand('a/x', 1, 1), cand('b/y', 1, 1)] },
        [
          { modelId: 'a/x', provider: 'a', outcome: 'error', errorType: 'ContextLengthExceeded' },
          { modelId: 'b/y', provider: 'b', outcome: 'skipped' } as never,
        ],
        s,
      ),
    ).toEqual({ errorType: 'ContextLengthExceeded', httpStatus: 400 });
    expect(
      routeEnding(plan, [{ modelId: 'a/x', provider: 'a', outcome: 'error', errorType: 'RateLimited' }], s),
    ).toEqual({ errorType: 'AllRateLimited', httpStatus: 429 });
    expect(routeEnding(plan, [{ modelId: 'a/x', provider: 'a', outcome: 'error', errorType: 'Timeout' }], s)).toEqual({
      errorType: 'AllCandidatesFailed',
      httpStatus: 503,
    });
  });

  it('describes each attempt as an operator reads it', () => {
    const plan = { candidates: [cand('a/x', 8000, 2), cand('b/y', 8000, 3)] };
    const at = (
      candidateIndex: number,
      attempt: number,
      outcome: 'success' | 'error',
      errorType?: string,
      status?: number,
    ) => ({
      candidateIndex,
      attempt,
      provider: candidateIndex ? 'b' : 'a',
      model: candidateIndex ? 'y' : 'x',
      outcome,
      errorType,
      status,
      startedAt: '',
      latencyMs: 5,
    });
    const lines = describeAttempts(
      [at(0, 1, 'error', 'RateLimited', 429), at(0, 2, 'error', 'RateLimited', 429), at(1, 1, 'success')],
      plan,
      [
        {
          modelId: 'a/x',
          provider: 'a',
          outcome: 'error',
          errorType: 'RateLimited',
          action: 'fallback: another provider has its own quota',
        },
        { modelId: 'b/y', provider: 'b', outcome: 'success' },
      ],
    );
    expect(lines).toEqual([
      'a/x attempt 1: 429 RateLimited → retry',
      'a/x attempt 2: 429 RateLimited → fallback',
      'b/y attempt 1: success in 5 ms',
    ]);
  });
});

describe('fitsNoWindow: a request that fits no model is the client fault context_length_exceeded', () => {
  it('when every model that could serve it was removed for its window', () => {
    expect(
      fitsNoWindow([
        { filter: 'context-window' },
        { filter: 'capability' }, // an embeddings model was never a candidate
      ]),
    ).toBe(true);
  });
  it('not when a model fit and was removed for something else, nor without a window rejection', () => {
    expect(fitsNoWindow([{ filter: 'context-window' }, { filter: 'residency' }])).toBe(false);
    expect(fitsNoWindow([{ filter: 'breaker-open' }])).toBe(false);
    expect(fitsNoWindow([])).toBe(false);
  });
  it('names the largest window and the tokens needed', () => {
    expect(
      contextLengthMessage(
        [
          { modelId: 'a/small', contextWindow: 8_000, neededTokens: 21_000 },
          { modelId: 'b/large', contextWindow: 16_000, neededTokens: 21_000 },
        ],
        20_000,
      ),
    ).toMatch(/^The prompt has 20000 tokens \(21000 with room for the output\), .* 16000 tokens \(b\/large\)/);
  });
});
