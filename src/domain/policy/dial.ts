/**
 * The cost–quality dial: `quality` in [0, 1] (0 = the cheapest acceptable, 1 = the best available)
 * and the classifier's complexity probabilities give the tier a request needs.
 *
 * A tier is needed when the probability that the prompt needs it (or more) reaches a threshold,
 * and the thresholds fall as the dial rises: at quality 0.5 a prompt goes to the complex tier when
 * P(complex) ≥ 0.60, to the medium tier when P(medium) + P(complex) ≥ 0.50, else to the simple one.
 * The thresholds stay inside (0, 1) at every setting, so a one-hot distribution (the keyword rules,
 * `rules-1`) lands on its own label whatever the dial says: only a trained classifier's
 * uncertainty gives the dial something to move.
 */
import type { Classification } from '../classify';

export type Complexity = Classification['complexity'];
export type ComplexityProbs = Record<Complexity, number>;

/** Without a request value or a tenant default (`tenants.<id>.quality`, `routing.defaultQuality`). */
export const DEFAULT_QUALITY = 0.5;

/** The settings `POST /v1/policy/replay` reports the cost at. */
export const DIAL_SETTINGS = [0, 0.25, 0.5, 0.75, 1] as const;

/** Where a request's dial came from: its body or header, its tenant's policy, the configuration. */
export type QualitySource = 'request' | 'tenant' | 'config' | 'default';

export interface Thresholds {
  /** P(complex) at or above which the complex tier is needed. */
  complex: number;
  /** P(medium) + P(complex) at or above which (at least) the medium tier is needed. */
  medium: number;
}

/** Linear in the dial, falling as it rises: complex 0.90 → 0.30, medium 0.80 → 0.20 (0.60 and 0.50 at 0.5). */
export function thresholdsAt(quality: number): Thresholds {
  const q = Math.min(1, Math.max(0, quality));
  return { complex: round2(0.9 - 0.6 * q), medium: round2(0.8 - 0.6 * q) };
}

/** What the tier means for ranking under `auto` (src/domain/policy/ranking.ts). */
export const TIER_WORDS: Record<Complexity, string> = {
  simple: 'cheapest first',
  medium: 'balanced',
  complex: 'premium',
};

export interface DialDecision {
  quality: number;
  source: QualitySource;
  tier: Complexity;
  thresholds: Thresholds;
  /** The complexity probabilities the tier was read from (one-hot for the keyword rules). */
  probs: ComplexityProbs;
  /** The classifier that gave them (`rules-1`: keyword rules). */
  classifierVersion: string;
  /** E.g. "complex 0.82 ≥ threshold 0.60 at quality 0.5 → premium". */
  explanation: string;
}

/** The complexity probabilities of a classification: the classifier's, or one-hot on its label. */
export function complexityProbsOf(c: Classification): ComplexityProbs {
  const p = c.classifier?.complexityProbs;
  if (p) return { simple: p.simple ?? 0, medium: p.medium ?? 0, complex: p.complex ?? 0 };
  return { simple: 0, medium: 0, complex: 0, [c.complexity]: 1 };
}

/** The tier the probabilities need at this dial setting, and the sentence that says why. */
export function tierAt(
  probs: ComplexityProbs,
  quality: number,
): { tier: Complexity; thresholds: Thresholds; explanation: string } {
  const t = thresholdsAt(quality);
  const at = `at quality ${formatQuality(quality)}`;
  const pc = probs.complex;
  const pm = probs.medium + probs.complex;
  if (pc >= t.complex)
    return {
      tier: 'complex',
      thresholds: t,
      explanation: `complex ${f2(pc)} ≥ threshold ${f2(t.complex)} ${at} → premium`,
    };
  if (pm >= t.medium)
    return {
      tier: 'medium',
      thresholds: t,
      explanation: `complex ${f2(pc)} < ${f2(t.complex)}; medium+complex ${f2(pm)} ≥ threshold ${f2(t.medium)} ${at} → balanced`,
    };
  return {
    tier: 'simple',
    thresholds: t,
    explanation: `medium+complex ${f2(pm)} < threshold ${f2(t.medium)} ${at} → cheapest first`,
  };
}

/** The dial applied to a classification: the tier for `auto`, with where the setting came from. */
export function dialFor(c: Classification, quality: number, source: QualitySource): DialDecision {
  const probs = complexityProbsOf(c);
  const version = c.classifier?.version ?? 'rules-1';
  const { tier, thresholds, explanation } = tierAt(probs, quality);
  // All the probability on one label (the keyword rules): every threshold is inside (0, 1).
  const oneHot = Object.values(probs).some((p) => p >= 1);
  return {
    quality,
    source,
    tier,
    thresholds,
    probs,
    classifierVersion: version,
    explanation: oneHot ? `${explanation}; ${version} is one-hot, the dial does not move it` : explanation,
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
const f2 = (x: number) => x.toFixed(2);
const formatQuality = (q: number) => String(round2(q));
