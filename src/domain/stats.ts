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

/** One request of a split, as its variant comparison reads it. */
export interface VariantRequest {
  variant: string;
  status: string;
  latency_ms: number | null;
  cost_usd: number | null;
  invalid_output: boolean;
}

/**
 * A split's variants compared: error rate, validation failures, latency and cost of each, and
 * each against the variant with the most requests (the control of a canary), with tests.
 */
export function compareVariants(rows: VariantRequest[]) {
  const byVariant = new Map<string, VariantRequest[]>();
  for (const r of rows) byVariant.set(r.variant, [...(byVariant.get(r.variant) ?? []), r]);
  const stats = [...byVariant.entries()]
    .map(([variant, rs]) => {
      const latencies = rs.flatMap((r) => (r.latency_ms === null ? [] : [r.latency_ms])).sort((a, b) => a - b);
      return {
        variant,
        requests: rs.length,
        errors: rs.filter((r) => r.status === 'failed').length,
        invalid: rs.filter((r) => r.invalid_output).length,
        latencies,
        latency: sampleOf(latencies),
        cost: sampleOf(rs.map((r) => r.cost_usd ?? 0)),
      };
    })
    .sort((a, b) => b.requests - a.requests);
  const control = stats[0];
  return {
    control: control?.variant ?? null,
    variants: stats.map((v) => ({
      variant: v.variant,
      requests: v.requests,
      error_rate: v.errors / v.requests,
      validation_failure_rate: v.invalid / v.requests,
      latency_ms: { mean: v.latency.mean, p50: percentile(v.latencies, 50), p95: percentile(v.latencies, 95) },
      cost_usd: { mean: v.cost.mean, total: v.cost.mean * v.cost.n },
      ...(control &&
        v !== control && {
          versus_control: {
            error_rate: twoProportions(v.errors, v.requests, control.errors, control.requests),
            validation_failure_rate: twoProportions(v.invalid, v.requests, control.invalid, control.requests),
            latency: welch(v.latency, control.latency),
            cost: welch(v.cost, control.cost),
          },
        }),
    })),
  };
}
