/**
 * Small statistics for comparing routing variants (a canary or a weighted split): percentiles,
 * and two-sided significance tests — two proportions (error rates) and Welch's t (latency, cost,
 * with a normal approximation of t's distribution, fair from about 30 samples per variant).
 */

/** The standard normal CDF (Abramowitz–Stegun 7.1.26 for erf, error below 1.5e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

export interface TestResult {
  statistic: number;
  pValue: number;
  /** p < 0.05. */
  significant: boolean;
}

const result = (statistic: number): TestResult => {
  const pValue = Number.isFinite(statistic) ? 2 * (1 - normalCdf(Math.abs(statistic))) : 1;
  return { statistic, pValue, significant: pValue < 0.05 };
};

/** Whether two rates differ: k1 of n1 against k2 of n2 (pooled two-proportion z-test). */
export function twoProportions(k1: number, n1: number, k2: number, n2: number): TestResult {
  if (n1 === 0 || n2 === 0) return result(NaN);
  const p = (k1 + k2) / (n1 + n2);
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
  return result(se === 0 ? 0 : (k1 / n1 - k2 / n2) / se);
}

export interface Sample {
  n: number;
  mean: number;
  variance: number;
}

export function sampleOf(xs: number[]): Sample {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : 0;
  const variance = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { n, mean, variance };
}

/** Whether two means differ (Welch's t, unequal variances). */
export function welch(a: Sample, b: Sample): TestResult {
  if (a.n < 2 || b.n < 2) return result(NaN);
  const se = Math.sqrt(a.variance / a.n + b.variance / b.n);
  return result(se === 0 ? 0 : (a.mean - b.mean) / se);
}

/** The p-th percentile (0–100) of sorted values, nearest rank. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
