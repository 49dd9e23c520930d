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
import {
  decide,
  type BudgetView,
  type HealthView,
  type PolicyInput,
  type RouteDecision,
  type SessionView,
} from './policy';

export interface RecordedDecision {
  requestId: string;
  /** The decision's input as recorded, with the breaker view it saw. */
  input: PolicyInput & { health?: HealthView; budget?: BudgetView; session?: SessionView };
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

/**
 * Replays records one at a time, so a caller can yield between them (the API answers `/health`
 * while a replay of 10,000 requests runs) and stop when its client has gone.
 */
export class Replayer {
  private evaluated = 0;
  private changed = 0;
  private unroutable = 0;
  private residencyChanges = 0;
  private costDelta = 0;
  private readonly examples: ReplayChange[] = [];

  constructor(
    private readonly proposed: SwitchyardConfig,
    private readonly catalogOf: (version: number) => Catalog | undefined,
  ) {}

  add(r: RecordedDecision): void {
    const proposed = this.proposed;
    this.evaluated++;
    const before = r.decision.candidates[0];
    let after: RouteDecision['candidates'][number] | undefined;
    try {
      after = decide(r.input, r.classification, proposed, r.input.health, r.input.budget, r.input.session)
        .candidates[0];
    } catch {
      after = undefined; // the requested model left the catalog
    }
    if (!after) this.unroutable++;
    const costBefore = before?.estimatedCostUsd ?? 0;
    const costAfter = after?.estimatedCostUsd ?? 0;
    this.costDelta += costAfter - costBefore;
    if ((before?.modelId ?? null) === (after?.modelId ?? null)) return;
    this.changed++;
    const regionsBefore = before
      ? [...(findModel(this.catalogOf(r.configVersion) ?? proposed.catalog, before.modelId)?.regions ?? [])].sort()
      : [];
    const regionsAfter = after ? [...(findModel(proposed.catalog, after.modelId)?.regions ?? [])].sort() : [];
    if (regionsBefore.join() !== regionsAfter.join()) this.residencyChanges++;
    if (this.examples.length < MAX_EXAMPLES) {
      this.examples.push({
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

  report(): ReplayReport {
    return {
      evaluated: this.evaluated,
      changed: this.changed,
      unchanged: this.evaluated - this.changed,
      unroutable: this.unroutable,
      costDeltaUsd: roundUsd(this.costDelta),
      residencyChanges: this.residencyChanges,
      examples: [...this.examples],
    };
  }
}

export function replay(
  records: RecordedDecision[],
  proposed: SwitchyardConfig,
  catalogOf: (version: number) => Catalog | undefined,
): ReplayReport {
  const replayer = new Replayer(proposed, catalogOf);
  for (const r of records) replayer.add(r);
  return replayer.report();
}
