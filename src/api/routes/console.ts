/**
 * The operator console's data (issue 25): `GET /v1/requests` (the request list, keyset-paged),
 * `GET /v1/analytics/series` (usage in time buckets), `GET /v1/providers/errors` (the last failed
 * provider calls, redacted) and the configuration's versions and their diff. Tenancy as everywhere:
 * a member or admin sees its own tenant (another's is 404), an operator every tenant or one.
 */
import type { Request } from 'express';
import { createTwoFilesPatch } from 'diff';
import YAML from 'yaml';
import { z } from 'zod';
import type { Db } from '../../db';
import { configAt } from '../../db/configVersions';
import {
  listConfigVersions,
  listRequests,
  providerErrors,
  series,
  SERIES_BY,
  type SeriesBy,
  type SeriesRow,
} from '../../db/console';

/** The window's total when it holds no request (SQL's empty grouping set answers no row then). */
const EMPTY_WINDOW: SeriesRow = {
  t: null,
  key: null,
  level: 'window',
  requests: 0,
  succeeded: 0,
  failed: 0,
  input_tokens: 0,
  output_tokens: 0,
  cost_usd: 0,
  p50_ms: null,
  p95_ms: null,
  p99_ms: null,
  fallback_rate: 0,
  cache_hit_rate: 0,
};
import {
  BUCKETS,
  bucketCount,
  decodeCursor,
  encodeCursor,
  MAX_BUCKETS,
  pickBucket,
  type Bucket,
} from '../../domain/consoleData';
import { redact } from '../../providers/redact';
import { tenantFilterOf, tenantInScope } from '../auth';
import { HttpError } from '../errors';
import { ADMIN_ERRORS, routeSpecs } from '../routeSpec';
import { validate } from '../validate';

const HOUR_MS = 3_600_000;
const isoTime = z.iso.datetime({ offset: true }).or(z.iso.date());
const name = z.string().min(1).max(256);

export const RequestListQuery = z
  .object({
    tenant: name.optional(),
    model: name.optional(),
    provider: name.optional(),
    status: z.enum(['received', 'running', 'succeeded', 'failed']).optional(),
    operation: name.optional(),
    user: name.optional(),
    batch: name.optional(),
    from: isoTime.optional(),
    to: isoTime.optional(),
    q: z.string().min(1).max(200).optional().describe('A request id or workflow id prefix'),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().min(1).max(2000).optional().describe("The previous page's next_cursor"),
  })
  .strict();

export const SeriesQuery = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    bucket: z.enum(['minute', 'hour', 'day', 'auto']).default('auto'),
    by: z.enum(Object.keys(SERIES_BY) as [SeriesBy, ...SeriesBy[]]).optional(),
    tenant: name.optional(),
    provider: name.optional(),
    model: name.optional(),
    operation: name.optional(),
    /** `true`: also `totals` — each bucket over every key, and the whole window (one scan for a dashboard). */
    totals: z.enum(['true', 'false']).optional(),
  })
  .strict();

export const ProviderErrorsQuery = z
  .object({
    provider: name.optional(),
    model: name.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

export const ConfigVersionsQuery = z
  .object({
    before: z.coerce.number().int().positive().optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();

const version = z.coerce.number().int().positive();
export const ConfigDiffQuery = z.object({ from: version, to: version }).strict();

/** The tenant a listing may see: the one asked for if the caller may (else 404), or the caller's (an operator: all). */
const tenantOf = (req: Request, tenant: string | undefined) =>
  tenant !== undefined ? tenantInScope(req, tenant) : tenantFilterOf(req);

/** A window whose end is not after its start is a mistake, not an empty answer. */
function windowOf(q: { from?: string; to?: string }, defaultSpanMs: number) {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - defaultSpanMs);
  if (from.getTime() >= to.getTime())
    throw HttpError.invalid('`from` must be before `to`.', { param: 'from', code: 'invalid_window' });
  return { from, to };
}

async function storedVersion(db: Db, v: number, param: string) {
  const row = await configAt(db, v);
  if (!row)
    throw HttpError.notFound(`No configuration version ${v} (it never existed, or was pruned).`, {
      param,
      code: 'config_version_not_found',
    });
  return row;
}

const yamlOf = (config: unknown) => YAML.stringify(config, { sortMapEntries: true });

export const consoleRoutes = routeSpecs<{ db: Db }>([
  {
    method: 'get',
    path: '/v1/requests',
    summary: 'Requests, newest first, filtered and keyset-paged (next_cursor)',
    tag: 'routing',
    role: 'member',
    query: RequestListQuery,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const q = validate(RequestListQuery, req.query);
      const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      if (q.cursor !== undefined && !cursor)
        throw HttpError.invalid('`cursor` is not a cursor this API gave out: pass a next_cursor back unchanged.', {
          param: 'cursor',
          code: 'invalid_cursor',
        });
      const page = await listRequests(
        deps.db,
        {
          tenant: tenantOf(req, q.tenant),
          model: q.model,
          provider: q.provider,
          status: q.status,
          operation: q.operation,
          user: q.user,
          batch: q.batch,
          from: q.from ? new Date(q.from) : undefined,
          to: q.to ? new Date(q.to) : undefined,
          q: q.q,
        },
        { limit: q.limit, cursor },
      );
      res.json({ object: 'list', data: page.rows, next_cursor: page.next ? encodeCursor(page.next) : null });
    },
  },

  {
    method: 'get',
    path: '/v1/analytics/series',
    summary: 'Usage, outcomes, latency percentiles, fallback and cache-hit rates per time bucket (and key)',
    tag: 'analytics',
    role: 'member',
    query: SeriesQuery,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const q = validate(SeriesQuery, req.query);
      const { from, to } = windowOf(q, HOUR_MS);
      const bucket: Bucket = q.bucket === 'auto' ? pickBucket(from, to) : q.bucket;
      if (bucketCount(from, to, bucket) > MAX_BUCKETS)
        throw HttpError.invalid(
          `That window has more than ${MAX_BUCKETS} ${bucket} buckets: choose a coarser bucket, or bucket=auto.`,
          { param: 'bucket', code: 'too_many_buckets' },
        );
      const rows = await series(deps.db, {
        from,
        to,
        bucket,
        by: q.by,
        tenant: tenantOf(req, q.tenant),
        provider: q.provider,
        model: q.model,
        operation: q.operation,
        totals: q.totals === 'true',
      });
      const shape = (r: SeriesRow) => ({
        ...(r.t !== null && { t: new Date(r.t).toISOString() }),
        ...(r.level === 'key' && { key: r.key }),
        requests: r.requests,
        succeeded: r.succeeded,
        failed: r.failed,
        error_rate: r.requests ? r.failed / r.requests : 0,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        cost_usd: r.cost_usd,
        latency_ms: { p50: r.p50_ms, p95: r.p95_ms, p99: r.p99_ms },
        fallback_rate: r.fallback_rate,
        cache_hit_rate: r.cache_hit_rate,
      });
      const window = rows.find((r) => r.level === 'window');
      res.json({
        object: 'analytics.series',
        from: from.toISOString(),
        to: to.toISOString(),
        bucket,
        bucket_ms: BUCKETS[bucket],
        by: q.by ?? null,
        data: rows.filter((r) => r.level === 'key').map(shape),
        ...(q.totals === 'true' && {
          totals: {
            // Without `by`, `data` is already one row per bucket.
            series: q.by ? rows.filter((r) => r.level === 'bucket').map(shape) : undefined,
            window: window ? shape(window) : shape(EMPTY_WINDOW),
          },
        }),
      });
    },
  },

  {
    method: 'get',
    path: '/v1/providers/errors',
    summary: 'The last failed provider calls, newest first (messages redacted of anything key-like)',
    tag: 'providers',
    role: 'operator',
    query: ProviderErrorsQuery,
    errors: [400, 401, 403],
    handle: async (deps, req, res) => {
      const q = validate(ProviderErrorsQuery, req.query);
      const rows = await providerErrors(deps.db, q);
      res.json({
        object: 'list',
        // A provider's message can quote what it was sent, a key included: redacted on the way out too.
        data: rows.map((r) => ({ ...r, message: r.message === null ? null : redact(r.message) })),
      });
    },
  },

  {
    method: 'get',
    path: '/v1/admin/config/versions',
    summary: 'The configuration versions, newest first (page with `before`)',
    tag: 'policy',
    role: 'operator',
    query: ConfigVersionsQuery,
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const q = validate(ConfigVersionsQuery, req.query);
      const { rows, more } = await listConfigVersions(deps.db, q);
      res.json({ object: 'list', data: rows, has_more: more });
    },
  },
  {
    method: 'get',
    // `:id` (the version number): the route matrix (test/security/roles.test.ts) fills ids.
    path: '/v1/admin/config/versions/:id',
    summary: 'One configuration version, whole',
    tag: 'policy',
    role: 'operator',
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const v = validate(z.object({ id: version }), req.params).id;
      const row = await storedVersion(deps.db, v, 'id');
      res.json({ version: row.version, source: row.source, created_at: row.created_at, config: row.config });
    },
  },
  {
    method: 'get',
    path: '/v1/admin/config/diff',
    summary: 'A unified diff of two configuration versions, as YAML',
    tag: 'policy',
    role: 'operator',
    query: ConfigDiffQuery,
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const q = validate(ConfigDiffQuery, req.query);
      const [a, b] = await Promise.all([storedVersion(deps.db, q.from, 'from'), storedVersion(deps.db, q.to, 'to')]);
      const diff = createTwoFilesPatch(
        `config@v${q.from}.yaml`,
        `config@v${q.to}.yaml`,
        yamlOf(a.config),
        yamlOf(b.config),
      );
      res.json({ from: q.from, to: q.to, diff });
    },
  },
]);
