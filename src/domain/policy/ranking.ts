/** Strategies: how the eligible models are ranked when no override or rule decides. */
import type { Model } from '../catalog';
import type { Complexity } from '../classify';
import type { Strategy, SwitchyardConfig } from '../config';
import { stableFraction } from './hash';

/** `auto` ranks by the tier the request needs (the dial's, `./dial.ts`): cheapest, balanced or premium first. */
export function resolveStrategy(s: Strategy, tier: Complexity): Exclude<Strategy, 'auto'> {
  if (s !== 'auto') return s;
  return tier === 'simple' ? 'cost' : tier === 'complex' ? 'quality' : 'balanced';
}

/** Ranks eligible models by the strategy, best first. */
export function rank(
  models: Model[],
  strategy: Exclude<Strategy, 'auto'>,
  estimate: (m: Model) => number,
  config: SwitchyardConfig,
  seed: string,
): Model[] {
  const byId = (a: Model, b: Model) => a.id.localeCompare(b.id);
  const list = [...models];
  switch (strategy) {
    case 'cost':
      return list.sort((a, b) => estimate(a) - estimate(b) || b.qualityTier - a.qualityTier || byId(a, b));
    case 'quality':
      return list.sort((a, b) => b.qualityTier - a.qualityTier || estimate(a) - estimate(b) || byId(a, b));
    case 'latency':
      return list.sort((a, b) => a.typicalLatencyMs - b.typicalLatencyMs || estimate(a) - estimate(b) || byId(a, b));
    case 'balanced': {
      const w = config.routing.balancedWeights;
      const maxCost = Math.max(...list.map(estimate), 1e-12);
      const maxLatency = Math.max(...list.map((m) => m.typicalLatencyMs), 1);
      const score = (m: Model) =>
        (w.quality * (m.qualityTier - 1)) / 4 -
        (w.cost * estimate(m)) / maxCost -
        (w.latency * m.typicalLatencyMs) / maxLatency;
      return list.sort((a, b) => score(b) - score(a) || byId(a, b));
    }
    case 'round-robin': {
      // Weighted rotation keyed by the request: spreads traffic by model weight, reproducibly.
      list.sort(byId);
      const total = list.reduce((s, m) => s + m.weight, 0);
      let point = stableFraction(`rr:${seed}`) * total;
      let start = 0;
      for (; start < list.length - 1; start++) {
        if (point < list[start]!.weight) break;
        point -= list[start]!.weight;
      }
      return [...list.slice(start), ...list.slice(0, start)];
    }
  }
}
