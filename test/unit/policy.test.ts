import fc from 'fast-check';
import { validateConfig } from '../../src/services/configStore';
import { CatalogSchema, findModel, type Model } from '../../src/domain/catalog';
import { classify, type Classification } from '../../src/domain/classify';
import { COMPLIANCE_TAGS, REGIONS, type SwitchyardConfig, type SwitchyardConfigInput } from '../../src/domain/config';
import { reservationUsd } from '../../src/domain/budget';
import {
  decide,
  estimateCost,
  FILTERS,
  UnknownModelError,
  type PolicyInput,
  type RouteContext,
} from '../../src/domain/policy';
import { candidateIds, loadSeedPolicy, policyInput } from '../support/policy';

const seed = validateConfig(loadSeedPolicy());
const hello = classify({
  operation: 'chat',
  messages: [{ role: 'user', content: 'Hello, can you help me with my homework?' }],
});
const input = policyInput;
const chain = candidateIds;
const withConfig = (changes: Partial<SwitchyardConfigInput>): SwitchyardConfig =>
  validateConfig({ ...seed, ...changes });

describe('the seeds as policy (fixture test/fixtures/seed-policy.yaml)', () => {
  it('mathematics → Claude then GPT-4', () => {
    const d = decide(input({ subject: 'MATHEMATICS' }), hello, seed);
    expect(chain(d).slice(0, 2)).toEqual(['anthropic/claude-sonnet-4-5', 'openai/gpt-4o']);
    expect(d.rule).toMatchObject({ id: 'mathematics' });
  });

  it("a tenant's own rule applies to that tenant's requests only", () => {
    const rules = seed.rules.map((r) => (r.id === 'mathematics' ? { ...r, tenantId: 'school-a' } : r));
    const scoped = withConfig({ rules });
    expect(decide(input({ subject: 'MATHEMATICS', tenantId: 'school-a' }), hello, scoped).rule).toMatchObject({
      id: 'mathematics',
    });
    expect(decide(input({ subject: 'MATHEMATICS', tenantId: 'school-b' }), hello, scoped).rule?.id).not.toBe(
      'mathematics',
    );
  });

  it('language arts → GPT-4 then Claude', () => {
    expect(chain(decide(input({ subject: 'language arts' }), hello, seed)).slice(0, 2)).toEqual([
      'openai/gpt-4o',
      'anthropic/claude-sonnet-4-5',
    ]);
  });

  it("a teacher's override wins over the subject rule, until it expires", () => {
    const d = decide(input({ subject: 'mathematics', userId: 'teacher_456' }), hello, seed);
    expect(d.candidates[0]).toMatchObject({ modelId: 'openai/gpt-4o-mini', step: 'override' });
    expect(d.override).toMatchObject({ id: 'teacher-456', scope: 'user' });
    expect(d.rule).toBeUndefined();
    // Same teacher in another tenant: not theirs.
    expect(
      decide(input({ tenantId: 'other', subject: 'mathematics', userId: 'teacher_456' }), hello, seed).override,
    ).toBeUndefined();
    // After expiry, the rule decides again.
    const later = decide(
      input({ subject: 'mathematics', userId: 'teacher_456' }, { now: '2031-01-01T00:00:00Z' }),
      hello,
      seed,
    );
    expect(later.candidates[0]!.modelId).toBe('anthropic/claude-sonnet-4-5');
  });

  it('overrides are most specific first: user > workspace > tenant', () => {
    const cfg = withConfig({
      overrides: [
        { id: 't', scope: 'tenant', subject: 'district-7', model: 'anthropic/claude-3-5-haiku-latest' },
        { id: 'w', scope: 'workspace', subject: 'ws-1', tenantId: 'district-7', model: 'openai/gpt-4o' },
        { id: 'u', scope: 'user', subject: 'u-1', tenantId: 'district-7', model: 'openai/gpt-4o-mini' },
      ],
    });
    expect(decide(input({ userId: 'u-1', workspaceId: 'ws-1' }), hello, cfg).override!.id).toBe('u');
    expect(decide(input({ userId: 'u-2', workspaceId: 'ws-1' }), hello, cfg).override!.id).toBe('w');
    expect(decide(input({ userId: 'u-2' }), hello, cfg).override!.id).toBe('t');
  });

  it('an EU-resident tenant never reaches a non-EU endpoint, whatever the rules and overrides say', () => {
    const d = decide(input({ tenantId: 'eu-school', subject: 'mathematics' }), hello, seed);
    expect(d.candidates.length).toBeGreaterThan(0);
    for (const c of d.candidates) expect(findModel(seed.catalog, c.modelId)!.regions).toContain('EU');
    expect(
      d.rejected
        .filter((r) => r.filter === 'residency')
        .map((r) => r.modelId)
        .sort(),
    ).toEqual(['anthropic/claude-3-5-haiku-latest', 'openai/gpt-4o-mini']);
    // A request cannot widen its tenant's residency.
    const widened = decide(input({ tenantId: 'eu-school', region: 'US' }), hello, seed);
    for (const c of widened.candidates) expect(findModel(seed.catalog, c.modelId)!.regions).toContain('EU');
  });

  it('creative agents split 70/30 between Claude and GPT-4, and a sticky split keeps a user on one side', () => {
    let claude = 0;
    const n = 2000;
    for (let i = 0; i < n; i++)
      if (
        decide(input({ agentType: 'creative' }, { requestId: `r-${i}` }), hello, seed).candidates[0]!.modelId ===
        'anthropic/claude-sonnet-4-5'
      )
        claude++;
    expect(claude / n).toBeGreaterThan(0.66);
    expect(claude / n).toBeLessThan(0.74);

    const sticky = withConfig({
      rules: seed.rules.map((r) => (r.id === 'creative-agents' ? { ...r, sticky: true } : r)),
    });
    for (const user of ['ada', 'grace', 'alan', 'barbara']) {
      const picks = new Set(
        Array.from(
          { length: 20 },
          (_, i) =>
            decide(input({ agentType: 'creative', userId: user }, { requestId: `r-${i}` }), hello, sticky)
              .candidates[0]!.modelId,
        ),
      );
      expect(picks.size).toBe(1);
    }
  });
});

describe('filters, strategies and the fallback chain', () => {
  it('names every filter that removed every model when nothing is left', () => {
    const d = decide(input({ region: 'APAC' }), hello, seed);
    expect(d.candidates).toEqual([]);
    expect(d.rejected).toHaveLength(seed.catalog.models.length);
    expect(d.summary).toMatch(/residency removed/);
  });

  it('applies compliance, exclusions, cost caps and allow-lists', () => {
    const hipaa = decide(input({ compliance: ['hipaa'] }), hello, seed);
    expect(chain(hipaa)).toEqual(['anthropic/claude-sonnet-4-5']);
    const noAnthropic = decide(input({ excludeProviders: ['anthropic'] }), hello, seed);
    expect(chain(noAnthropic).some((id) => id.startsWith('anthropic/'))).toBe(false);
    const capped = decide(input({ maxCostUsd: 0.001 }), hello, seed);
    for (const c of capped.candidates) expect(c.estimatedCostUsd).toBeLessThanOrEqual(0.001);
    expect(capped.rejected.some((r) => r.filter === 'cost-cap')).toBe(true);
    const tenantLimited = withConfig({
      tenants: { 'district-7': { allowedModels: ['openai/gpt-4o-mini'], workspaces: { lab: { allowedModels: [] } } } },
    });
    expect(chain(decide(input(), hello, tenantLimited))).toEqual(['openai/gpt-4o-mini']);
    expect(
      decide(input({ workspaceId: 'lab' }), hello, tenantLimited).rejected.find(
        (r) => r.modelId === 'openai/gpt-4o-mini',
      )!.filter,
    ).toBe('workspace-allowlist');
  });

  it('ranks by the chosen strategy', () => {
    const first = (strategy: RouteContext['strategy']) =>
      decide(input({ strategy }), hello, seed).candidates[0]!.modelId;
    expect(first('cost')).toBe('openai/gpt-4o-mini');
    expect(first('latency')).toBe('openai/gpt-4o-mini');
    expect(['openai/gpt-4o', 'anthropic/claude-sonnet-4-5']).toContain(first('quality'));
    const rr = new Set(
      Array.from(
        { length: 200 },
        (_, i) =>
          decide(input({ strategy: 'round-robin' }, { requestId: `rr-${i}` }), hello, seed).candidates[0]!.modelId,
      ),
    );
    expect(rr.size).toBe(seed.catalog.models.length);
  });

  it('auto strategy follows complexity: cheapest for simple, strongest for complex', () => {
    const complex = classify({
      operation: 'chat',
      messages: [{ role: 'user', content: 'Design a distributed system architecture step by step, in detail' }],
    });
    expect(decide(input(), hello, seed).strategy).toBe('cost');
    expect(decide(input(), complex, seed).strategy).toBe('quality');
  });

  it('budget: a model whose worst case does not fit the remaining budget or the per-request limit is filtered; near the limit, cheaper first', () => {
    const quality = input({ strategy: 'quality' });
    const free = decide(quality, hello, seed, {}, { remainingUsd: 100, nearLimit: false });
    const top = findModel(seed.catalog, free.candidates[0]!.modelId)!;
    const cheapest = findModel(seed.catalog, decide(input({ strategy: 'cost' }), hello, seed).candidates[0]!.modelId)!;
    const reserveOf = (m: Model) => reservationUsd(m, hello.inputTokens, 512);
    expect(reserveOf(top)).toBeGreaterThan(reserveOf(cheapest));

    // Just below the strongest model's worst case: it is filtered by 'budget', something cheaper leads.
    const tight = decide(quality, hello, seed, {}, { remainingUsd: reserveOf(top) * 0.999 });
    expect(tight.rejected).toContainEqual(
      expect.objectContaining({ modelId: top.id, filter: 'budget', reason: expect.stringMatching(/remaining budget/) }),
    );
    expect(
      tight.candidates.every((c) => reserveOf(findModel(seed.catalog, c.modelId)!) <= reserveOf(top) * 0.999),
    ).toBe(true);

    // Near the limit (past the alert threshold) with room for every model: the cheapest leads anyway.
    const near = decide(quality, hello, seed, {}, { remainingUsd: 100, nearLimit: true });
    expect(near.strategy).toBe('cost');
    expect(near.candidates[0]!.modelId).toBe(cheapest.id);
    expect(near.notes.join(' ')).toMatch(/budget near its limit/);

    // Nothing fits: every model removed by the budget filter, no candidate.
    const none = decide(quality, hello, seed, {}, { remainingUsd: reserveOf(cheapest) / 2 });
    expect(none.candidates).toEqual([]);
    expect(none.rejected.some((r) => r.filter === 'budget')).toBe(true);
    const perRequest = decide(quality, hello, seed, {}, { perRequestUsd: reserveOf(cheapest) / 2 });
    expect(perRequest.candidates).toEqual([]);
    expect(perRequest.rejected.find((r) => r.filter === 'budget')!.reason).toMatch(/per-request limit/);
  });

  it('diversifies the fallback chain across providers, at most maxCandidates long', () => {
    const d = decide(input({ strategy: 'cost' }), hello, seed);
    expect(d.candidates).toHaveLength(3);
    expect(new Set(d.candidates.map((c) => c.provider)).size).toBe(3);
  });

  it('routes an explicitly requested model first, or as auto when a filter removes it', () => {
    expect(decide(input({}, { requestedModel: 'mistral/mistral-large' }), hello, seed).candidates[0]).toMatchObject({
      modelId: 'mistral/mistral-large',
      step: 'requested',
    });
    const eu = decide(input({ region: 'EU' }, { requestedModel: 'openai/gpt-4o-mini' }), hello, seed);
    expect(eu.candidates[0]!.modelId).not.toBe('openai/gpt-4o-mini');
    expect(eu.notes.join()).toMatch(/removed by residency/);
    expect(() => decide(input({}, { requestedModel: 'gpt-9' }), hello, seed)).toThrow(UnknownModelError);
  });

  it('removes models whose breaker is open', () => {
    const d = decide(input({ strategy: 'cost' }), hello, seed, {
      blocked: {
        'openai/gpt-4o-mini': { until: '2026-11-22T00:01:00Z', why: 'breaker open until 2026-11-22T00:01:00Z' },
      },
    });
    expect(chain(d)).not.toContain('openai/gpt-4o-mini');
    expect(d.rejected.find((r) => r.modelId === 'openai/gpt-4o-mini')).toMatchObject({
      filter: 'breaker-open',
      reason: 'breaker open until 2026-11-22T00:01:00Z',
    });
    expect(d.retryAt).toBeUndefined();
    // Every model cooling down: no candidate, and when to try again.
    const all = Object.fromEntries(
      seed.catalog.models.map((m, i) => [m.id, { until: `2026-11-22T00:0${i + 1}:00Z`, why: 'breaker open' }]),
    );
    const none = decide(input(), hello, seed, { blocked: all });
    expect(none.candidates).toEqual([]);
    expect(none.retryAt).toBe('2026-11-22T00:01:00Z');
  });
});

// ---- properties over generated catalogs and requests ----

const regionArb = fc.constantFrom(...REGIONS);
const tagArb = fc.constantFrom(...COMPLIANCE_TAGS);
const modelArb = (provider: string, i: number) =>
  fc
    .record({
      regions: fc.uniqueArray(regionArb, { minLength: 1, maxLength: 4 }),
      compliance: fc.uniqueArray(tagArb, { maxLength: 3 }),
      contextWindow: fc.integer({ min: 500, max: 200_000 }),
      maxOutputTokens: fc.integer({ min: 1, max: 8_000 }),
      inputPricePerMTok: fc.double({ min: 0, max: 20, noNaN: true }),
      outputPricePerMTok: fc.double({ min: 0, max: 60, noNaN: true }),
      qualityTier: fc.integer({ min: 1, max: 5 }),
      typicalLatencyMs: fc.integer({ min: 50, max: 5_000 }),
      weight: fc.double({ min: 0.1, max: 10, noNaN: true }),
      status: fc.constantFrom('active', 'active', 'inactive'),
      capabilities: fc.constantFrom<Model['capabilities']>(
        ['chat'],
        ['chat', 'json'],
        ['embeddings'],
        ['chat', 'json', 'tools'],
      ),
    })
    .map((m) => ({ ...m, id: `${provider}/m${i}`, provider, model: `m${i}` }));

const configArb = fc
  .array(fc.constantFrom('p1', 'p2', 'p3', 'p4'), { minLength: 1, maxLength: 8 })
  .chain((providers) => fc.tuple(...providers.map((p: string, i) => modelArb(p, i))))
  .chain((models) => {
    const ids = models.map((m) => m.id);
    return fc.record({
      models: fc.constant(models),
      rules: fc.array(
        fc.record({
          id: fc.uuid(),
          when: fc.array(
            fc.record({
              field: fc.constantFrom('subject', 'agentType', 'complexity'),
              op: fc.constant('eq' as const),
              value: fc.constantFrom('math', 'creative', 'simple'),
            }),
            { maxLength: 2 },
          ),
          targets: fc.uniqueArray(fc.constantFrom(...ids), { minLength: 1, maxLength: 3 }).chain((ts) =>
            fc.tuple(
              ...ts.map((t) =>
                fc.record({
                  model: fc.constant(t),
                  weight: fc.option(fc.double({ min: 0.1, max: 5, noNaN: true }), { nil: undefined }),
                }),
              ),
            ),
          ),
          sticky: fc.boolean(),
        }),
        { maxLength: 3 },
      ),
      overrides: fc.array(
        fc.record({
          id: fc.uuid(),
          scope: fc.constant('tenant' as const),
          subject: fc.constant('t1'),
          model: fc.constantFrom(...ids),
        }),
        { maxLength: 1 },
      ),
      tenantRegion: fc.option(regionArb, { nil: undefined }),
    });
  })
  .map(({ models, rules, overrides, tenantRegion }) =>
    validateConfig({
      catalog: CatalogSchema.parse({
        providers: [...new Set<string>(models.map((m) => m.provider))].map((id) => ({ id, wireFormat: 'openai' })),
        models,
      }),
      rules: rules.map((r) => ({
        ...r,
        targets: r.targets.map((t) => (t.weight === undefined ? { model: t.model } : t)),
      })),
      overrides,
      tenants: tenantRegion ? { t1: { region: tenantRegion } } : {},
    }),
  );

const contextArb = fc.record({
  tenantId: fc.constantFrom('t1', 't2'),
  userId: fc.option(fc.constantFrom('u1', 'u2'), { nil: undefined }),
  region: fc.option(regionArb, { nil: undefined }),
  compliance: fc.uniqueArray(tagArb, { maxLength: 2 }),
  excludeProviders: fc.uniqueArray(fc.constantFrom('p1', 'p2', 'p3', 'p4'), { maxLength: 2 }),
  maxCostUsd: fc.option(fc.double({ min: 0.000001, max: 1, noNaN: true }), { nil: undefined }),
  subject: fc.option(fc.constantFrom('math', 'history'), { nil: undefined }),
  agentType: fc.option(fc.constantFrom('creative', 'support'), { nil: undefined }),
  strategy: fc.option(fc.constantFrom('auto', 'cost', 'quality', 'balanced', 'latency', 'round-robin'), {
    nil: undefined,
  }),
  metadata: fc.constant({}),
});

const classificationArb = fc
  .record({
    inputTokens: fc.integer({ min: 1, max: 150_000 }),
    complexity: fc.constantFrom('simple', 'medium', 'complex'),
  })
  .map(({ inputTokens, complexity }): Classification => ({
    operation: 'chat',
    taskType: 'chat',
    complexity,
    inputTokens,
    requiredContext: inputTokens + 512,
    signals: [],
  }));

describe('decide: properties over generated catalogs and requests', () => {
  it('never violates residency or compliance, every candidate passes every hard filter, every rejection has a reason, and it is deterministic', () => {
    fc.assert(
      fc.property(
        configArb,
        contextArb,
        classificationArb,
        fc.boolean(),
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.nat(),
        (config, context, c, embeddings, requestId, pick) => {
          const models = config.catalog.models;
          const requested = pick % 3 === 0 ? models[pick % models.length]!.id : 'auto';
          const inp: PolicyInput = {
            requestId,
            requestedModel: requested,
            operation: embeddings ? 'embed' : 'chat',
            capability: embeddings ? 'embeddings' : 'chat',
            maxOutputTokens: 512,
            needsJson: false,
            context,
            now: '2026-01-01T00:00:00Z',
          };
          const d = decide(inp, c, config);
          const region = config.tenants[context.tenantId]?.region ?? context.region;
          const excluded = new Set<string>(context.excludeProviders);
          for (const cand of d.candidates) {
            const m = findModel(config.catalog, cand.modelId)!;
            if (region) expect(m.regions).toContain(region);
            for (const tag of context.compliance) expect(m.compliance).toContain(tag);
            expect(m.status).toBe('active');
            expect(m.capabilities).toContain(inp.capability);
            expect(excluded.has(m.provider)).toBe(false);
            const needed = c.inputTokens + (embeddings ? 0 : Math.min(512, m.maxOutputTokens));
            expect(needed).toBeLessThanOrEqual(m.contextWindow);
            if (context.maxCostUsd !== undefined)
              expect(estimateCost(m, c.inputTokens, 512, inp.capability)).toBeLessThanOrEqual(context.maxCostUsd);
            expect(d.rejected.some((r) => r.modelId === cand.modelId)).toBe(false);
          }
          for (const r of d.rejected) {
            expect(FILTERS).toContain(r.filter);
            expect(r.reason.length).toBeGreaterThan(0);
          }
          expect(d.candidates.length).toBeLessThanOrEqual(config.fallback.maxCandidates);
          expect(new Set(chain(d)).size).toBe(d.candidates.length);
          expect(decide(inp, c, config)).toEqual(d);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('no substitution: a named model alone', () => {
  it('by default a named model a filter removes is routed as auto (substituted)', () => {
    const d = decide(input({ tenantId: 'eu-school' }, { requestedModel: 'openai/gpt-4o-mini' }), hello, seed);
    expect(d.candidates.length).toBeGreaterThan(0);
    expect(chain(d)).not.toContain('openai/gpt-4o-mini');
    expect(d.substitution).toBeUndefined();
  });

  it('strict: the chain is the named model only, whatever rules and fallbacks say, and the decision records it', () => {
    const d = decide(
      input({ subject: 'mathematics', substitution: 'none' }, { requestedModel: 'openai/gpt-4o' }),
      hello,
      seed,
    );
    expect(chain(d)).toEqual(['openai/gpt-4o']);
    expect(d.rule).toBeUndefined();
    expect(d.substitution).toEqual({ mode: 'none', source: 'request', modelId: 'openai/gpt-4o' });
    expect(d.notes).toEqual(['substitution none (the request): only openai/gpt-4o may answer']);
  });

  it('strict and filtered out: no candidate at all, the note says which filter', () => {
    const d = decide(
      input({ tenantId: 'eu-school', substitution: 'none' }, { requestedModel: 'openai/gpt-4o-mini' }),
      hello,
      seed,
    );
    expect(d.candidates).toEqual([]);
    expect(d.notes[1]).toMatch(/^requested openai\/gpt-4o-mini removed by residency \(.*\); not substituted$/);
    expect(d.summary).toMatch(/^no candidate left: openai\/gpt-4o-mini removed by residency/);
  });

  it("a tenant's default applies to its named requests; the request's own choice wins; auto is unaffected", () => {
    const cfg = withConfig({ tenants: { ...seed.tenants, 'district-7': { substitution: 'none' } } });
    const named = decide(input({}, { requestedModel: 'openai/gpt-4o' }), hello, cfg);
    expect(chain(named)).toEqual(['openai/gpt-4o']);
    expect(named.substitution).toMatchObject({ source: 'tenant' });
    const allowed = decide(input({ substitution: 'allowed' }, { requestedModel: 'openai/gpt-4o' }), hello, cfg);
    expect(chain(allowed).length).toBeGreaterThan(1);
    expect(allowed.substitution).toBeUndefined();
    const auto = decide(input({ substitution: 'none' }), hello, cfg);
    expect(chain(auto).length).toBeGreaterThan(1);
    expect(auto.substitution).toBeUndefined();
  });
});
