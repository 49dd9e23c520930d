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
import { z } from 'zod';
import { costUsd, findModel, type Model } from './catalog';
import type { Classification } from './classify';
import { RegionSchema, StrategySchema, type Condition, type Override, type Rule, type Strategy, type SwitchyardConfig, type TenantPolicy } from './config';
import { ComplianceSchema } from './catalog';
import { reservationUsd, type BudgetView } from './budget';

export const AUTO_MODELS = new Set(['auto', 'switchyard/auto']);

/** The request attributes routing may look at (from headers and the body's metadata). */
export const RouteContextSchema = z.object({
  tenantId: z.string(),
  workspaceId: z.string().max(200).optional(),
  userId: z.string().max(256).optional(),
  region: RegionSchema.optional(),
  compliance: z.array(ComplianceSchema).default([]),
  agentType: z.string().max(100).optional(),
  subject: z.string().max(100).optional(),
  gradeBand: z.string().max(50).optional(),
  strategy: StrategySchema.optional(),
  maxCostUsd: z.number().positive().optional(),
  excludeProviders: z.array(z.string()).default([]),
  metadata: z.record(z.string(), z.string()).default({}),
});
export type RouteContext = z.infer<typeof RouteContextSchema>;

export interface PolicyInput {
  /** Seeds weighted splits and round-robin: the same request always routes the same way. */
  requestId: string;
  requestedModel: string;
  operation: string;
  capability: 'chat' | 'embeddings';
  maxOutputTokens: number;
  needsJson: boolean;
  context: RouteContext;
  /** ISO time the decision is made at (override expiry). */
  now: string;
}

/** Breakers that block an endpoint: model id → until when (ISO) and why. Half-open endpoints are not blocked (they take probes). */
export interface HealthView {
  blocked?: Record<string, { until: string; why: string }>;
}

export type { BudgetView } from './budget';

export const FILTERS = ['status', 'capability', 'json', 'context-window', 'residency', 'compliance', 'tenant-allowlist', 'workspace-allowlist', 'excluded-provider', 'cost-cap', 'budget', 'breaker-open'] as const;
export type FilterName = (typeof FILTERS)[number];

export type CandidateStep = 'requested' | 'override' | 'rule' | 'strategy' | 'fallback';

export interface Candidate {
  modelId: string;
  provider: string;
  model: string;
  step: CandidateStep;
  reason: string;
  estimatedCostUsd: number;
}

export interface RouteDecision {
  candidates: Candidate[];
  rejected: Array<{ modelId: string; filter: FilterName; reason: string }>;
  strategy: Exclude<Strategy, 'auto'>;
  override?: { id: string; scope: Override['scope']; subject: string; expiresAt?: string };
  rule?: { id: string; name?: string; picked?: string };
  notes: string[];
  summary: string;
  /** With no candidate left but models only cooling down: when the first of them reopens for probes. */
  retryAt?: string;
}

export class UnknownModelError extends Error {
  override name = 'UnknownModelError';
}

/**
 * A stable fraction in [0, 1) from a string, for splits and round-robin without randomness:
 * FNV-1a, then murmur3's finalizer (FNV alone leaves similar keys' high bits close together).
 */
export function stableFraction(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** The worst-case cost of a call: all input tokens plus the full output cap. */
export function estimateCost(m: Model, inputTokens: number, maxOutputTokens: number, capability: 'chat' | 'embeddings'): number {
  return costUsd(m, inputTokens, capability === 'embeddings' ? 0 : Math.min(maxOutputTokens, m.maxOutputTokens));
}

interface Effective {
  region?: string;
  compliance: string[];
  excluded: Set<string>;
  tenant?: TenantPolicy;
}

function effective(input: PolicyInput, config: SwitchyardConfig): Effective {
  const tenant = config.tenants[input.context.tenantId];
  const workspace = input.context.workspaceId ? tenant?.workspaces[input.context.workspaceId] : undefined;
  return {
    // A tenant's residency cannot be widened by a request; a request may set one where the tenant has none.
    region: tenant?.region ?? input.context.region,
    compliance: [...new Set([...(tenant?.compliance ?? []), ...input.context.compliance])],
    excluded: new Set([...(tenant?.excludedProviders ?? []), ...(workspace?.excludedProviders ?? []), ...input.context.excludeProviders]),
    tenant,
  };
}

function hardFilter(m: Model, input: PolicyInput, c: Classification, e: Effective, health: HealthView, budget: BudgetView): { filter: FilterName; reason: string } | undefined {
  const workspace = input.context.workspaceId ? e.tenant?.workspaces[input.context.workspaceId] : undefined;
  const estimate = estimateCost(m, c.inputTokens, input.maxOutputTokens, input.capability);
  if (m.status !== 'active') return { filter: 'status', reason: 'model is inactive' };
  if (!m.capabilities.includes(input.capability)) return { filter: 'capability', reason: `no ${input.capability} capability` };
  if (input.needsJson && !m.capabilities.includes('json')) return { filter: 'json', reason: 'no JSON mode' };
  const needed = c.inputTokens + (input.capability === 'embeddings' ? 0 : Math.min(input.maxOutputTokens, m.maxOutputTokens));
  if (needed > m.contextWindow) return { filter: 'context-window', reason: `context window ${m.contextWindow} < ${needed} tokens needed` };
  if (e.region && !m.regions.includes(e.region as Model['regions'][number])) return { filter: 'residency', reason: `serves ${m.regions.join('/')}, request requires ${e.region}` };
  const missing = e.compliance.filter((t) => !m.compliance.includes(t as Model['compliance'][number]));
  if (missing.length) return { filter: 'compliance', reason: `lacks ${missing.join(', ')}` };
  if (e.tenant?.allowedModels && !e.tenant.allowedModels.includes(m.id)) return { filter: 'tenant-allowlist', reason: `not in tenant ${input.context.tenantId}'s allowed models` };
  if (e.tenant?.allowedProviders && !e.tenant.allowedProviders.includes(m.provider)) return { filter: 'tenant-allowlist', reason: `provider ${m.provider} not allowed for tenant ${input.context.tenantId}` };
  if (workspace?.allowedModels && !workspace.allowedModels.includes(m.id)) return { filter: 'workspace-allowlist', reason: `not in workspace ${input.context.workspaceId}'s allowed models` };
  if (workspace?.allowedProviders && !workspace.allowedProviders.includes(m.provider)) return { filter: 'workspace-allowlist', reason: `provider ${m.provider} not allowed in workspace ${input.context.workspaceId}` };
  if (e.excluded.has(m.provider)) return { filter: 'excluded-provider', reason: `provider ${m.provider} is excluded` };
  if (input.context.maxCostUsd !== undefined && estimate > input.context.maxCostUsd) return { filter: 'cost-cap', reason: `estimated $${estimate.toFixed(6)} > cap $${input.context.maxCostUsd}` };
  if (budget.remainingUsd !== undefined || budget.perRequestUsd !== undefined) {
    // The amount the call would reserve (worst case, with the tokenizer margin), not the estimate.
    const reserve = reservationUsd(m, c.inputTokens, input.maxOutputTokens, input.capability);
    if (budget.perRequestUsd !== undefined && reserve > budget.perRequestUsd) return { filter: 'budget', reason: `worst case $${reserve.toFixed(6)} > per-request limit $${budget.perRequestUsd}` };
    if (budget.remainingUsd !== undefined && reserve > budget.remainingUsd) return { filter: 'budget', reason: `worst case $${reserve.toFixed(6)} > remaining budget $${budget.remainingUsd.toFixed(6)}` };
  }
  const blocked = health.blocked?.[m.id];
  if (blocked && blocked.until > input.now) return { filter: 'breaker-open', reason: blocked.why };
  return undefined;
}

/** The value a rule condition reads from the request. */
function attribute(field: string, input: PolicyInput, c: Classification): string | number | undefined {
  if (field.startsWith('metadata.')) return input.context.metadata[field.slice('metadata.'.length)];
  switch (field) {
    case 'operation':
      return input.operation;
    case 'taskType':
      return c.taskType;
    case 'complexity':
      return c.complexity;
    case 'inputTokens':
      return c.inputTokens;
    default:
      return (input.context as Record<string, unknown>)[field] as string | undefined;
  }
}

const norm = (v: string | number) => (typeof v === 'string' ? v.toLowerCase() : v);

export function conditionHolds(cond: Condition, input: PolicyInput, c: Classification): boolean {
  const actual = attribute(cond.field, input, c);
  if (actual === undefined) return cond.op === 'ne' || cond.op === 'nin';
  const list = Array.isArray(cond.value) ? cond.value.map(norm) : [];
  switch (cond.op) {
    case 'eq':
      return norm(actual) === norm(cond.value as string | number);
    case 'ne':
      return norm(actual) !== norm(cond.value as string | number);
    case 'in':
      return list.includes(norm(actual));
    case 'nin':
      return !list.includes(norm(actual));
    case 'gt':
      return Number(actual) > Number(cond.value);
    case 'gte':
      return Number(actual) >= Number(cond.value);
    case 'lt':
      return Number(actual) < Number(cond.value);
    case 'lte':
      return Number(actual) <= Number(cond.value);
    case 'contains':
      return String(actual).toLowerCase().includes(String(cond.value).toLowerCase());
    case 'matches':
      return new RegExp(String(cond.value), 'i').test(String(actual));
  }
}

/** The unexpired override for this request, most specific first. */
function findOverride(input: PolicyInput, config: SwitchyardConfig): Override | undefined {
  const live = config.overrides.filter((o) => !o.expiresAt || Date.parse(o.expiresAt) > Date.parse(input.now));
  const ctx = input.context;
  return (
    (ctx.userId ? live.find((o) => o.scope === 'user' && o.subject === ctx.userId && o.tenantId === ctx.tenantId) : undefined) ??
    (ctx.workspaceId ? live.find((o) => o.scope === 'workspace' && o.subject === ctx.workspaceId && o.tenantId === ctx.tenantId) : undefined) ??
    live.find((o) => o.scope === 'tenant' && o.subject === ctx.tenantId)
  );
}

/** A rule's targets in the order it prefers them: listed order, or one picked by weight first. */
function ruleOrder(rule: Rule, eligible: Model[], input: PolicyInput): { models: Model[]; picked?: string } {
  const targets = rule.targets.flatMap((t) => {
    const m = eligible.find((x) => x.id === t.model);
    return m ? [{ m, weight: t.weight ?? 1 }] : [];
  });
  const weighted = (rule.split ?? (rule.targets.some((t) => t.weight !== undefined) ? 'weighted' : 'ordered')) === 'weighted';
  if (!weighted || targets.length < 2) return { models: targets.map((t) => t.m) };
  const key = rule.sticky && input.context.userId ? `${rule.id}:user:${input.context.userId}` : `${rule.id}:request:${input.requestId}`;
  const total = targets.reduce((s, t) => s + t.weight, 0);
  let point = stableFraction(key) * total;
  let pick = targets[targets.length - 1]!;
  for (const t of targets) {
    if (point < t.weight) {
      pick = t;
      break;
    }
    point -= t.weight;
  }
  const rest = targets.filter((t) => t !== pick).sort((a, b) => b.weight - a.weight);
  return { models: [pick.m, ...rest.map((t) => t.m)], picked: pick.m.id };
}

function resolveStrategy(s: Strategy, c: Classification): Exclude<Strategy, 'auto'> {
  if (s !== 'auto') return s;
  return c.complexity === 'simple' ? 'cost' : c.complexity === 'complex' ? 'quality' : 'balanced';
}

/** Ranks eligible models by the strategy, best first. */
export function rank(models: Model[], strategy: Exclude<Strategy, 'auto'>, estimate: (m: Model) => number, config: SwitchyardConfig, seed: string): Model[] {
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
      const score = (m: Model) => (w.quality * (m.qualityTier - 1)) / 4 - (w.cost * estimate(m)) / maxCost - (w.latency * m.typicalLatencyMs) / maxLatency;
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

export function decide(input: PolicyInput, c: Classification, config: SwitchyardConfig, health: HealthView = {}, budget: BudgetView = {}): RouteDecision {
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
    notes.push(`budget near its limit ($${budget.remainingUsd?.toFixed(6)} left in ${budget.tightest?.period ?? 'a'} window): cheaper models first instead of ${strategy}`);
    strategy = 'cost';
  }
  const preferred: Array<{ m: Model; step: CandidateStep; reason: string }> = [];
  let override: RouteDecision['override'];
  let ruleInfo: RouteDecision['rule'];
  const isEligible = (id: string) => eligible.find((m) => m.id === id);

  let auto = AUTO_MODELS.has(input.requestedModel);
  if (!auto) {
    const requested = findModel(catalog, input.requestedModel);
    if (!requested) throw new UnknownModelError(`The model '${input.requestedModel}' does not exist in the catalog.`);
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
      preferred.push({ m: target, step: 'override', reason: `${o.scope} override ${o.id}${o.reason ? ` (${o.reason})` : ''}` });
    } else if (o) {
      notes.push(`override ${o.id} skipped: ${o.model} removed by ${rejected.find((r) => r.modelId === o.model)?.filter ?? 'a filter'}`);
    }
    if (!target) {
      const rules = config.rules.filter((r) => r.enabled).sort((a, b) => a.priority - b.priority || a.id.localeCompare(b.id));
      for (const rule of rules) {
        if (!rule.when.every((cond) => conditionHolds(cond, input, c))) continue;
        const { models, picked } = ruleOrder(rule, eligible, input);
        if (models.length === 0) {
          notes.push(`rule ${rule.id} matched but none of its targets passed the filters`);
          continue;
        }
        ruleInfo = { id: rule.id, ...(rule.name && { name: rule.name }), ...(picked && { picked }) };
        models.forEach((m, i) => preferred.push({ m, step: 'rule', reason: `rule ${rule.name ?? rule.id}${picked && i === 0 ? ' (weighted pick)' : i > 0 ? ` (target ${i + 1})` : ''}` }));
        break;
      }
    }
  }

  // The chain: preferred models first, then the strategy's ranking, other providers before more of the same.
  const max = config.fallback.maxCandidates;
  const chain: Candidate[] = [];
  const add = (m: Model, step: CandidateStep, reason: string) => {
    if (chain.length < max && !chain.some((x) => x.modelId === m.id)) chain.push({ modelId: m.id, provider: m.provider, model: m.model, step, reason, estimatedCostUsd: estimate(m) });
  };
  for (const p of preferred) add(p.m, p.step, p.reason);
  const ranked = rank(eligible, strategy, estimate, config, input.requestId);
  if (chain.length === 0 && ranked[0]) add(ranked[0], 'strategy', `strategy ${strategy}${input.context.strategy || e.tenant?.strategy ? '' : ` (${c.complexity} task)`}`);
  const used = () => new Set(chain.map((x) => x.provider));
  for (const m of ranked) if (!used().has(m.provider)) add(m, 'fallback', `fallback: other provider, next by ${strategy}`);
  for (const m of ranked) add(m, 'fallback', `fallback: next by ${strategy}`);

  const summary = chain.length
    ? `${chain[0]!.modelId} (${chain[0]!.reason})${chain.length > 1 ? `; fallbacks ${chain.slice(1).map((x) => x.modelId).join(', ')}` : ''}`
    : `no candidate left: ${summarizeRejections(rejected)}`;
  const cooling = chain.length === 0 ? rejected.filter((r) => r.filter === 'breaker-open').map((r) => health.blocked![r.modelId]!.until).sort() : [];
  return { candidates: chain, rejected, strategy, ...(override && { override }), ...(ruleInfo && { rule: ruleInfo }), notes, summary, ...(cooling[0] && { retryAt: cooling[0] }) };
}

/** "residency removed a, b; compliance removed c": each filter and what it removed. */
export function summarizeRejections(rejected: RouteDecision['rejected']): string {
  const by = new Map<string, string[]>();
  for (const r of rejected) by.set(r.filter, [...(by.get(r.filter) ?? []), r.modelId]);
  return [...by].map(([f, ids]) => `${f} removed ${ids.join(', ')}`).join('; ');
}
