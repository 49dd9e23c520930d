/**
 * The cost–quality dial (issue 23, item 2) and classify() with a trained classifier. The classifier
 * here is a stub with fixed probabilities, written for these tests only: what is under test is how
 * the router reads probabilities, not how a model produces them.
 */
import fc from 'fast-check';
import { validateConfig } from '../../src/services/configStore';
import { findModel } from '../../src/domain/catalog';
import {
  classify,
  ClassificationSchema,
  COMPLEXITIES,
  DEFAULT_OUTPUT_TOKENS,
  type Classification,
  type Classifier,
  type Complexity,
} from '../../src/domain/classify';
import type { SwitchyardConfigInput } from '../../src/domain/config';
import { decide, type PolicyInput, type RouteContext } from '../../src/domain/policy';
import { DEFAULT_QUALITY, dialFor, thresholdsAt, tierAt } from '../../src/domain/policy/dial';
import { replay, type RecordedDecision } from '../../src/domain/replay';
import { loadSeedPolicy, policyInput } from '../support/policy';

const seed = validateConfig(loadSeedPolicy());
const withConfig = (changes: Partial<SwitchyardConfigInput>) => validateConfig({ ...seed, ...changes });
const input = (c: Partial<RouteContext> = {}): PolicyInput =>
  policyInput(c, { requestId: 'req-dial', now: '2026-12-07T00:00:00Z' });

/** A test-only classifier: the same prediction for every text. */
function stubClassifier(version: string, complexity: Record<Complexity, number>): Classifier {
  const label = (Object.entries(complexity) as Array<[Complexity, number]>).sort((a, b) => b[1] - a[1])[0]![0];
  return {
    version,
    predict: () => ({
      version,
      taskType: {
        label: 'math',
        confidence: 0.91,
        probs: {
          code: 0.02,
          math: 0.91,
          summarization: 0.01,
          extraction: 0.01,
          analysis: 0.03,
          writing: 0.01,
          chat: 0.01,
        },
        features: ['w:integral', 'w:prove', 'c:tegr'],
      },
      complexity: { label, confidence: complexity[label], probs: complexity, features: ['w:prove', 'w:bound'] },
    }),
  };
}

const ask = (text: string) => [{ role: 'user' as const, content: text }];
// Borderline: more likely complex than anything else, but not sure of it.
const borderline = classify(
  { operation: 'chat', messages: ask('Prove the bound on this integral') },
  stubClassifier('clf-test-borderline', { simple: 0.2, medium: 0.35, complex: 0.45 }),
);
const costOf = (d: ReturnType<typeof decide>) => d.candidates[0]!.estimatedCostUsd;

describe('the cost–quality dial', () => {
  it('moves a borderline prompt between tiers: q=0.2 → medium (a cheaper model), q=0.9 → complex (premium)', () => {
    const low = decide(input({ quality: 0.2 }), borderline, seed);
    const high = decide(input({ quality: 0.9 }), borderline, seed);
    expect(low.dial).toMatchObject({ tier: 'medium', quality: 0.2, source: 'request' });
    expect(low.strategy).toBe('balanced');
    expect(high.dial).toMatchObject({ tier: 'complex', quality: 0.9, source: 'request' });
    expect(high.strategy).toBe('quality');
    expect(findModel(seed.catalog, high.candidates[0]!.modelId)!.qualityTier).toBe(5);
    expect(low.candidates[0]!.modelId).not.toBe(high.candidates[0]!.modelId);
    expect(costOf(low)).toBeLessThan(costOf(high));
    // The decision says why, in its notes and in the first candidate's reason (so in the summary).
    expect(high.dial!.explanation).toBe('complex 0.45 ≥ threshold 0.36 at quality 0.9 → premium');
    expect(high.notes).toContain(`tier: ${high.dial!.explanation}`);
    expect(high.summary).toContain('complex 0.45 ≥ threshold 0.36 at quality 0.9 → premium');
    expect(low.summary).toContain('medium+complex 0.80 ≥ threshold 0.68 at quality 0.2 → balanced');
  });

  it('at quality 0.5 the complex threshold is 0.60, as the issue says', () => {
    expect(thresholdsAt(0.5)).toEqual({ complex: 0.6, medium: 0.5 });
    expect(tierAt({ simple: 0.05, medium: 0.13, complex: 0.82 }, 0.5).explanation).toBe(
      'complex 0.82 ≥ threshold 0.60 at quality 0.5 → premium',
    );
  });

  it('thresholds fall as the dial rises, and stay inside (0, 1)', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const tl = thresholdsAt(lo);
        const th = thresholdsAt(hi);
        expect(th.complex).toBeLessThanOrEqual(tl.complex);
        expect(th.medium).toBeLessThanOrEqual(tl.medium);
        for (const t of [tl.complex, tl.medium, th.complex, th.medium]) {
          expect(t).toBeGreaterThan(0);
          expect(t).toBeLessThan(1);
        }
      }),
    );
  });

  it('a higher dial never needs a lower tier (same probabilities)', () => {
    const rank = { simple: 0, medium: 1, complex: 2 };
    const probs = fc
      .tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 100 }))
      .map(([s, m, c]) => ({ simple: s / (s + m + c), medium: m / (s + m + c), complex: c / (s + m + c) }));
    fc.assert(
      fc.property(
        probs,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (p, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(rank[tierAt(p, hi).tier]).toBeGreaterThanOrEqual(rank[tierAt(p, lo).tier]);
        },
      ),
    );
  });

  it('with the keyword rules (rules-1, one-hot) the dial changes nothing, and says so', () => {
    for (const complexity of COMPLEXITIES) {
      const c: Classification = { ...borderline, complexity, classifier: undefined };
      for (const q of [0, 0.2, 0.5, 0.9, 1]) {
        const d = dialFor(c, q, 'request');
        expect(d.tier).toBe(complexity);
        expect(d.classifierVersion).toBe('rules-1');
        expect(d.explanation).toMatch(/rules-1 is one-hot, the dial does not move it$/);
      }
    }
    const rules = classify({ operation: 'chat', messages: ask('Prove the bound on this integral') });
    expect(rules.classifier?.complexityProbs).toEqual({ simple: 0, medium: 0, complex: 0, [rules.complexity]: 1 });
    const tiers = [0, 0.5, 1].map((q) => decide(input({ quality: q }), rules, seed).dial!.tier);
    expect(new Set(tiers)).toEqual(new Set([rules.complexity]));
    expect(decide(input({ quality: 0.9 }), rules, seed).dial!.explanation).toMatch(
      /rules-1 is one-hot, the dial does not move it$/,
    );
  });

  it("without a request value: the tenant's default, then routing.defaultQuality, then 0.5", () => {
    const tenants = { 'district-7': { ...seed.tenants['district-7'], quality: 0.9 } };
    expect(decide(input(), borderline, withConfig({ tenants })).dial).toMatchObject({
      quality: 0.9,
      source: 'tenant',
      tier: 'complex',
    });
    // The request's own value wins over its tenant's.
    expect(decide(input({ quality: 0.2 }), borderline, withConfig({ tenants })).dial).toMatchObject({
      quality: 0.2,
      source: 'request',
    });
    const routing = { ...seed.routing, defaultQuality: 0.1 };
    expect(decide(input(), borderline, withConfig({ routing })).dial).toMatchObject({ quality: 0.1, source: 'config' });
    expect(decide(input(), borderline, seed).dial).toMatchObject({ quality: DEFAULT_QUALITY, source: 'default' });
  });

  it('a strategy set by the request or tenant is not the dial’s to change', () => {
    const d = decide(input({ strategy: 'cost', quality: 1 }), borderline, seed);
    expect(d.strategy).toBe('cost');
    expect(d.dial).toBeUndefined();
  });
});

describe('rules on complexity', () => {
  // A rule a user writes expecting the premium tier's requests: it names one premium model.
  const rules = [
    ...seed.rules,
    {
      id: 'complex-premium',
      when: [{ field: 'complexity', op: 'eq', value: 'complex' }],
      targets: [{ model: 'anthropic/claude-sonnet-4-5' }],
    },
  ];
  const labelRules = [
    ...seed.rules,
    {
      id: 'labelled-complex',
      when: [{ field: 'classifiedComplexity', op: 'eq', value: 'complex' }],
      targets: [{ model: 'anthropic/claude-sonnet-4-5' }],
    },
  ];

  it('`complexity` is the tier the dial chose: a borderline prompt matches at q=0.9 (complex), not at q=0.2 (medium)', () => {
    const config = withConfig({ rules } as Partial<SwitchyardConfigInput>);
    const high = decide(input({ quality: 0.9 }), borderline, config);
    expect(high.rule?.id).toBe('complex-premium');
    expect(high.candidates[0]).toMatchObject({ modelId: 'anthropic/claude-sonnet-4-5', step: 'rule' });
    // The classifier's label is complex either way; the dial said medium, so the rule does not apply.
    expect(borderline.complexity).toBe('complex');
    const low = decide(input({ quality: 0.2 }), borderline, config);
    expect(low.dial?.tier).toBe('medium');
    expect(low.rule).toBeUndefined();
    expect(low.candidates[0]!.step).not.toBe('rule');
  });

  it('`classifiedComplexity` is the label whatever the dial says; without the dial `complexity` is the label too', () => {
    const config = withConfig({ rules: labelRules } as Partial<SwitchyardConfigInput>);
    expect(decide(input({ quality: 0.2 }), borderline, config).rule?.id).toBe('labelled-complex');
    expect(decide(input({ quality: 0.9 }), borderline, config).rule?.id).toBe('labelled-complex');
    // A strategy of the request's own: no dial, so `complexity` reads the label (complex) and the rule applies.
    const fixed = decide(
      input({ quality: 0.2, strategy: 'cost' }),
      borderline,
      withConfig({ rules } as Partial<SwitchyardConfigInput>),
    );
    expect(fixed.dial).toBeUndefined();
    expect(fixed.rule?.id).toBe('complex-premium');
  });
});

describe('classify() with a trained classifier', () => {
  it('takes task type and complexity from the prediction and records the version and evidence', () => {
    expect(borderline).toMatchObject({
      taskType: 'math',
      complexity: 'complex',
      classifier: {
        version: 'clf-test-borderline',
        taskConfidence: 0.91,
        complexityConfidence: 0.45,
        complexityProbs: { simple: 0.2, medium: 0.35, complex: 0.45 },
        features: ['task:w:integral', 'task:w:prove', 'task:c:tegr', 'complexity:w:prove', 'complexity:w:bound'],
      },
    });
    // Size signals stay.
    expect(borderline.inputTokens).toBeGreaterThan(0);
    expect(borderline.requiredContext).toBe(borderline.inputTokens + DEFAULT_OUTPUT_TOKENS);
    expect(ClassificationSchema.parse(borderline)).toEqual(borderline);
  });

  it('an operation keeps its declared task type and is sized by the rules (its text is data, not an ask)', () => {
    const c = classify(
      { operation: 'sentiment', messages: ask('I loved it') },
      stubClassifier('clf-x', { simple: 0.1, medium: 0.2, complex: 0.7 }),
    );
    expect(c.taskType).toBe('analysis');
    expect(c.complexity).toBe('simple');
    expect(c.classifier).toMatchObject({ version: 'rules-1', complexityProbs: { simple: 1, medium: 0, complex: 0 } });
    expect(c.signals[0]).toBe('task:analysis (operation sentiment)');
  });

  it('without a model: the keyword rules, version rules-1; records from before versions still parse', () => {
    const c = classify({ operation: 'chat', messages: ask('Refactor this TypeScript function') });
    expect(c.taskType).toBe('code');
    expect(c.classifier?.version).toBe('rules-1');
    const { classifier: _, ...old } = c;
    expect(ClassificationSchema.parse(old).classifier).toBeUndefined();
  });
});

describe('policy replay with classifier versions and dial settings', () => {
  const recorded = (classification: Classification, requestId: string): RecordedDecision => {
    const d = decide({ ...input(), requestId }, classification, seed);
    return {
      requestId,
      input: { ...input(), requestId, health: {} },
      classification,
      decision: d,
      configVersion: 1,
    };
  };

  it('a record decided with version X replays with X, unless asked to classify again', () => {
    const x = recorded(borderline, 'r-x');
    const report = replay([x], seed, () => seed.catalog);
    expect(report.classifierVersions).toEqual({ 'clf-test-borderline': 1 });
    expect(report.changed).toBe(0);

    // Asked for another version: the replay takes that classification instead.
    const other = classify(
      { operation: 'chat', messages: ask('Prove the bound on this integral') },
      stubClassifier('clf-test-other', { simple: 0.05, medium: 0.05, complex: 0.9 }),
    );
    const again = replay([x], seed, () => seed.catalog, { reclassify: () => other });
    expect(again.classifierVersions).toEqual({ 'clf-test-other': 1 });
    expect(again.changed).toBe(1);
  });

  it('an old record without a version replays as rules-1', () => {
    const { classifier: _, ...old } = classify({ operation: 'chat', messages: ask('Hello there') });
    expect(replay([recorded(old, 'r-old')], seed, () => seed.catalog).classifierVersions).toEqual({ 'rules-1': 1 });
  });

  it('reports the cost of the recorded traffic at each dial setting: more quality, more cost', () => {
    const report = replay([recorded(borderline, 'r-1'), recorded(borderline, 'r-2')], seed, () => seed.catalog);
    expect(report.dial.map((s) => s.quality)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(report.dial.map((s) => s.tiers)).toEqual([
      { simple: 0, medium: 2, complex: 0, fixed: 0 },
      { simple: 0, medium: 2, complex: 0, fixed: 0 },
      { simple: 0, medium: 2, complex: 0, fixed: 0 },
      { simple: 0, medium: 0, complex: 2, fixed: 0 },
      { simple: 0, medium: 0, complex: 2, fixed: 0 },
    ]);
    const costs = report.dial.map((s) => s.costUsd);
    expect(costs[4]).toBeGreaterThan(costs[0]!);
    for (let i = 1; i < costs.length; i++) expect(costs[i]).toBeGreaterThanOrEqual(costs[i - 1]!);
    // With the keyword rules the dial moves nothing: the same cost at every setting.
    const rules = classify({ operation: 'chat', messages: ask('Prove the bound on this integral') });
    const flat = replay([recorded(rules, 'r-3')], seed, () => seed.catalog).dial.map((s) => s.costUsd);
    expect(new Set(flat).size).toBe(1);
  });
});
