/**
 * Budgets over HTTP. `GET /v1/budgets`: the caller's tenant (and, with `?user=` or
 * `X-Switchyard-User`, that user): limits, spent, reserved, remaining and reset time per window,
 * and whether the window's alert was raised. Admin: `GET/PUT/DELETE /v1/admin/tenants/{id}/budget`
 * set a tenant's limits (a new configuration version, like every admin change).
 */
import { z } from 'zod';
import { budgetStateFor } from '../../services/budgetOperations';
import type { ConfigStore } from '../../services/configStore';
import type { Db } from '../../db';
import { listAlerts } from '../../db/budgetLedger';
import { listAlertRows } from '../../db/alerts';
import { budgetSubject } from '../../domain/alerts';
import { TenantBudgetSchema, type TenantBudget } from '../../domain/budget';
import { TenantPolicySchema } from '../../domain/config';
import { recordAudit } from '../../db/audit';
import { actorOf, authOf, tenantFromPath } from '../auth';
import { windowJson } from '../budgetJson';
import { HttpError } from '../errors';
import { expectedVersion, tagVersion } from '../ifMatch';
import { ADMIN_ERRORS, CONFIG_WRITE_ERRORS, routeSpecs } from '../routeSpec';
import { validate } from '../validate';

const Query = z.object({ user: z.string().min(1).max(256).optional() }).strict();

async function budgetReport(deps: { db: Db; configStore: ConfigStore }, tenantId: string, userId: string | undefined) {
  const { config, version } = deps.configStore.current();
  const budget = config.tenants[tenantId]?.budget;
  const state = await budgetStateFor(deps.db, config, { tenantId, userId }, Date.now());
  const alerts = state ? await listAlerts(deps.db, tenantId) : [];
  // The windows' alert episodes (threshold, exhausted), for the console's "alerts sent".
  const episodes = state
    ? await listAlertRows(deps.db, {
        status: 'all',
        kinds: ['budget_threshold', 'budget_exhausted'],
        tenantId,
        limit: 200,
      })
    : [];
  const limitsOf = (scope: string) => state?.scopes.find((s) => s.scope === scope)?.limits;
  return {
    object: 'budget',
    tenant_id: tenantId,
    user_id: userId ?? null,
    config_version: version,
    alert_threshold: budget?.alertThreshold ?? null,
    per_request_limit_usd: state?.view.perRequestUsd ?? null,
    windows: (state?.windows ?? []).map((w) => ({
      ...windowJson(w),
      alerted: alerts.some((a) => a.scope === w.scope && a.period === w.period && a.windowStart === w.windowStart),
      alerts: episodes
        .filter((e) => e.subject === budgetSubject({ ...w, windowStart: new Date(w.windowStart).toISOString() }))
        .map((e) => ({
          id: e.id,
          kind: e.kind,
          status: e.resolved_at ? 'resolved' : 'open',
          opened_at: new Date(e.opened_at).toISOString(),
        })),
    })),
    // Per scope, only the limits themselves (the tenant's entry also holds its per-user settings).
    limits: state
      ? Object.fromEntries(
          state.scopes.map((s) => {
            const l = limitsOf(s.scope)!;
            return [
              s.scope,
              {
                per_request_usd: l.perRequestUsd ?? null,
                daily_usd: l.dailyUsd ?? null,
                weekly_usd: l.weeklyUsd ?? null,
                monthly_usd: l.monthlyUsd ?? null,
              },
            ];
          }),
        )
      : null,
  };
}

export const budgetRoutes = routeSpecs<{ db: Db; configStore: ConfigStore }>([
  {
    method: 'get',
    path: '/v1/budgets',
    summary: 'Your budget windows',
    tag: 'budgets',
    role: 'member',
    errors: [400, 401],
    handle: async (deps, req, res) => {
      const { tenantId } = authOf(req);
      const q = validate(Query, req.query);
      res.json(await budgetReport(deps, tenantId, q.user ?? req.header('x-switchyard-user') ?? undefined));
    },
  },

  {
    method: 'get',
    path: '/v1/admin/tenants/:id/budget',
    summary: "A tenant's budget",
    tag: 'budgets',
    role: 'admin',
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const q = validate(Query, req.query);
      const id = tenantFromPath(req);
      const v = await deps.configStore.refresh();
      tagVersion(res, v.version);
      res.json({ budget: v.config.tenants[id]?.budget ?? null, usage: await budgetReport(deps, id, q.user) });
    },
  },

  {
    method: 'put',
    path: '/v1/admin/tenants/:id/budget',
    summary: "Set a tenant's budget",
    tag: 'budgets',
    role: 'admin',
    body: TenantBudgetSchema,
    errors: CONFIG_WRITE_ERRORS,
    handle: async (deps, req, res) => {
      const budget = validate(TenantBudgetSchema, req.body);
      const id = tenantFromPath(req);
      // The change runs on the latest version (again after a conflict): only this tenant's budget
      // changes, whatever else was written meanwhile.
      const seen: { before?: TenantBudget } = {};
      const v = await deps.configStore.update((c) => {
        seen.before = c.tenants[id]?.budget;
        return {
          ...c,
          tenants: { ...c.tenants, [id]: { ...(c.tenants[id] ?? TenantPolicySchema.parse({})), budget } },
        };
      }, expectedVersion(req));
      await recordAudit(deps.db, {
        actor: actorOf(req),
        tenantId: id,
        action: 'budget.set',
        target: id,
        before: seen.before,
        after: budget,
      });
      res.json({ tenant_id: id, budget, config_version: v.version });
    },
  },

  {
    method: 'delete',
    path: '/v1/admin/tenants/:id/budget',
    summary: "Remove a tenant's budget",
    tag: 'budgets',
    role: 'admin',
    errors: CONFIG_WRITE_ERRORS,
    handle: async (deps, req, res) => {
      const id = tenantFromPath(req);
      const seen: { before?: TenantBudget } = {};
      const v = await deps.configStore.update((c) => {
        seen.before = c.tenants[id]?.budget;
        if (!seen.before) throw HttpError.notFound(`Tenant '${id}' has no budget.`, { param: 'id', code: 'not_found' });
        const { budget: _removed, ...rest } = c.tenants[id]!;
        return { ...c, tenants: { ...c.tenants, [id]: rest as (typeof c.tenants)[string] } };
      }, expectedVersion(req));
      await recordAudit(deps.db, {
        actor: actorOf(req),
        tenantId: id,
        action: 'budget.delete',
        target: id,
        before: seen.before,
      });
      res.json({ tenant_id: id, deleted: true, config_version: v.version });
    },
  },
]);
