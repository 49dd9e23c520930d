/**
 * The routing policy: `decide(input, classification, config, health, budget) → RouteDecision`.
 * Pure and deterministic — no clock, no randomness of its own (time and the split seed come in
 * the input) — so a recorded decision can be replayed against another configuration.
 *
 * Order of evaluation:
 *   1. hard filters, each with a name: a model removed here is never a candidate, whatever follows;
 *   2. an explicitly requested model leads (if it passed the filters);
 *   3. for `auto`: overrides, most specific first (user > workspace > tenant, unexpired);
 *   4. else the first matching rule (conditions on request attributes; ordered or weighted targets);
 *   5. the rest ranked by the strategy; the fallback chain prefers providers not yet in it.
 */
import { findModel, type Model } from '../catalog';
import type { Classification } from '../classify';
import type { SwitchyardConfig } from '../config';
import { effective, estimateCost, hardFilter, summarizeRejections } from './filters';
import { findOverride } from './overrides';
import { rank, resolveStrategy } from './ranking';
import { conditionHolds, ruleOrder } from './rules';
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
): RouteDecision {
  const catalog = config.catalog;
  const e = effective(input, config);
  const estimate = (m: Model) => estimateCost(m, c.inputTokens, input.maxOutputTokens, input.capability);
  const rejected: RouteDecision['rejected'] = [];
  const eligible: Model[] = [];
  for (const m of catalog.models) {
    const r = hardFilter(m, input, c, e, health, budget);
    if (r) rejected.push({ modelId: m.id, ...r });
    else eligible.push(m);
  }

  const notes: string[] = [];
  let strategy = resolveStrategy(input.context.strategy ?? e.tenant?.strategy ?? config.routing.defaultStrategy, c);
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
  if (!auto) {
    const requested = findModel(catalog, input.requestedModel);
    if (!requested) throw new UnknownModelError(`The model '${input.requestedModel}' does not exist in the catalog.`);
    // The request's own choice wins over its tenant's default; `auto` requests never get here.
    const mode = input.context.substitution ?? e.tenant?.substitution ?? 'allowed';
    if (mode === 'none') {
      const source = input.context.substitution ? 'request' : 'tenant';
      substitution = { mode, source, modelId: requested.id };
      return strictDecision(requested, rejected, strategy, substitution, estimate(requested), health);
    }
    const ok = isEligible(requested.id);
    if (ok) preferred.push({ m: ok, step: 'requested', reason: 'requested by the client' });
    else {
      const why = rejected.find((r) => r.modelId === requested.id)!;
      notes.push(`requested ${requested.id} removed by ${why.filter} (${why.reason}); routed as auto`);
      auto = true;
    }
  }

  if (auto) {
    const o = findOverride(input, config);
    const target = o ? isEligible(o.model) : undefined;
    if (o && target) {
      override = { id: o.id, scope: o.scope, subject: o.subject, ...(o.expiresAt && { expiresAt: o.expiresAt }) };
      preferred.push({
        m: target,
        step: 'override',
        reason: `${o.scope} override ${o.id}${o.reason ? ` (${o.reason})` : ''}`,
      });
    } else if (o) {
      notes.push(
        `override ${o.id} skipped: ${o.model} removed by ${rejected.find((r) => r.modelId === o.model)?.filter ?? 'a filter'}`,
      );
    }
    if (!target) {
      const rules = config.rules
        // A tenant's own rules apply to its requests only.
        .filter((r) => r.enabled && (r.tenantId === undefined || r.tenantId === input.context.tenantId))
        .sort((a, b) => a.priority - b.priority || a.id.localeCompare(b.id));
      for (const rule of rules) {
        if (!rule.when.every((cond) => conditionHolds(cond, input, c))) continue;
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
        break;
      }
    }
  }

  // The chain: preferred models first, then the strategy's ranking, other providers before more of the same.
  const max = config.fallback.maxCandidates;
  const chain: Candidate[] = [];
  const add = (m: Model, step: CandidateStep, reason: string) => {
    if (chain.length < max && !chain.some((x) => x.modelId === m.id))
      chain.push({ modelId: m.id, provider: m.provider, model: m.model, step, reason, estimatedCostUsd: estimate(m) });
  };
  for (const p of preferred) add(p.m, p.step, p.reason);
  const ranked = rank(eligible, strategy, estimate, config, input.requestId);
  if (chain.length === 0 && ranked[0])
    add(
      ranked[0],
      'strategy',
      `strategy ${strategy}${input.context.strategy || e.tenant?.strategy ? '' : ` (${c.complexity} task)`}`,
    );
  const used = () => new Set(chain.map((x) => x.provider));
  for (const m of ranked)
    if (!used().has(m.provider)) add(m, 'fallback', `fallback: other provider, next by ${strategy}`);
  for (const m of ranked) add(m, 'fallback', `fallback: next by ${strategy}`);

  const summary = chain.length
    ? `${chain[0]!.modelId} (${chain[0]!.reason})${
        chain.length > 1
          ? `; fallbacks ${chain
              .slice(1)
              .map((x) => x.modelId)
              .join(', ')}`
          : ''
      }`
    : `no candidate left: ${summarizeRejections(rejected)}`;
  const cooling =
    chain.length === 0
      ? rejected
          .filter((r) => r.filter === 'breaker-open')
          .map((r) => health.blocked![r.modelId]!.until)
          .sort()
      : [];
  return {
    candidates: chain,
    rejected,
    strategy,
    ...(override && { override }),
    ...(ruleInfo && { rule: ruleInfo }),
    notes,
    summary,
    ...(cooling[0] && { retryAt: cooling[0] }),
  };
}

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
): RouteDecision {
  const why = rejected.find((r) => r.modelId === m.id);
  const by = substitution.source === 'request' ? 'the request' : "the tenant's default";
  const notes = [`substitution none (${by}): only ${m.id} may answer`];
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
