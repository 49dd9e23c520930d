/**
 * The operator console's reads (issue 25): the request list (keyset-paged, filtered), an analytics
 * series in time buckets, the last provider errors and the configuration's versions. Everything is
 * filtered, ordered, limited and aggregated in SQL, on the indexes of migration 017.
 */
import type { Bucket, RequestCursor } from '../domain/consoleData';
import { OTHER_KEY, TOP_KEYS } from '../domain/consoleData';
import type { Queryable, SqlParam } from './index';
import { withPercentiles, type WithPercentiles } from './analytics';

/** Placeholders numbered in the order their values are pushed. */
class Params {
  readonly values: SqlParam[] = [];
  add(v: SqlParam): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

export interface RequestListFilter {
  tenant?: string;
  model?: string;
  provider?: string;
  status?: string;
  operation?: string;
  user?: string;
  batch?: string;
  from?: Date;
  to?: Date;
  /** A request id or workflow id prefix. */
  q?: string;
}

export interface RequestListRow {
  request_id: string;
  workflow_id: string;
  tenant_id: string;
  status: string;
  operation: string;
  requested_model: string;
  provider: string | null;
  model: string | null;
  user: string | null;
  batch_id: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  latency_ms: number | null;
  cache_hit: boolean;
  created_at: Date;
  completed_at: Date | null;
}

/** LIKE's own characters in a prefix, escaped: `q=a_b` finds ids starting `a_b`, not `aXb`. */
const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * One page of requests, newest first: `limit` rows after `cursor` (keyset on created_at desc,
 * request_id desc, never OFFSET), and the cursor of the last one when there are more.
 */
export async function listRequests(
  db: Queryable,
  f: RequestListFilter,
  page: { limit: number; cursor?: RequestCursor },
): Promise<{ rows: RequestListRow[]; next?: RequestCursor }> {
  const p = new Params();
  const where: string[] = [];
  const eq = (col: string, v: string | undefined) => v !== undefined && where.push(`${col} = ${p.add(v)}`);
  eq('tenant_id', f.tenant);
  eq('model', f.model);
  eq('provider', f.provider);
  eq('status', f.status);
  eq('operation', f.operation);
  eq('end_user', f.user);
  eq('batch_id', f.batch);
  if (f.from) where.push(`created_at >= ${p.add(f.from)}`);
  if (f.to) where.push(`created_at < ${p.add(f.to)}`);
  if (f.q !== undefined) {
    const prefix = p.add(likePrefix(f.q));
    where.push(`(request_id like ${prefix} or workflow_id like ${prefix})`);
  }
  if (page.cursor) {
    // The microseconds are exact in an interval (a float's epoch seconds would round them).
    const at = `(timestamptz 'epoch' + ${p.add(page.cursor.createdMicros)}::bigint * interval '1 microsecond')`;
    where.push(`(created_at, request_id) < (${at}, ${p.add(page.cursor.requestId)})`);
  }
  const res = await db.query<RequestListRow & { created_micros: string }>(
    `select request_id, workflow_id, tenant_id, status, operation, requested_model, provider, model,
            end_user as "user", batch_id, input_tokens, output_tokens, cost_usd::float8 as cost_usd, latency_ms,
            cache_hit, created_at, completed_at,
            ((extract(epoch from created_at) * 1000000)::bigint)::text as created_micros
       from requests
      ${where.length ? `where ${where.join(' and ')}` : ''}
      order by created_at desc, request_id desc
      limit ${p.add(page.limit + 1)}`,
    p.values,
  );
  const more = res.rows.length > page.limit;
  const rows = res.rows.slice(0, page.limit);
  const last = rows.at(-1);
  return {
    rows: rows.map(({ created_micros: _, ...r }) => r),
    ...(more && last && { next: { createdMicros: last.created_micros, requestId: last.request_id } }),
  };
}

export const SERIES_BY = { provider: 'provider', model: 'model', operation: 'operation', tenant: 'tenant_id' } as const;
export type SeriesBy = keyof typeof SERIES_BY;

export interface SeriesRow {
  /** Null on the window's total row. */
  t: Date | null;
  key: string | null;
  /** `key`: one key's bucket; `bucket`: every key's bucket (totals); `window`: the whole window. */
  level: 'key' | 'bucket' | 'window';
  requests: number;
  succeeded: number;
  failed: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  fallback_rate: number;
  cache_hit_rate: number;
}

/**
 * Finished requests in [from, to) per UTC bucket and (with `by`) per key: the TOP_KEYS keys with
 * the most requests in the whole window keep their name, the rest are one row `other` per bucket
 * (summed in SQL, so its percentiles are those of its requests, not an average of averages).
 */
export async function series(
  db: Queryable,
  q: {
    from: Date;
    to: Date;
    bucket: Bucket;
    by?: SeriesBy;
    tenant?: string;
    provider?: string;
    model?: string;
    operation?: string;
    /** Also each bucket's total over every key, and the window's total: from the same scan. */
    totals?: boolean;
  },
): Promise<SeriesRow[]> {
  const p = new Params();
  const where = [`created_at >= ${p.add(q.from)}`, `created_at < ${p.add(q.to)}`, `status in ('succeeded', 'failed')`];
  const eq = (col: string, v: string | undefined) => v !== undefined && where.push(`${col} = ${p.add(v)}`);
  eq('tenant_id', q.tenant);
  eq('provider', q.provider);
  eq('model', q.model);
  eq('operation', q.operation);
  const keyCol = q.by ? SERIES_BY[q.by] : 'null::text';
  const filter = where.join(' and ');
  // The top keys are found first (one small aggregate), then each row's key is looked up in them
  // once per row against a constant array: no join and no subquery per row.
  const keyOf = q.by
    ? `case when ${keyCol} = any (array(select k from top where k is not null)) then ${keyCol}
            when ${keyCol} is null and exists (select 1 from top where k is null) then null
            else '${OTHER_KEY}' end`
    : 'null::text';
  const res = await db.query<WithPercentiles<SeriesRow>>(
    `with ${
      q.by
        ? `top as (select ${keyCol} as k from requests where ${filter}
                    group by 1 order by count(*) desc, 1 limit ${TOP_KEYS}),`
        : ''
    }
     keyed as (
       select date_trunc(${p.add(q.bucket)}, created_at, 'UTC') as t, ${keyOf} as key, status, input_tokens,
              output_tokens, cost_usd, latency_ms, cache_hit, fell_back
         from requests
        where ${filter})
     select t, key,
            case when grouping(t) = 1 then 'window' when grouping(key) = 1 then 'bucket' else 'key' end as level,
            count(*)::int as requests,
            (count(*) filter (where status = 'succeeded'))::int as succeeded,
            (count(*) filter (where status = 'failed'))::int as failed,
            coalesce(sum(input_tokens), 0)::int as input_tokens,
            coalesce(sum(output_tokens), 0)::int as output_tokens,
            coalesce(sum(cost_usd), 0)::float8 as cost_usd,
            -- One sort for the three percentiles (three separate aggregates sort three times).
            percentile_cont(array[0.5, 0.95, 0.99]::float8[]) within group (order by latency_ms) as latency_pcts,
            avg(fell_back::int)::float8 as fallback_rate,
            avg(cache_hit::int)::float8 as cache_hit_rate
       from keyed
      group by ${
        // Grouping sets: the totals come from the one scan (three queries would read the window three times).
        q.totals ? (q.by ? 'grouping sets ((t, key), (t), ())' : 'grouping sets ((t, key), ())') : 't, key'
      }
      order by t nulls last, key nulls first`,
    p.values,
  );
  return res.rows.map(withPercentiles);
}

export interface ProviderErrorRow {
  at: Date;
  provider: string;
  model: string;
  request_id: string;
  tenant_id: string;
  error_type: string;
  status: number | null;
  message: string | null;
}

/** The last failed provider calls, newest first (every tenant's: an operator's view). */
export async function providerErrors(
  db: Queryable,
  q: { provider?: string; model?: string; limit: number },
): Promise<ProviderErrorRow[]> {
  const p = new Params();
  const where = ['a.error_type is not null'];
  if (q.provider !== undefined) where.push(`a.provider = ${p.add(q.provider)}`);
  if (q.model !== undefined) where.push(`a.model = ${p.add(q.model)}`);
  const res = await db.query<ProviderErrorRow>(
    `select a.started_at as at, a.provider, a.model, a.request_id, r.tenant_id, a.error_type, a.status,
            a.error_message as message
       from request_attempts a join requests r on r.request_id = a.request_id
      where ${where.join(' and ')}
      order by a.started_at desc, a.request_id desc
      limit ${p.add(q.limit)}`,
    p.values,
  );
  return res.rows;
}

export interface ConfigVersionSummary {
  version: number;
  source: string;
  created_at: Date;
}

/** Configuration versions, newest first, those below `before` when given; one more than `limit` tells of more. */
export async function listConfigVersions(
  db: Queryable,
  q: { before?: number; limit: number },
): Promise<{ rows: ConfigVersionSummary[]; more: boolean }> {
  const res = await db.query<ConfigVersionSummary>(
    `select version, source, created_at from config_versions
      where ($1::int is null or version < $1::int)
      order by version desc limit $2`,
    [q.before ?? null, q.limit + 1],
  );
  return { rows: res.rows.slice(0, q.limit), more: res.rows.length > q.limit };
}
