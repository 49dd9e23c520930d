/**
 * Policy replay: re-runs recorded decisions against a proposed configuration, without calling any
 * model, and reports what would change — how many requests route differently, the estimated cost
 * delta, and residency changes (the chosen model processes data in different regions).
 * Pure: the caller loads the recorded inputs and the catalogs they were decided with.
 */
import { findModel, type Catalog } from './catalog';
import { roundUsd } from './usd';
import type { Classification } from './classify';
import type { SwitchyardConfig } from './config';
import { decide, type BudgetView, type HealthView, type PolicyInput, type RouteDecision } from './policy';

export interface RecordedDecision {
  requestId: string;
  /** The decision's input as recorded, with the breaker view it saw. */
  input: PolicyInput & { health?: HealthView; budget?: BudgetView };
  classification: Classification;
  /** The decision as recorded (its first candidate is where the request was sent first). */
  decision: Pick<RouteDecision, 'candidates'>;
  configVersion: number;
}

export interface ReplayChange {
  requestId: string;
  before: string | null;
  after: string | null;
  costBeforeUsd: number;
  costAfterUsd: number;
  regionsBefore: string[];
  regionsAfter: string[];
}

export interface ReplayReport {
  evaluated: number;
  changed: number;
  unchanged: number;
  /** Requests the proposed configuration could not route at all (would be a 503). */
  unroutable: number;
  costDeltaUsd: number;
  residencyChanges: number;
  examples: ReplayChange[];
}

const MAX_EXAMPLES = 20;

export function replay(
  records: RecordedDecision[],
  proposed: SwitchyardConfig,
  catalogOf: (version: number) => Catalog | undefined,
): ReplayReport {
  let changed = 0;
  let unroutable = 0;
  let residencyChanges = 0;
  let costDelta = 0;
  const examples: ReplayChange[] = [];
  for (const r of records) {
    const before = r.decision.candidates[0];
    let after: RouteDecision['candidates'][number] | undefined;
    try {
      after = decide(r.input, r.classification, proposed, r.input.health, r.input.budget).candidates[0];
    } catch {
      after = undefined; // the requested model left the catalog
    }
    if (!after) unroutable++;
    const costBefore = before?.estimatedCostUsd ?? 0;
    const costAfter = after?.estimatedCostUsd ?? 0;
    costDelta += costAfter - costBefore;
    if ((before?.modelId ?? null) === (after?.modelId ?? null)) continue;
    changed++;
    const regionsBefore = before
      ? [...(findModel(catalogOf(r.configVersion) ?? proposed.catalog, before.modelId)?.regions ?? [])].sort()
      : [];
    const regionsAfter = after ? [...(findModel(proposed.catalog, after.modelId)?.regions ?? [])].sort() : [];
    const residencyChanged = regionsBefore.join() !== regionsAfter.join();
    if (residencyChanged) residencyChanges++;
    if (examples.length < MAX_EXAMPLES) {
      examples.push({
        requestId: r.requestId,
        before: before?.modelId ?? null,
        after: after?.modelId ?? null,
        costBeforeUsd: costBefore,
        costAfterUsd: costAfter,
        regionsBefore,
        regionsAfter,
      });
    }
  }
  return {
    evaluated: records.length,
    changed,
    unchanged: records.length - changed,
    unroutable,
    costDeltaUsd: roundUsd(costDelta),
    residencyChanges,
    examples,
  };
}
