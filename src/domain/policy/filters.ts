/**
 * Hard filters, each with a name: a model a filter removes is never a candidate, whatever the
 * overrides, rules or strategy say.
 */
import { costUsd, type Model } from '../catalog';
import type { Classification } from '../classify';
import type { SwitchyardConfig, TenantPolicy } from '../config';
import { reservationUsd, type BudgetView } from '../budget';
import type { FilterName, HealthView, PolicyInput, RouteDecision } from './types';

/** The worst-case cost of a call: all input tokens plus the full output cap. */
export function estimateCost(
  m: Model,
  inputTokens: number,
  maxOutputTokens: number,
  capability: 'chat' | 'embeddings',
): number {
  return costUsd(m, inputTokens, capability === 'embeddings' ? 0 : Math.min(maxOutputTokens, m.maxOutputTokens));
}

export interface Effective {
  region?: string;
  compliance: string[];
  excluded: Set<string>;
  tenant?: TenantPolicy;
}

export function effective(input: PolicyInput, config: SwitchyardConfig): Effective {
  const tenant = config.tenants[input.context.tenantId];
  const workspace = input.context.workspaceId ? tenant?.workspaces[input.context.workspaceId] : undefined;
  return {
    // A tenant's residency cannot be widened by a request; a request may set one where the tenant has none.
    region: tenant?.region ?? input.context.region,
    compliance: [...new Set([...(tenant?.compliance ?? []), ...input.context.compliance])],
    excluded: new Set([
      ...(tenant?.excludedProviders ?? []),
      ...(workspace?.excludedProviders ?? []),
      ...input.context.excludeProviders,
    ]),
    tenant,
  };
}

export function hardFilter(
  m: Model,
  input: PolicyInput,
  c: Classification,
  e: Effective,
  health: HealthView,
  budget: BudgetView,
): { filter: FilterName; reason: string; contextWindow?: number; neededTokens?: number } | undefined {
  const workspace = input.context.workspaceId ? e.tenant?.workspaces[input.context.workspaceId] : undefined;
  const estimate = estimateCost(m, c.inputTokens, input.maxOutputTokens, input.capability);
  if (m.status !== 'active') return { filter: 'status', reason: 'model is inactive' };
  if (!m.capabilities.includes(input.capability))
    return { filter: 'capability', reason: `no ${input.capability} capability` };
  if (input.needsTools && !m.capabilities.includes('tools'))
    return { filter: 'capability', reason: 'no tools capability (the request offers tools)' };
  if (input.needsVision && !m.capabilities.includes('vision'))
    return { filter: 'capability', reason: 'no vision capability (the request has images)' };
  if (input.needsJson && !m.capabilities.includes('json')) return { filter: 'json', reason: 'no JSON mode' };
  const needed =
    c.inputTokens + (input.capability === 'embeddings' ? 0 : Math.min(input.maxOutputTokens, m.maxOutputTokens));
  if (needed > m.contextWindow)
    return {
      filter: 'context-window',
      reason: `context window ${m.contextWindow} < ${needed} tokens needed`,
      contextWindow: m.contextWindow,
      neededTokens: needed,
    };
  if (e.region && !m.regions.includes(e.region as Model['regions'][number]))
    return { filter: 'residency', reason: `serves ${m.regions.join('/')}, request requires ${e.region}` };
  const missing = e.compliance.filter((t) => !m.compliance.includes(t as Model['compliance'][number]));
  if (missing.length) return { filter: 'compliance', reason: `lacks ${missing.join(', ')}` };
  if (e.tenant?.allowedModels && !e.tenant.allowedModels.includes(m.id))
    return { filter: 'tenant-allowlist', reason: `not in tenant ${input.context.tenantId}'s allowed models` };
  if (e.tenant?.allowedProviders && !e.tenant.allowedProviders.includes(m.provider))
    return {
      filter: 'tenant-allowlist',
      reason: `provider ${m.provider} not allowed for tenant ${input.context.tenantId}`,
    };
  if (workspace?.allowedModels && !workspace.allowedModels.includes(m.id))
    return { filter: 'workspace-allowlist', reason: `not in workspace ${input.context.workspaceId}'s allowed models` };
  if (workspace?.allowedProviders && !workspace.allowedProviders.includes(m.provider))
    return {
      filter: 'workspace-allowlist',
      reason: `provider ${m.provider} not allowed in workspace ${input.context.workspaceId}`,
    };
  if (e.excluded.has(m.provider)) return { filter: 'excluded-provider', reason: `provider ${m.provider} is excluded` };
  if (input.context.maxCostUsd !== undefined && estimate > input.context.maxCostUsd)
    return { filter: 'cost-cap', reason: `estimated $${estimate.toFixed(6)} > cap $${input.context.maxCostUsd}` };
  if (budget.remainingUsd !== undefined || budget.perRequestUsd !== undefined) {
    // The amount the call would reserve (worst case, with the tokenizer margin), not the estimate.
    const reserve = reservationUsd(m, c.inputTokens, input.maxOutputTokens, input.capability);
    if (budget.perRequestUsd !== undefined && reserve > budget.perRequestUsd)
      return {
        filter: 'budget',
        reason: `worst case $${reserve.toFixed(6)} > per-request limit $${budget.perRequestUsd}`,
      };
    if (budget.remainingUsd !== undefined && reserve > budget.remainingUsd)
      return {
        filter: 'budget',
        reason: `worst case $${reserve.toFixed(6)} > remaining budget $${budget.remainingUsd.toFixed(6)}`,
      };
  }
  const blocked = health.blocked?.[m.id];
  if (blocked && blocked.until > input.now) return { filter: 'breaker-open', reason: blocked.why };
  return undefined;
}

/** "residency removed a, b; compliance removed c": each filter and what it removed. */
export function summarizeRejections(rejected: RouteDecision['rejected']): string {
  const by = new Map<string, string[]>();
  for (const r of rejected) by.set(r.filter, [...(by.get(r.filter) ?? []), r.modelId]);
  return [...by].map(([f, ids]) => `${f} removed ${ids.join(', ')}`).join('; ');
}
