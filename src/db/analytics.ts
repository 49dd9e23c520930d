/**
 * Usage analytics, computed in SQL from the request records (the same rows the budget ledger
 * settles against): per group of day, provider, model and tenant — requests, outcomes, tokens,
 * cost, latency percentiles, fallback and cache-hit rates — and the rows of a rule's variants.
 */
import type { VariantRequest } from '../domain/stats';
import type { Queryable } from './index';

export const GROUPS = {
  day: "to_char(date_trunc('day', created_at), 'YYYY-MM-DD')",
  provider: 'provider',
  model: 'model',
  tenant: 'tenant_id',
  operation: 'operation',
} as const;
export type Group = keyof typeof GROUPS;

export interface AnalyticsRow {
  day?: string;
  provider?: string | null;
  model?: string | null;
  tenant?: string;
  operation?: string;
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

type Percentiles = { p50_ms: number | null; p95_ms: number | null; p99_ms: number | null };
/** A row as SQL answers it: the three latency percentiles as one array (one sort, not three). */
export type WithPercentiles<R extends Percentiles> = Omit<R, keyof Percentiles> & { latency_pcts: number[] | null };

/** A row with its percentiles as named columns again. */
export function withPercentiles<R extends Percentiles>(row: WithPercentiles<R>): R {
  const { latency_pcts: p, ...rest } = row;
  return { ...rest, p50_ms: p?.[0] ?? null, p95_ms: p?.[1] ?? null, p99_ms: p?.[2] ?? null } as unknown as R;
}

/** Finished requests in [from, to), of one tenant or all, grouped. */
export async function usage(
  db: Queryable,
  q: { from: Date; to: Date; tenant?: string; groupBy: Group[] },
): Promise<AnalyticsRow[]> {
  const cols = q.groupBy.map((g) => `${GROUPS[g]} as ${g}`);
  const keys = q.groupBy.map((g) => g);
  const res = await db.query<WithPercentiles<AnalyticsRow>>(
    `with r as (
       select r.*
         from requests r
        where r.created_at >= $1 and r.created_at < $2 and ($3::text is null or r.tenant_id = $3)
          and r.status in ('succeeded', 'failed'))
     select ${[...cols, ''].join(', ')}
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
       from r
      ${keys.length ? `group by ${keys.join(', ')} order by ${keys.join(', ')}` : ''}`,
    [q.from, q.to, q.tenant ?? null],
  );
  return res.rows.map(withPercentiles);
}

/** The requests a weighted rule routed, each with the target it picked. */
export async function variantRows(
  db: Queryable,
  q: { rule: string; from: Date; to: Date; tenant?: string },
): Promise<VariantRequest[]> {
  const res = await db.query<VariantRequest>(
    `select coalesce(r.decision->'rule'->>'picked', r.model) as variant, r.status, r.latency_ms,
            r.cost_usd::float8 as cost_usd,
            exists (select 1 from request_attempts a where a.request_id = r.request_id and a.error_type = 'InvalidOutput')
              as invalid_output
       from requests r
      where r.decision->'rule'->>'id' = $1 and r.created_at >= $2 and r.created_at < $3
        and ($4::text is null or r.tenant_id = $4) and r.status in ('succeeded', 'failed')`,
    [q.rule, q.from, q.to, q.tenant ?? null],
  );
  return res.rows;
}
