/**
 * Policy replay: re-runs recorded decisions against a proposed configuration, without calling any
 * model, and reports what would change — how many requests route differently, the estimated cost
 * delta, and residency changes (the chosen model processes data in different regions) — and what
 * the recorded traffic would cost at each setting of the cost–quality dial.
 *
 * A record is replayed with the classification it was decided with, so with the classifier
 * version that made it (`rules-1` for records from before versions were kept), unless the caller
 * re-classifies it (`reclassify`: another version, or the current one).
 * Pure: the caller loads the recorded inputs and the catalogs they were decided with.
 */
import { findModel, type Catalog } from './catalog';
import { roundUsd } from './usd';
import { RULES_VERSION, type Classification, type Complexity } from './classify';
import type { SwitchyardConfig } from './config';
import {
  decide,
  type BudgetView,
  type HealthView,
  type PolicyInput,
  type RouteDecision,
  type SessionView,
} from './policy';
import { DIAL_SETTINGS } from './policy/dial';

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

/** The recorded traffic at one dial setting (every request's own setting replaced by it). */
export interface DialSettingReport {
  quality: number;
  /** The first candidates' estimated cost, summed (worst case: input plus the output cap). */
  costUsd: number;
  /**
   * Requests whose first model the tier chose, by tier; `fixed`: the others (a named model, a rule,
   * an override, or a strategy the request or tenant set decided, whatever the dial says).
   */
  tiers: Record<Complexity | 'fixed', number>;
  unroutable: number;
}

export interface ReplayReport {
  evaluated: number;
  changed: number;
  unchanged: number;
  /** Requests the proposed configuration could not route at all (would be a 503). */
  unroutable: number;
  costDeltaUsd: number;
  residencyChanges: number;
  /** The classifier versions the replayed classifications came from, with their counts. */
  classifierVersions: Record<string, number>;
  /** The proposed configuration's cost of the same traffic at each dial setting. */
  dial: DialSettingReport[];
  examples: ReplayChange[];
}

export interface ReplayOptions {
  /**
   * Another classification for a record (another classifier version, or the current one);
   * `undefined`: the recorded one.
   */
  reclassify?: (r: RecordedDecision) => Classification | undefined;
  /** The dial settings to report the cost at (default 0, 0.25, 0.5, 0.75, 1). */
  dialSettings?: readonly number[];
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
  private readonly versions: Record<string, number> = {};
  private readonly dial: DialSettingReport[];

  constructor(
    private readonly proposed: SwitchyardConfig,
    private readonly catalogOf: (version: number) => Catalog | undefined,
    private readonly options: ReplayOptions = {},
  ) {
    this.dial = (options.dialSettings ?? DIAL_SETTINGS).map((quality) => ({
      quality,
      costUsd: 0,
      tiers: { simple: 0, medium: 0, complex: 0, fixed: 0 },
      unroutable: 0,
    }));
  }

  add(r: RecordedDecision): void {
    const proposed = this.proposed;
    this.evaluated++;
    const classification = this.options.reclassify?.(r) ?? r.classification;
    const version = classification.classifier?.version ?? RULES_VERSION;
    this.versions[version] = (this.versions[version] ?? 0) + 1;
    const decideWith = (input: PolicyInput): RouteDecision | undefined => {
      try {
        return decide(input, classification, proposed, r.input.health, r.input.budget, r.input.session);
      } catch {
        return undefined; // the requested model left the catalog
      }
    };
    for (const setting of this.dial) {
      const d = decideWith({ ...r.input, context: { ...r.input.context, quality: setting.quality } });
      const first = d?.candidates[0];
      if (!first) setting.unroutable++;
      setting.costUsd += first?.estimatedCostUsd ?? 0;
      setting.tiers[first?.step === 'strategy' && d?.dial ? d.dial.tier : 'fixed']++;
    }
    const before = r.decision.candidates[0];
    const after = decideWith(r.input)?.candidates[0];
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
      classifierVersions: { ...this.versions },
      dial: this.dial.map((s) => ({ ...s, tiers: { ...s.tiers }, costUsd: roundUsd(s.costUsd) })),
      examples: [...this.examples],
    };
  }
}

export function replay(
  records: RecordedDecision[],
  proposed: SwitchyardConfig,
  catalogOf: (version: number) => Catalog | undefined,
  options: ReplayOptions = {},
): ReplayReport {
  const replayer = new Replayer(proposed, catalogOf, options);
  for (const r of records) replayer.add(r);
  return replayer.report();
}
