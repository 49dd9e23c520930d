import {
  contextLengthMessage,
  fitsNoWindow,
  afterFailure,
  describeAttempts,
  initialFallbackState,
  routeEnding,
  routeFailureMessage,
  skipReason,
  type RouteFailureFacts,
} from '../../src/domain/fallback';
import { DEFAULT_SETTINGS, callPolicyFor } from '../../src/domain/settings';
import type { WindowState } from '../../src/domain/budget';
import type { CandidateOutcome, RoutedCandidate } from '../../src/domain/request';

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

describe('routeFailureMessage: the wording of each ending, as routeRequest has always sent it', () => {
  const err = (modelId: string, errorType: string, message?: string): CandidateOutcome => ({
    modelId,
    provider: modelId.split('/')[0]!,
    outcome: 'error',
    errorType,
    ...(message !== undefined && { message }),
  });
  const window: WindowState = {
    scope: 'tenant:acme',
    period: 'daily',
    windowStart: '2026-01-01T00:00:00.000Z',
    resetsAt: '2026-01-02T00:00:00.000Z',
    limitUsd: 5,
    spentUsd: 4.99,
    reservedUsd: 0,
    remainingUsd: 0.0100004,
  };
  const facts = (f: Partial<RouteFailureFacts> & Pick<RouteFailureFacts, 'errorType'>): RouteFailureFacts => ({
    plan: { candidates: [cand('a/x', 8000, 2), cand('b/y', 8000, 2)], rejected: [] },
    outcomes: [],
    state: initialFallbackState(),
    inputTokens: 1234,
    latencyMs: 250,
    ...f,
  });

  it('NoCandidate lists every rejection with its reason', () => {
    const plan = {
      candidates: [],
      rejected: [
        { modelId: 'a/x', filter: 'residency' as const, reason: 'not in eu' },
        { modelId: 'b/y', filter: 'breaker-open' as const, reason: 'breaker open' },
      ],
    };
    expect(routeFailureMessage(facts({ errorType: 'NoCandidate', plan }))).toBe(
      'No model can serve this request: a/x: not in eu; b/y: breaker open',
    );
    expect(routeFailureMessage(facts({ errorType: 'NoCandidate', plan: { candidates: [], rejected: [] } }))).toBe(
      'No model can serve this request: ',
    );
  });

  it('ContextLengthExceeded names the largest window among the context-window rejections only', () => {
    const plan = {
      candidates: [],
      rejected: [
        {
          modelId: 'a/small',
          filter: 'context-window' as const,
          reason: 'w',
          contextWindow: 8_000,
          neededTokens: 9_000,
        },
        { modelId: 'c/embed', filter: 'capability' as const, reason: 'c', contextWindow: 99_999 },
        {
          modelId: 'b/big',
          filter: 'context-window' as const,
          reason: 'w',
          contextWindow: 16_000,
          neededTokens: 9_000,
        },
      ],
    };
    expect(routeFailureMessage(facts({ errorType: 'ContextLengthExceeded', plan, inputTokens: 8_500 }))).toBe(
      'The prompt has 8500 tokens (9000 with room for the output), more than the largest context window of any model, 16000 tokens (b/big). Shorten the prompt or lower max_tokens.',
    );
    // Every model tried overflowed (no window known too small): the providers' own words, not "0 tokens (none)".
    expect(
      routeFailureMessage(
        facts({
          errorType: 'ContextLengthExceeded',
          inputTokens: 70,
          outcomes: [
            err('a/x', 'ContextLengthExceeded', 'a/x 400: prompt is too long'),
            { ...err('b/y', ''), outcome: 'skipped' } as never,
          ],
        }),
      ),
    ).toBe(
      'Every model tried refused the prompt as too long: a/x: a/x 400: prompt is too long. Shorten the prompt or lower max_tokens.',
    );
  });

  it("BudgetExceeded names the refusing window (else the plan's) and each refusal", () => {
    const where = 'The daily budget of tenant:acme has $0.010000 of $5 left (resets at 2026-01-02T00:00:00.000Z). ';
    // Refused at decision time: the budget rejections, with the plan's window.
    const planned = {
      candidates: [],
      rejected: [
        { modelId: 'a/x', filter: 'budget' as const, reason: 'worst case $0.02' },
        { modelId: 'b/y', filter: 'residency' as const, reason: 'not in eu' },
      ],
      budget: window,
    };
    expect(routeFailureMessage(facts({ errorType: 'BudgetExceeded', plan: planned }))).toBe(
      `${where}No candidate's worst-case cost fits: a/x: worst case $0.02`,
    );
    // Refused at call time: each refusal's message (else its model), with the refusing window first.
    const refused = { ...window, scope: 'user:bo', period: 'monthly' as const, remainingUsd: 0 };
    expect(
      routeFailureMessage(
        facts({
          errorType: 'BudgetExceeded',
          plan: { candidates: [cand('a/x', 8000, 2)], rejected: [], budget: window },
          outcomes: [
            err('a/x', 'BudgetExceeded', 'over by $0.01'),
            err('b/y', 'BudgetExceeded'),
            err('c/z', 'Timeout', 't'),
          ],
          state: { ...initialFallbackState(), refusedWindow: refused },
        }),
      ),
    ).toBe(
      "The monthly budget of user:bo has $0.000000 of $5 left (resets at 2026-01-02T00:00:00.000Z). No candidate's worst-case cost fits: over by $0.01; b/y",
    );
    // No window known: the refusals alone.
    expect(
      routeFailureMessage(facts({ errorType: 'BudgetExceeded', outcomes: [err('a/x', 'BudgetExceeded', 'no room')] })),
    ).toBe("No candidate's worst-case cost fits: no room");
  });

  it('DeadlineExceeded gives the time taken and the last error, if any', () => {
    const stop = { type: 'DeadlineExceeded', httpStatus: 504 };
    expect(
      routeFailureMessage(
        facts({
          errorType: 'DeadlineExceeded',
          latencyMs: 30_001,
          outcomes: [
            err('a/x', 'RateLimited'),
            err('b/y', 'Timeout'),
            { modelId: 'c/z', provider: 'c', outcome: 'skipped' },
          ],
          state: { ...initialFallbackState(), stop },
        }),
      ),
    ).toBe('The request deadline passed after 30001 ms (last error: Timeout).');
    expect(
      routeFailureMessage(
        facts({ errorType: 'DeadlineExceeded', latencyMs: 0, state: { ...initialFallbackState(), stop } }),
      ),
    ).toBe('The request deadline passed after 0 ms.');
  });

  it('a stop passes on the last error\'s message, or "request refused"', () => {
    const stop = { type: 'InvalidRequest', httpStatus: 400 };
    expect(
      routeFailureMessage(
        facts({
          errorType: 'InvalidRequest',
          outcomes: [err('a/x', 'Timeout', 'slow'), err('b/y', 'InvalidRequest', 'messages: required')],
          state: { ...initialFallbackState(), stop },
        }),
      ),
    ).toBe('messages: required');
    expect(
      routeFailureMessage(
        facts({
          errorType: 'ContentFiltered',
          outcomes: [err('a/x', 'ContentFiltered')],
          state: { ...initialFallbackState(), stop },
        }),
      ),
    ).toBe('request refused');
  });

  it("otherwise (escalations exhausted, all failed, all rate limited) lists each candidate's end", () => {
    const outcomes: CandidateOutcome[] = [
      err('a/x', 'InvalidOutput', 'bad json'),
      { modelId: 'b/y', provider: 'b', outcome: 'skipped', action: 'skipped: weaker' },
      err('c/z', 'InvalidOutput', 'bad json again'),
    ];
    const stop = { type: 'EscalationsExhausted', httpStatus: 502 };
    expect(
      routeFailureMessage(
        facts({ errorType: 'EscalationsExhausted', outcomes, state: { ...initialFallbackState(), stop } }),
      ),
    ).toBe('No candidate produced an answer: a/x → InvalidOutput, b/y → skipped, c/z → InvalidOutput');
    expect(
      routeFailureMessage(
        facts({ errorType: 'AllRateLimited', outcomes: [err('a/x', 'RateLimited'), err('b/y', 'RateLimited')] }),
      ),
    ).toBe('No candidate produced an answer: a/x → RateLimited, b/y → RateLimited');
    expect(routeFailureMessage(facts({ errorType: 'AllCandidatesFailed' }))).toBe('No candidate produced an answer: ');
  });
});

describe('a strict request (substitution none): its one model did not answer', () => {
  const strict = { mode: 'none' as const, source: 'request' as const, modelId: 'a/x' };
  const s = initialFallbackState();
  const failedWith = (errorType: string, message = 'why') => [
    { modelId: 'a/x', provider: 'a', outcome: 'error' as const, errorType, message },
  ];
  const tried = { candidates: [cand('a/x', 8000, 2)], rejected: [], substitution: strict };
  const filtered = (filter: 'residency' | 'tenant-allowlist' | 'budget' | 'breaker-open' | 'status') => ({
    candidates: [],
    rejected: [
      { modelId: 'a/x', filter, reason: `a ${filter} reason` },
      { modelId: 'b/y', filter: 'budget' as const, reason: 'another model, not named' },
    ],
    substitution: strict,
  });

  it("ends in ModelUnavailable with the status class of the model's own failure", () => {
    expect(routeEnding(tried, failedWith('AuthFailed'), s)).toEqual({ errorType: 'ModelUnavailable', httpStatus: 503 });
    expect(routeEnding(tried, failedWith('Timeout'), s)).toEqual({ errorType: 'ModelUnavailable', httpStatus: 504 });
    expect(routeEnding(tried, failedWith('RateLimited'), s)).toEqual({
      errorType: 'ModelUnavailable',
      httpStatus: 429,
    });
    expect(routeEnding(tried, failedWith('InvalidOutput'), s)).toEqual({
      errorType: 'ModelUnavailable',
      httpStatus: 502,
    });
    // What the client must change keeps its own ending; a stop (an invalid request) stays a stop.
    expect(routeEnding(tried, failedWith('ContextLengthExceeded'), s)).toEqual({
      errorType: 'ContextLengthExceeded',
      httpStatus: 400,
    });
    expect(routeEnding(tried, failedWith('BudgetExceeded'), s).errorType).toBe('BudgetExceeded');
    expect(
      routeEnding(tried, failedWith('InvalidRequest'), { ...s, stop: { type: 'InvalidRequest', httpStatus: 400 } }),
    ).toEqual({ errorType: 'InvalidRequest', httpStatus: 400 });
  });

  it("ends with the filter's refusal when a filter removed the model (other models' rejections do not count)", () => {
    expect(routeEnding(filtered('residency'), [], s)).toEqual({ errorType: 'ModelUnavailable', httpStatus: 400 });
    expect(routeEnding(filtered('tenant-allowlist'), [], s)).toEqual({
      errorType: 'ModelUnavailable',
      httpStatus: 403,
    });
    expect(routeEnding(filtered('breaker-open'), [], s)).toEqual({ errorType: 'ModelUnavailable', httpStatus: 503 });
    expect(routeEnding(filtered('status'), [], s)).toEqual({ errorType: 'ModelUnavailable', httpStatus: 503 });
    expect(routeEnding(filtered('budget'), [], s)).toEqual({ errorType: 'BudgetExceeded', httpStatus: 429 });
  });

  it('records the failure as a stop: nothing follows the named model', () => {
    const d = afterFailure('AuthFailed', cand('a/x', 8000, 2), s, { ...route, substitution: strict });
    expect(d.action).toBe(
      "stop: substitution none, no other model may answer (else fallback: our key for that provider is wrong, not the client's request)",
    );
    expect(
      describeAttempts(
        [
          {
            candidateIndex: 0,
            attempt: 1,
            provider: 'a',
            model: 'x',
            outcome: 'error',
            errorType: 'AuthFailed',
            status: 401,
            startedAt: '',
            latencyMs: 1,
          },
        ],
        tried,
        [{ modelId: 'a/x', provider: 'a', outcome: 'error', errorType: 'AuthFailed', action: d.action }],
      ),
    ).toEqual(['a/x attempt 1: 401 AuthFailed → stop']);
  });

  it('says which model, why, and why no other answered', () => {
    const facts = (plan: RouteFailureFacts['plan'], outcomes: CandidateOutcome[] = []): RouteFailureFacts => ({
      errorType: 'ModelUnavailable',
      plan,
      outcomes,
      state: s,
      inputTokens: 10,
      latencyMs: 5,
    });
    expect(routeFailureMessage(facts(tried, failedWith('AuthFailed', 'a/x 401: bad key.')))).toBe(
      'The model a/x failed: AuthFailed (a/x 401: bad key). No other model answered: the request asked for no substitution (X-Switchyard-Substitution: none).',
    );
    expect(
      routeFailureMessage(facts({ ...filtered('residency'), substitution: { ...strict, source: 'tenant' } })),
    ).toBe(
      "The model a/x was removed by the residency filter (a residency reason). No other model answered: the tenant's default is no substitution.",
    );
  });
});
