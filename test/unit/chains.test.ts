/**
 * Explicit fallback chains in the routing policy (issue 29, item 5): a named model's chain from
 * the request (`models`), the configuration (`fallback.chains`) or the catalog model
 * (`fallbacks`), each member still passing the filters; rules and overrides that apply to named
 * models; strict mode unchanged; unknown ids refused with the field or path that named them.
 */
import { ConfigValidationError, validateConfig } from '../../src/services/configStore';
import { classify } from '../../src/domain/classify';
import type { SwitchyardConfig, SwitchyardConfigInput } from '../../src/domain/config';
import { decide, UnknownModelError } from '../../src/domain/policy';
import { candidateIds, loadSeedPolicy, policyInput } from '../support/policy';

const seedInput = loadSeedPolicy();
const seed = validateConfig(seedInput);
const hello = classify({ operation: 'chat', messages: [{ role: 'user', content: 'Hello, can you help me?' }] });
const input = policyInput;
const ids = candidateIds;
const withConfig = (changes: Partial<SwitchyardConfigInput>): SwitchyardConfig =>
  validateConfig({ ...seedInput, ...changes });
/** The seed with `fallbacks` on one catalog model. */
const withCatalogChain = (modelId: string, fallbacks: string[]): SwitchyardConfig =>
  withConfig({
    catalog: {
      ...seedInput.catalog,
      models: seedInput.catalog.models.map((m) => (m.id === modelId ? { ...m, fallbacks } : m)),
    },
  });
const fallbackOf = (chains: Record<string, string[]>) => ({ fallback: { ...seed.fallback, chains } });

const GPT4O = 'openai/gpt-4o';
const MINI = 'openai/gpt-4o-mini';
const SONNET = 'anthropic/claude-sonnet-4-5';
const HAIKU = 'anthropic/claude-3-5-haiku-latest';
const MISTRAL = 'mistral/mistral-large';

describe('a named model with an explicit chain', () => {
  it('catalog fallbacks: the named model, then exactly its chain in order (no strategy fallbacks, not capped)', () => {
    const cfg = withCatalogChain(GPT4O, [HAIKU, MINI, SONNET]);
    const d = decide(input({}, { requestedModel: GPT4O }), hello, cfg);
    expect(ids(d)).toEqual([GPT4O, HAIKU, MINI, SONNET]);
    expect(cfg.fallback.maxCandidates).toBe(3);
    expect(d.candidates.map((c) => c.step)).toEqual(['requested', 'chain', 'chain', 'chain']);
    expect(d.candidates[1]!.reason).toBe('catalog fallback chain, position 1');
    expect(d.chain).toEqual({ source: 'catalog', models: [HAIKU, MINI, SONNET], skipped: [] });
  });

  it("the configuration's chain wins over the catalog's, the request's over both", () => {
    const cfg = withConfig({
      ...fallbackOf({ [GPT4O]: [SONNET] }),
      catalog: {
        ...seedInput.catalog,
        models: seedInput.catalog.models.map((m) => (m.id === GPT4O ? { ...m, fallbacks: [HAIKU] } : m)),
      },
    });
    const configured = decide(input({}, { requestedModel: GPT4O }), hello, cfg);
    expect(ids(configured)).toEqual([GPT4O, SONNET]);
    expect(configured.chain?.source).toBe('config');
    // OpenRouter's `models` often repeats the named model first: it is not tried twice.
    const requested = decide(input({}, { requestedModel: 'gpt-4o', fallbacks: [GPT4O, 'gpt-4o-mini'] }), hello, cfg);
    expect(ids(requested)).toEqual([GPT4O, MINI]);
    expect(requested.chain).toEqual({ source: 'request', models: [MINI], skipped: [] });
  });

  it('a chain member a filter removes is skipped, with its filter and reason in the decision', () => {
    const cfg = withConfig(fallbackOf({ [GPT4O]: [HAIKU, MISTRAL] }));
    // eu-school keeps data in the EU: haiku serves the US only.
    const d = decide(input({ tenantId: 'eu-school' }, { requestedModel: GPT4O }), hello, cfg);
    expect(ids(d)).toEqual([GPT4O, MISTRAL]);
    expect(d.chain!.skipped).toEqual([{ modelId: HAIKU, filter: 'residency', reason: expect.stringMatching(/EU/) }]);
    expect(d.notes).toContainEqual(
      expect.stringMatching(/^fallback chain: skipped anthropic\/claude-3-5-haiku-latest \(residency/),
    );
    // An open breaker is a filter like the others.
    const open = decide(input({}, { requestedModel: GPT4O }), hello, cfg, {
      blocked: { [HAIKU]: { until: '2030-01-01T00:00:00Z', why: 'breaker open after 5 failures' } },
    });
    expect(ids(open)).toEqual([GPT4O, MISTRAL]);
    expect(open.chain!.skipped).toEqual([
      { modelId: HAIKU, filter: 'breaker-open', reason: 'breaker open after 5 failures' },
    ]);
  });

  it('the named model filtered out: its chain stands in (not the strategy), and the note says so', () => {
    const cfg = withConfig(fallbackOf({ [MINI]: [MISTRAL] }));
    const d = decide(input({ tenantId: 'eu-school' }, { requestedModel: MINI }), hello, cfg);
    expect(ids(d)).toEqual([MISTRAL]);
    expect(d.notes).toContainEqual(
      expect.stringMatching(/^requested openai\/gpt-4o-mini removed by residency .*; its fallback chain follows$/),
    );
    // Nothing of the chain left: no candidate, rather than models nobody listed.
    const none = decide(input({ tenantId: 'eu-school' }, { requestedModel: MINI, fallbacks: [HAIKU] }), hello, cfg);
    expect(ids(none)).toEqual([]);
    expect(none.summary).toMatch(/^no candidate left/);
  });

  it('without a chain a named model keeps the strategy fallbacks; auto ignores chains', () => {
    const cfg = withConfig(fallbackOf({ [GPT4O]: [HAIKU] }));
    const other = decide(input({}, { requestedModel: SONNET }), hello, cfg);
    expect(other.chain).toBeUndefined();
    expect(ids(other)).toHaveLength(3);
    const auto = decide(input(), hello, cfg);
    expect(auto.chain).toBeUndefined();
  });

  it('strict mode: the named model alone, the request chain unused (and said so)', () => {
    const cfg = withConfig(fallbackOf({ [GPT4O]: [HAIKU] }));
    const d = decide(input({ substitution: 'none' }, { requestedModel: GPT4O, fallbacks: [SONNET] }), hello, cfg);
    expect(ids(d)).toEqual([GPT4O]);
    expect(d.chain).toBeUndefined();
    expect(d.notes).toContain("the request's fallback chain (models) is not used: substitution none");
  });

  it("an unknown model in the request's chain is refused naming its position", () => {
    let err: unknown;
    try {
      decide(input({}, { requestedModel: GPT4O, fallbacks: [SONNET, 'oa/nope'] }), hello, seed);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownModelError);
    expect((err as UnknownModelError).param).toBe('models[1]');
  });
});

describe('rules and overrides that apply to named models', () => {
  const redirect = {
    id: 'gpt4o-to-claude',
    when: [{ field: 'requestedModel' as const, op: 'eq' as const, value: GPT4O }],
    targets: [{ model: SONNET }],
  };

  it('by default a rule applies to auto only, as before', () => {
    const d = decide(input({}, { requestedModel: GPT4O }), hello, withConfig({ rules: [redirect] }));
    expect(d.rule).toBeUndefined();
    expect(ids(d)[0]).toBe(GPT4O);
  });

  it('appliesTo named: its targets lead, the named model follows, then its chain; the decision names the rule', () => {
    const cfg = withConfig({ rules: [{ ...redirect, appliesTo: 'named' }], ...fallbackOf({ [GPT4O]: [HAIKU] }) });
    // Spelled by its bare name: rules read the catalog id.
    const d = decide(input({}, { requestedModel: 'gpt-4o' }), hello, cfg);
    expect(ids(d)).toEqual([SONNET, GPT4O, HAIKU]);
    expect(d.rule).toEqual({ id: 'gpt4o-to-claude' });
    expect(d.notes).toContain('requested openai/gpt-4o follows rule gpt4o-to-claude (it applies to named models)');
    // A rule for named models leaves auto alone.
    expect(decide(input(), hello, cfg).rule).toBeUndefined();
  });

  it('a rule may pin a named model its fallback (the workaround issue 29 names, done directly)', () => {
    const pin = {
      id: 'pin',
      appliesTo: 'named' as const,
      when: redirect.when,
      targets: [{ model: GPT4O }, { model: MISTRAL }],
    };
    const d = decide(input({}, { requestedModel: GPT4O }), hello, withConfig({ rules: [pin] }));
    expect(ids(d).slice(0, 2)).toEqual([GPT4O, MISTRAL]);
  });

  it('an override with appliesTo any pins a named request too', () => {
    const overrides = [
      {
        id: 'u1',
        scope: 'user' as const,
        subject: 'teacher_9',
        tenantId: 'district-7',
        model: HAIKU,
        appliesTo: 'any' as const,
      },
    ];
    const d = decide(input({ userId: 'teacher_9' }, { requestedModel: GPT4O }), hello, withConfig({ overrides }));
    expect(ids(d).slice(0, 2)).toEqual([HAIKU, GPT4O]);
    expect(d.override).toMatchObject({ id: 'u1' });
    // The seed's override (no appliesTo) still leaves named requests alone.
    const seedUser = decide(input({ userId: 'teacher_456' }, { requestedModel: GPT4O }), hello, seed);
    expect(seedUser.override).toBeUndefined();
  });
});

describe('validation of configured chains', () => {
  const issues = (changes: Partial<SwitchyardConfigInput>) => {
    try {
      withConfig(changes);
    } catch (e) {
      if (e instanceof ConfigValidationError) return e.issues.map((i) => `${i.path}: ${i.message}`);
      throw e;
    }
    return [];
  };

  it('an unknown model in fallback.chains names its path', () => {
    expect(issues(fallbackOf({ [GPT4O]: [SONNET, 'oa/nope'] }))).toEqual([
      "fallback.chains.openai/gpt-4o.1: unknown model 'oa/nope'",
    ]);
    expect(issues(fallbackOf({ 'oa/nope': [SONNET] }))).toEqual(["fallback.chains.oa/nope: unknown model 'oa/nope'"]);
    expect(issues(fallbackOf({ [GPT4O]: [GPT4O] }))).toEqual([
      "fallback.chains.openai/gpt-4o.0: 'openai/gpt-4o' cannot be its own fallback",
    ]);
  });

  it("an unknown model in a catalog model's fallbacks names its path", () => {
    const models = seedInput.catalog.models.map((m, i) => (i === 0 ? { ...m, fallbacks: ['nope/x'] } : m));
    expect(issues({ catalog: { ...seedInput.catalog, models } })).toEqual([
      "catalog.models.0.fallbacks.0: unknown model 'nope/x'",
    ]);
  });
});
