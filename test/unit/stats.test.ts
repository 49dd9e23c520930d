import { compareVariants, normalCdf, percentile, sampleOf, twoProportions, welch } from '../../src/domain/stats';

it('normalCdf matches known values', () => {
  expect(normalCdf(0)).toBeCloseTo(0.5, 6);
  expect(normalCdf(1.96)).toBeCloseTo(0.975, 3);
  expect(normalCdf(-1.96)).toBeCloseTo(0.025, 3);
});

it('two proportions: 10% vs 20% errors over 500 each differ; 10% vs 11% over 100 do not', () => {
  const clear = twoProportions(50, 500, 100, 500);
  expect(clear.significant).toBe(true);
  expect(clear.pValue).toBeLessThan(0.001);
  expect(twoProportions(10, 100, 11, 100).significant).toBe(false);
  expect(twoProportions(0, 0, 1, 10).pValue).toBe(1);
});

it("Welch's t: latencies 100±10 vs 110±10 over 50 each differ; identical samples do not", () => {
  const a = Array.from({ length: 50 }, (_, i) => 100 + ((i * 7) % 21) - 10);
  const b = a.map((x) => x + 10);
  expect(welch(sampleOf(a), sampleOf(b)).significant).toBe(true);
  expect(welch(sampleOf(a), sampleOf(a)).pValue).toBeCloseTo(1, 6);
  expect(sampleOf([1, 2, 3])).toEqual({ n: 3, mean: 2, variance: 1 });
});

it('percentile by nearest rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(percentile(xs, 50)).toBe(50);
  expect(percentile(xs, 95)).toBe(95);
  expect(percentile(xs, 99)).toBe(99);
  expect(percentile([], 50)).toBeNull();
});

it('compares variants against the busiest one', () => {
  const row = (variant: string, latency: number, status = 'succeeded') => ({
    variant,
    status,
    latency_ms: latency,
    cost_usd: 0.001,
    invalid_output: false,
  });
  const rows = [
    ...Array.from({ length: 40 }, (_, i) => row('a', 100 + (i % 5))),
    ...Array.from({ length: 30 }, (_, i) => row('b', 300 + (i % 5), i < 3 ? 'failed' : 'succeeded')),
  ];
  const { control, variants } = compareVariants(rows);
  expect(control).toBe('a');
  expect(variants.map((v) => [v.variant, v.requests, v.error_rate])).toEqual([
    ['a', 40, 0],
    ['b', 30, 0.1],
  ]);
  expect(variants[0]).not.toHaveProperty('versus_control');
  expect(variants[1]!.versus_control!.latency.significant).toBe(true);
  expect(variants[1]!.latency_ms.p50).toBe(302);
  expect(compareVariants([])).toEqual({ control: null, variants: [] });
});
