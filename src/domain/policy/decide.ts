/**
 * The routing policy: `decide(input, classification, config, health, budget) → RouteDecision`.
 * Pure and deterministic — no clock, no randomness of its own (time and the split seed come in
 * the input) — so a recorded decision can be replayed against another configuration.
 *
 * Order of evaluation:
 *   1. hard filters, each with a name: a model removed here is never a candidate, whatever follows;
 *   2. an explicitly requested model leads (if it passed the filters), after an override or rule
 *      that applies to named models (`appliesTo: named | any`), and its explicit fallback chain
 *      (request `models`, configuration `fallback.chains`, catalog `fallbacks`) follows it, each
 *      model still passing the filters (a filtered one is skipped, recorded in `chain.skipped`);
 *   3. for `auto`: overrides, most specific first (user > workspace > tenant, unexpired);
 *   4. else the first matching rule (conditions on request attributes; ordered or weighted targets);
 *   5. the rest ranked by the strategy (unless an explicit chain is the whole chain); the fallback
 *      chain prefers providers not yet in it.
 */
import { findModel, type Model } from '../catalog';
import type { Classification } from '../classify';
import type { SwitchyardConfig, TenantPolicy } from '../config';
import { DEFAULT_QUALITY, dialFor, type DialDecision } from './dial';
import { effective, estimateCost, hardFilter, summarizeRejections } from './filters';
import { findOverride } from './overrides';
import { rank, resolveStrategy } from './ranking';
import { conditionHolds, ruleOrder } from './rules';
import { applySession, summaryOf, type SessionView } from './session';
import {
  AUTO_MODELS,
  UnknownModelError,
  type BudgetView,
  type Candidate,
  type CandidateStep,
  type HealthView,
  type PolicyInput,
  type RouteDecision,
} from './types';

export function decide(
  input: PolicyInput,
  c: Classification,
  config: SwitchyardConfig,
  health: HealthView = {},
  budget: BudgetView = {},
  /** The request's session and its live pin, if it has one (./session.ts). */
  session?: SessionView,
): RouteDecision {
  const catalog = config.catalog;
  const e = effective(input, config);
  const estimate = (m: Model) => estimateCost(m, c.inputTokens, input.maxOutputTokens, input.capability);
  const candidateOf = (m: Model, step: CandidateStep = 'session', reason = 'kept for session'): Candidate => ({
    modelId: m.id,
    provider: m.provider,
    model: m.model,
    step,
    reason,
    estimatedCostUsd: estimate(m),
  });
  const rejected: RouteDecision['rejected'] = [];
  const eligible: Model[] = [];
  for (const m of catalog.models) {
    const r = hardFilter(m, input, c, e, health, budget);
    if (r) rejected.push({ modelId: m.id, ...r });
    else eligible.push(m);
  }

  const notes: string[] = [];
  const chosen = input.context.strategy ?? e.tenant?.strategy ?? config.routing.defaultStrategy;
  // Under `auto`, the complexity probabilities and the cost–quality dial choose the tier.
  const dial = chosen === 'auto' ? dialOf(input, c, config, e.tenant) : undefined;
  if (dial) notes.push(`tier: ${dial.explanation}`);
  let strategy = resolveStrategy(chosen, dial?.tier ?? c.complexity);
  // Near the limit, spend what is left on cheaper models before refusing outright.
  if (budget.nearLimit && strategy !== 'cost') {
    notes.push(
      `budget near its limit ($${budget.remainingUsd?.toFixed(6)} left in ${budget.tightest?.period ?? 'a'} window): cheaper models first instead of ${strategy}`,
    );
    strategy = 'cost';
  }
  const preferred: Array<{ m: Model; step: CandidateStep; reason: string }> = [];
  let override: RouteDecision['override'];
  let ruleInfo: RouteDecision['rule'];
  const isEligible = (id: string) => eligible.find((m) => m.id === id);

  let auto = AUTO_MODELS.has(input.requestedModel);
  let substitution: RouteDecision['substitution'];
  let explicit: RouteDecision['chain'];
  // Rules read the named model by its catalog id, however the client spelled it, and `auto` as
  // `auto` (`switchyard/auto` is the same request).
  let ruleInput = auto ? { ...input, requestedModel: 'auto' } : input;
  // Overrides and rules apply to `auto` requests, and to named ones when they say so (`appliesTo`).
  const head = (named: boolean): boolean => {
    const o = findOverride(input, config, named);
    const target = o ? isEligible(o.model) : undefined;
    if (o && target) {
      override = { id: o.id, scope: o.scope, subject: o.subject, ...(o.expiresAt && { expiresAt: o.expiresAt }) };
      preferred.push({
        m: target,
        step: 'override',
        reason: `${o.scope} override ${o.id}${o.reason ? ` (${o.reason})` : ''}`,
      });
      return true;
    }
    if (o)
      notes.push(
        `override ${o.id} skipped: ${o.model} removed by ${rejected.find((r) => r.modelId === o.model)?.filter ?? 'a filter'}`,
      );
    const rules = config.rules
      // A tenant's own rules apply to its requests only.
      .filter(
        (r) =>
          r.enabled &&
          appliesTo(r.appliesTo, named) &&
          (r.tenantId === undefined || r.tenantId === input.context.tenantId),
      )
      .sort((a, b) => a.priority - b.priority || a.id.localeCompare(b.id));
    for (const rule of rules) {
      // `complexity` reads the dial's tier under `auto` (the tier the request is ranked at).
      if (!rule.when.every((cond) => conditionHolds(cond, ruleInput, c, dial?.tier))) continue;
      const { models, picked } = ruleOrder(rule, eligible, input);
      if (models.length === 0) {
        notes.push(`rule ${rule.id} matched but none of its targets passed the filters`);
        continue;
      }
      ruleInfo = { id: rule.id, ...(rule.name && { name: rule.name }), ...(picked && { picked }) };
      models.forEach((m, i) =>
        preferred.push({
          m,
          step: 'rule',
          reason: `rule ${rule.name ?? rule.id}${picked && i === 0 ? ' (weighted pick)' : i > 0 ? ` (target ${i + 1})` : ''}`,
        }),
      );
      return true;
    }
    return false;
  };

  if (!auto) {
    const requested = findModel(catalog, input.requestedModel);
    if (!requested) throw new UnknownModelError(`The model '${input.requestedModel}' does not exist in the catalog.`);
    ruleInput = { ...input, requestedModel: requested.id };
    // The request's own chain names catalog models only (the API checks it first; the dry run relies on this).
    input.fallbacks?.forEach((id, i) => {
      if (!findModel(catalog, id))
        throw new UnknownModelError(`The model '${id}' (models[${i}]) does not exist in the catalog.`, `models[${i}]`);
    });
    // The request's own choice wins over its tenant's default; `auto` requests never get here.
    const mode = input.context.substitution ?? e.tenant?.substitution ?? 'allowed';
    if (mode === 'none') {
      const source = input.context.substitution ? 'request' : 'tenant';
      substitution = { mode, source, modelId: requested.id };
      const strict = strictDecision(
        requested,
        rejected,
        strategy,
        substitution,
        estimate(requested),
        health,
        chainOf(requested, input, config),
      );
      return applySession(strict, session, { now: input.now, eligible, fixed: true, max: 1, candidateOf });
    }
    // A rule or override that applies to named models leads; the named model follows it.
    // Worded `requested <id> …`: the answer's `model_substituted.reason` reads it.
    if (head(true))
      notes.push(
        `requested ${requested.id} follows ${override ? `override ${override.id}` : `rule ${ruleInfo!.id}`} (it applies to named models)`,
      );
    const ok = isEligible(requested.id);
    if (ok) preferred.push({ m: ok, step: 'requested', reason: 'requested by the client' });
    explicit = chainOf(requested, input, config);
    if (explicit) {
      explicit.models.forEach((id, i) => {
        const m = findModel(catalog, id)!;
        const fit = isEligible(m.id);
        if (fit)
          preferred.push({ m: fit, step: 'chain', reason: `${explicit!.source} fallback chain, position ${i + 1}` });
        else {
          const why = rejected.find((r) => r.modelId === m.id)!;
          explicit!.skipped.push({ modelId: m.id, filter: why.filter, reason: why.reason });
        }
      });
      if (explicit.skipped.length)
        notes.push(
          `fallback chain: skipped ${explicit.skipped.map((x) => `${x.modelId} (${x.filter}: ${x.reason})`).join(', ')}`,
        );
    }
    if (!ok) {
      const why = rejected.find((r) => r.modelId === requested.id)!;
      // An explicit chain is the whole chain: its next models stand in, never the strategy's.
      const then = explicit
        ? 'its fallback chain follows'
        : preferred.length
          ? 'the rule or override leads'
          : 'routed as auto';
      notes.push(`requested ${requested.id} removed by ${why.filter} (${why.reason}); ${then}`);
      if (!explicit && !preferred.length) auto = true;
    }
  }

  if (auto) head(false);

  // The chain: preferred models first, then the strategy's ranking, other providers before more of the same.
  // An explicit chain is exactly what it lists (the schema bounds its length), not capped to maxCandidates.
  const max = explicit ? preferred.length : config.fallback.maxCandidates;
  const chain: Candidate[] = [];
  const add = (m: Model, step: CandidateStep, reason: string) => {
    if (chain.length < max && !chain.some((x) => x.modelId === m.id)) chain.push(candidateOf(m, step, reason));
  };
  for (const p of preferred) add(p.m, p.step, p.reason);
  // An explicit chain replaces the strategy's fallbacks (even when a filter left it empty).
  const ranked = explicit ? [] : rank(eligible, strategy, estimate, config, input.requestId);
  if (chain.length === 0 && ranked[0])
    add(
      ranked[0],
      'strategy',
      `strategy ${strategy}${
        dial && strategy === resolveStrategy('auto', dial.tier)
          ? `: ${dial.explanation}`
          : budget.nearLimit && dial
            ? ' (budget near its limit)'
            : ''
      }`,
    );
  const used = () => new Set(chain.map((x) => x.provider));
  for (const m of ranked)
    if (!used().has(m.provider)) add(m, 'fallback', `fallback: other provider, next by ${strategy}`);
  for (const m of ranked) add(m, 'fallback', `fallback: next by ${strategy}`);

  const summary = chain.length ? summaryOf(chain) : `no candidate left: ${summarizeRejections(rejected)}`;
  const cooling =
    chain.length === 0
      ? rejected
          .filter((r) => r.filter === 'breaker-open')
          .map((r) => health.blocked![r.modelId]!.until)
          .sort()
      : [];
  const decision: RouteDecision = {
    candidates: chain,
    rejected,
    strategy,
    ...(override && { override }),
    ...(ruleInfo && { rule: ruleInfo }),
    notes,
    summary,
    ...(dial && { dial }),
    ...(cooling[0] && { retryAt: cooling[0] }),
    ...(explicit && { chain: explicit }),
  };
  // A session's pinned model leads if the filters left it (an explicit chain is only reordered).
  return applySession(decision, session, { now: input.now, eligible, fixed: explicit !== undefined, max, candidateOf });
}

/** The dial's setting for this request (its own, its tenant's, the configuration's, 0.5) applied to `c`. */
function dialOf(
  input: PolicyInput,
  c: Classification,
  config: SwitchyardConfig,
  tenant: TenantPolicy | undefined,
): DialDecision {
  if (input.context.quality !== undefined) return dialFor(c, input.context.quality, 'request');
  if (tenant?.quality !== undefined) return dialFor(c, tenant.quality, 'tenant');
  if (config.routing.defaultQuality !== undefined) return dialFor(c, config.routing.defaultQuality, 'config');
  return dialFor(c, DEFAULT_QUALITY, 'default');
}

/** Whether a rule or override (by its `appliesTo`, absent: `auto`) applies to this request. */
function appliesTo(scope: 'auto' | 'named' | 'any' | undefined, named: boolean): boolean {
  const s = scope ?? 'auto';
  return s === 'any' || (named ? s === 'named' : s === 'auto');
}

/**
 * The named model's explicit fallback chain, the first that has one: the request's `models`, the
 * configuration's `fallback.chains[model]`, the catalog model's `fallbacks`. The named model
 * itself is left out (OpenRouter's `models` usually repeats it first).
 */
function chainOf(m: Model, input: PolicyInput, config: SwitchyardConfig): RouteDecision['chain'] {
  const ids = (list: string[]) => [
    ...new Set(list.map((id) => findModel(config.catalog, id)?.id ?? id).filter((id) => id !== m.id)),
  ];
  const known = (list: string[]) => list.filter((id) => findModel(config.catalog, id));
  if (input.fallbacks) return { source: 'request', models: ids(input.fallbacks), skipped: [] };
  const configured = config.fallback.chains?.[m.id];
  // Validated against the catalog when stored; a model removed since is left out, not an error here.
  if (configured) return { source: 'config', models: ids(known(configured)), skipped: [] };
  if (m.fallbacks) return { source: 'catalog', models: ids(known(m.fallbacks)), skipped: [] };
  return undefined;
}

/** A named model's fallback chain, by where it comes from, as the strict-mode note names it. */
const UNUSED_CHAIN: Record<NonNullable<RouteDecision['chain']>['source'], string> = {
  request: "the request's fallback chain (models)",
  config: 'the configured fallback chain (fallback.chains)',
  catalog: "the catalog model's fallback chain (fallbacks)",
};

/**
 * A named model with no substitution (`X-Switchyard-Substitution: none`, or the tenant's default):
 * the chain is that model alone, or empty when a filter removed it (the workflow then ends the
 * request naming the model and the filter). No override, rule or strategy adds another model.
 */
function strictDecision(
  m: Model,
  rejected: RouteDecision['rejected'],
  strategy: RouteDecision['strategy'],
  substitution: NonNullable<RouteDecision['substitution']>,
  estimatedCostUsd: number,
  health: HealthView,
  chain?: RouteDecision['chain'],
): RouteDecision {
  const why = rejected.find((r) => r.modelId === m.id);
  const by = substitution.source === 'request' ? 'the request' : "the tenant's default";
  const notes = [`substitution none (${by}): only ${m.id} may answer`];
  // Whichever chain the model would have had (the request's, the configuration's, the catalog's).
  if (chain) notes.push(`${UNUSED_CHAIN[chain.source]} is not used: substitution none`);
  if (why) notes.push(`requested ${m.id} removed by ${why.filter} (${why.reason}); not substituted`);
  const cooling = why?.filter === 'breaker-open' ? health.blocked?.[m.id]?.until : undefined;
  return {
    candidates: why
      ? []
      : [
          {
            modelId: m.id,
            provider: m.provider,
            model: m.model,
            step: 'requested',
            reason: 'requested by the client (no substitution)',
            estimatedCostUsd,
          },
        ],
    rejected,
    strategy,
    notes,
    summary: why
      ? `no candidate left: ${m.id} removed by ${why.filter} (${why.reason}), substitution none`
      : `${m.id} (requested by the client, substitution none)`,
    substitution,
    ...(cooling && { retryAt: cooling }),
  };
}
