/**
 * What a tenant's admin may change in its policy: it may narrow what the tenant may use, never
 * widen it past what is in force (which an operator set). Residency and compliance may only be
 * added, allow-lists only shrink (or appear), exclusions only grow. Strategy and budget are the
 * tenant's own choice.
 */
import type { TenantPolicy } from '../domain/config';
import { HttpError } from './errors';

const subset = (after: string[] | undefined, before: string[] | undefined) =>
  before === undefined || (after !== undefined && after.every((x) => before.includes(x)));

export function assertNarrower(before: TenantPolicy | undefined, after: TenantPolicy): void {
  const widened = (param: string, why: string) =>
    HttpError.forbidden(`An admin may narrow the tenant's policy, not widen it: ${why}. Ask an operator.`, {
      param,
      code: 'policy_widening',
    });
  if (!before) return;
  if (before.region !== undefined && after.region !== before.region)
    throw widened('region', `the region is ${before.region}`);
  const lost = before.compliance.filter((c) => !after.compliance.includes(c));
  if (lost.length) throw widened('compliance', `${lost.join(', ')} cannot be dropped`);
  if (!subset(after.allowedModels, before.allowedModels))
    throw widened('allowedModels', 'only models already allowed may be listed');
  if (!subset(after.allowedProviders, before.allowedProviders))
    throw widened('allowedProviders', 'only providers already allowed may be listed');
  const unexcluded = before.excludedProviders.filter((p) => !after.excludedProviders.includes(p));
  if (unexcluded.length) throw widened('excludedProviders', `${unexcluded.join(', ')} stay excluded`);
  for (const k of ['requestsPerMinute', 'maxConcurrent'] as const) {
    const was = before.limits?.[k];
    const now = after.limits?.[k];
    if (was !== undefined && (now === undefined || now > was)) throw widened(`limits.${k}`, `at most ${was}`);
  }
  for (const [name, w] of Object.entries(before.workspaces)) {
    const next = after.workspaces[name];
    if (!next) throw widened(`workspaces.${name}`, `workspace ${name}'s restrictions cannot be removed`);
    if (!subset(next.allowedModels, w.allowedModels) || !subset(next.allowedProviders, w.allowedProviders))
      throw widened(`workspaces.${name}`, 'only what is already allowed may be listed');
    if (w.excludedProviders.some((p) => !next.excludedProviders.includes(p)))
      throw widened(`workspaces.${name}.excludedProviders`, 'exclusions stay');
  }
}
