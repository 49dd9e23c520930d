/**
 * What a tenant's admin may change in its policy: it may narrow what the tenant may use, never
 * widen it past what is in force (which an operator set). Residency and compliance may only be
 * added, allow-lists only shrink (or appear), exclusions only grow. Strategy and budget are the
 * tenant's own choice.
 */
import type { TenantPolicy } from './config';

const subset = (after: string[] | undefined, before: string[] | undefined) =>
  before === undefined || (after !== undefined && after.every((x) => before.includes(x)));

export interface Widening {
  /** The field that widens. */
  param: string;
  why: string;
}

/** Where `after` widens `before` (the first place found), or undefined when it only narrows. */
export function widening(before: TenantPolicy | undefined, after: TenantPolicy): Widening | undefined {
  const widened = (param: string, why: string): Widening => ({ param, why });
  if (!before) return undefined;
  if (before.region !== undefined && after.region !== before.region)
    return widened('region', `the region is ${before.region}`);
  const lost = before.compliance.filter((c) => !after.compliance.includes(c));
  if (lost.length) return widened('compliance', `${lost.join(', ')} cannot be dropped`);
  if (!subset(after.allowedModels, before.allowedModels))
    return widened('allowedModels', 'only models already allowed may be listed');
  if (!subset(after.allowedProviders, before.allowedProviders))
    return widened('allowedProviders', 'only providers already allowed may be listed');
  const unexcluded = before.excludedProviders.filter((p) => !after.excludedProviders.includes(p));
  if (unexcluded.length) return widened('excludedProviders', `${unexcluded.join(', ')} stay excluded`);
  for (const k of ['requestsPerMinute', 'maxConcurrent'] as const) {
    const was = before.limits?.[k];
    const now = after.limits?.[k];
    if (was !== undefined && (now === undefined || now > was)) return widened(`limits.${k}`, `at most ${was}`);
  }
  for (const [name, w] of Object.entries(before.workspaces)) {
    const next = after.workspaces[name];
    if (!next) return widened(`workspaces.${name}`, `workspace ${name}'s restrictions cannot be removed`);
    if (!subset(next.allowedModels, w.allowedModels) || !subset(next.allowedProviders, w.allowedProviders))
      return widened(`workspaces.${name}`, 'only what is already allowed may be listed');
    if (w.excludedProviders.some((p) => !next.excludedProviders.includes(p)))
      return widened(`workspaces.${name}.excludedProviders`, 'exclusions stay');
  }
  return undefined;
}
