/** Overrides pin a tenant, workspace or user to a model until they expire. */
import type { Override, SwitchyardConfig } from '../config';
import type { PolicyInput } from './types';

/**
 * The unexpired override for this request, most specific first. `named`: the request names a
 * model, and only overrides that apply to named models count (`appliesTo: named | any`).
 */
export function findOverride(input: PolicyInput, config: SwitchyardConfig, named = false): Override | undefined {
  const scoped = (o: Override) => {
    const s = o.appliesTo ?? 'auto';
    return s === 'any' || (named ? s === 'named' : s === 'auto');
  };
  const live = config.overrides.filter(
    (o) => scoped(o) && (!o.expiresAt || Date.parse(o.expiresAt) > Date.parse(input.now)),
  );
  const ctx = input.context;
  return (
    (ctx.userId
      ? live.find((o) => o.scope === 'user' && o.subject === ctx.userId && o.tenantId === ctx.tenantId)
      : undefined) ??
    (ctx.workspaceId
      ? live.find((o) => o.scope === 'workspace' && o.subject === ctx.workspaceId && o.tenantId === ctx.tenantId)
      : undefined) ??
    live.find((o) => o.scope === 'tenant' && o.subject === ctx.tenantId)
  );
}
