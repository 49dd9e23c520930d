/**
 * Analytics (seeds 000, 001, 002): `GET /v1/analytics` (usage, cost, latency percentiles,
 * fallback and cache-hit rates by day, provider, model, tenant and operation), `GET /v1/stats` (the last 24
 * hours in short) and `GET /v1/analytics/variants` (a weighted rule's targets compared, with
 * significance tests). Computed in SQL from the request records; a tenant sees its own, an
 * operator every tenant's (or one, with `tenant`).
 */
import type { Request } from 'express';
import { z } from 'zod';
import type { Db } from '../../db';
import { GROUPS, usage, variantRows, type AnalyticsRow, type Group } from '../../db/analytics';
import { compareVariants } from '../../domain/stats';
import { tenantFilterOf, tenantInScope } from '../auth';
import { routeSpecs } from '../routeSpec';
import { validate } from '../validate';

const DAY_MS = 86_400_000;
const isoTime = z.iso.datetime({ offset: true }).or(z.iso.date());

export const AnalyticsQuery = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    group_by: z
      .string()
      .regex(
        /^(day|provider|model|tenant|operation)(,(day|provider|model|tenant|operation))*$/,
        `a comma-separated list of ${Object.keys(GROUPS).join(', ')}`,
      )
      .optional(),
    tenant: z.string().min(1).optional(),
  })
  .strict();

export const VariantsQuery = AnalyticsQuery.omit({ group_by: true }).extend({ rule: z.string().min(1) });

/** The window and the tenant a query may see. */
function scopeOf(req: Request, q: { from?: string; to?: string; tenant?: string }) {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 7 * DAY_MS);
  const tenant = q.tenant !== undefined ? tenantInScope(req, q.tenant) : tenantFilterOf(req);
  return { from, to, tenant };
}

const shaped = (r: AnalyticsRow) => {
  const { p50_ms, p95_ms, p99_ms, ...rest } = r;
  return { ...rest, latency_ms: { p50: p50_ms, p95: p95_ms, p99: p99_ms } };
};

export const analyticsRoutes = routeSpecs<{ db: Db }>([
  {
    method: 'get',
    path: '/v1/analytics',
    summary: 'Usage, cost, latency percentiles, fallback and cache-hit rates by day, provider, model, tenant',
    tag: 'analytics',
    role: 'member',
    query: AnalyticsQuery,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const q = validate(AnalyticsQuery, req.query);
      const scope = scopeOf(req, q);
      const groupBy = (q.group_by ?? 'day,provider,model').split(',') as Group[];
      const rows = await usage(deps.db, { ...scope, groupBy: [...new Set(groupBy)] });
      res.json({
        object: 'analytics',
        from: scope.from.toISOString(),
        to: scope.to.toISOString(),
        tenant: scope.tenant ?? null,
        group_by: groupBy,
        data: rows.map(shaped),
      });
    },
  },

  {
    method: 'get',
    path: '/v1/stats',
    summary: 'The last 24 hours in short',
    tag: 'analytics',
    role: 'member',
    errors: [401],
    handle: async (deps, req, res) => {
      const to = new Date();
      const scope = { from: new Date(to.getTime() - DAY_MS), to, tenant: tenantFilterOf(req) };
      const [total, byModel] = await Promise.all([
        usage(deps.db, { ...scope, groupBy: [] }),
        usage(deps.db, { ...scope, groupBy: ['model'] }),
      ]);
      res.json({
        object: 'stats',
        window: 'last_24h',
        tenant: scope.tenant ?? null,
        ...shaped(total[0]!),
        top_models: byModel
          .sort((a, b) => b.requests - a.requests)
          .slice(0, 5)
          .map((m) => ({ model: m.model, requests: m.requests, cost_usd: m.cost_usd })),
      });
    },
  },

  {
    method: 'get',
    path: '/v1/analytics/variants',
    summary: "A weighted rule's targets compared, with significance tests",
    tag: 'analytics',
    role: 'member',
    query: VariantsQuery,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const q = validate(VariantsQuery, req.query);
      const scope = scopeOf(req, q);
      const rows = await variantRows(deps.db, { rule: q.rule, ...scope });
      const { control, variants } = compareVariants(rows);
      res.json({
        object: 'analytics.variants',
        rule: q.rule,
        from: scope.from.toISOString(),
        to: scope.to.toISOString(),
        control,
        data: variants,
      });
    },
  },
]);
