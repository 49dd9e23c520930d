/**
 * The usage-event outbox (src/db/migrations/022_event_outbox.sql). Events are written by the very
 * statements that record what they describe (the SQL fragments below are spliced into those
 * statements as CTEs), so an event exists exactly when its record committed. The delivery side
 * (activities/usageEvents.ts) gives committed rows their delivery position (`sequenceEvents`),
 * reads each sink's next batch after its cursor and moves the cursor once the sink accepted it.
 *
 * Event ids are md5 of the event's kind and subject, as a uuid: recording the same finish twice (a
 * retried activity task) inserts one event (`on conflict (id) do nothing`: the first record wins).
 * Event data carries ids, figures and names only: never a prompt, an answer or an error message.
 */
import type { Queryable } from './index';

/**
 * An event as read for delivery: the shape of `UsageEvent` (src/services/eventSinks/types.ts),
 * spelled out here because src/db does not import the layers above it.
 */
export interface OutboxEvent {
  id: string;
  /** The delivery position, as a decimal string. */
  seq: string;
  tenantId: string;
  type: 'request.finished' | 'attempt.finished' | 'batch_item.finished' | 'budget.alert';
  occurredAt: string;
  data: Record<string, unknown>;
}

const INSERT = 'insert into event_outbox (id, tenant_id, type, occurred_at, data)';
const ON_CONFLICT = 'on conflict (id) do nothing';

/** `request.finished` of each row `r` of `from` (rows with the `requests` columns). */
const requestEventSelect = (from: string) =>
  `select md5('request.finished:' || r.request_id)::uuid as id, r.tenant_id, 'request.finished'::text as type,
     coalesce(r.completed_at, now()) as occurred_at, jsonb_build_object('requestId', r.request_id, 'status', r.status, 'operation', r.operation,
       'requestedModel', r.requested_model, 'provider', r.provider, 'model', r.model,
       'inputTokens', r.input_tokens, 'outputTokens', r.output_tokens, 'costUsd', r.cost_usd,
       'latencyMs', r.latency_ms, 'cacheHit', r.cache_hit, 'fellBack', r.fell_back, 'batchId', r.batch_id,
       'endUser', r.end_user, 'errorType', r.error->>'type', 'createdAt', r.created_at,
       'templateName', r.template_name, 'templateVersion', r.template_version) as data
   from ${from}`;

/** `attempt.finished` of each row `a` of `from` (request_attempts columns), with its tenant `t`. */
const attemptEventSelect = (from: string) =>
  `select md5('attempt.finished:' || a.request_id || ':' || a.candidate_index || ':' || a.attempt)::uuid as id,
     t.tenant_id, 'attempt.finished'::text as type, now() as occurred_at,
     jsonb_build_object('requestId', a.request_id, 'candidateIndex', a.candidate_index, 'attempt', a.attempt,
       'provider', a.provider, 'model', a.model, 'outcome', a.outcome, 'errorType', a.error_type,
       'status', a.status, 'startedAt', a.started_at, 'latencyMs', a.latency_ms, 'inputTokens', a.input_tokens,
       'outputTokens', a.output_tokens, 'costUsd', a.cost_usd, 'queuedMs', a.queued_ms) as data
   from ${from}`;

/**
 * A CTE body writing `request.finished` for the rows of `source` (a CTE returning `requests.*`)
 * and, before it, `attempt.finished` for the rows of `attempts` (a CTE returning
 * `request_attempts.*`), in that order of seq.
 */
export const requestEventsCte = (source: string, attempts?: string) =>
  attempts
    ? `${INSERT} select id, tenant_id, type, occurred_at, data from (
         select 0 as k, x.* from (${attemptEventSelect(`${attempts} a join ${source} t on t.request_id = a.request_id`)}) x
         union all select 1 as k, y.* from (${requestEventSelect(`${source} r`)}) y
       ) e order by k ${ON_CONFLICT}`
    : `${INSERT} ${requestEventSelect(`${source} r`)} ${ON_CONFLICT}`;

/** A CTE body writing `attempt.finished` for the finished rows of `source` (request_attempts.*). */
export const attemptEventsCte = (source: string) =>
  `${INSERT} ${attemptEventSelect(`${source} a join requests t on t.request_id = a.request_id`)}
   where a.outcome <> 'started' ${ON_CONFLICT}`;

/** A CTE body writing `batch_item.finished` for the rows of `source` (batch_results.*). */
export const batchItemEventsCte = (source: string) =>
  `${INSERT} select md5('batch_item.finished:' || i.batch_id || ':' || i.item_id)::uuid, b.tenant_id,
     'batch_item.finished', i.created_at,
     jsonb_build_object('batchId', i.batch_id, 'itemId', i.item_id, 'ok', i.ok, 'errorType', i.error->>'type',
       'models', to_jsonb(i.models), 'requestIds', to_jsonb(i.request_ids), 'inputTokens', i.input_tokens,
       'outputTokens', i.output_tokens, 'costUsd', i.cost_usd)
   from ${source} i join batches b on b.id = i.batch_id ${ON_CONFLICT}`;

/** The alert kinds that are `budget.alert` events (a tenant's budget). */
export const BUDGET_ALERT_KINDS = ['budget_threshold', 'budget_exhausted'] as const;

/** A CTE body writing `budget.alert` for the budget alerts among the rows of `source` (alerts.*). */
export const budgetAlertEventsCte = (source: string) =>
  `${INSERT} select md5('budget.alert:' || a.id)::uuid, a.tenant_id, 'budget.alert', a.opened_at,
     jsonb_build_object('alertId', a.id, 'kind', a.kind, 'subject', a.subject, 'severity', a.severity,
       'details', a.details)
   from ${source} a
   where a.tenant_id is not null and a.kind in (${BUDGET_ALERT_KINDS.map((k) => `'${k}'`).join(', ')})
   ${ON_CONFLICT}`;

// Arbitrary, constant: only the sequencer takes it (never a recording transaction: no deadlock).
const SEQUENCER_LOCK = 727_022;

/**
 * Gives every committed event without a delivery position the next positions, in seq order. One
 * sequencer at a time (the advisory lock): a row whose transaction commits after this one ran is
 * not visible to it and gets a later position next time, so a cursor on positions never skips an
 * event (a cursor on seq would: seqs are taken before commit). Returns how many it sequenced.
 */
export async function sequenceEvents(tx: Queryable, limit = 5000): Promise<number> {
  await tx.query('select pg_advisory_xact_lock($1)', [SEQUENCER_LOCK]);
  const res = await tx.query(
    `with next as (
       select seq, (select coalesce(max(pos), 0) from event_outbox) + row_number() over (order by seq) as pos
       from (select seq from event_outbox where pos is null order by seq limit $1) p)
     update event_outbox e set pos = next.pos from next where e.seq = next.seq`,
    [limit],
  );
  return res.rowCount;
}

interface EventRow {
  id: string;
  pos: string | number;
  tenant_id: string;
  type: OutboxEvent['type'];
  occurred_at: Date | string;
  data: Record<string, unknown> | string;
}

/** The sink's cursor (0 for a sink new to the table: it gets every event on record). */
export async function sinkCursor(db: Queryable, sink: string): Promise<number> {
  const res = await db.query<{ delivered_pos: string | number }>(
    `insert into event_sinks (name) values ($1)
     on conflict (name) do update set name = excluded.name returning delivered_pos`,
    [sink],
  );
  return Number(res.rows[0]?.delivered_pos ?? 0);
}

/** The next events after `afterPos`, in delivery order. */
export async function eventsAfter(db: Queryable, afterPos: number, limit: number): Promise<OutboxEvent[]> {
  const res = await db.query<EventRow>(
    `select id, pos, tenant_id, type, occurred_at, data from event_outbox
      where pos > $1 order by pos limit $2`,
    [afterPos, limit],
  );
  return res.rows.map((r) => ({
    id: r.id,
    seq: String(r.pos),
    tenantId: r.tenant_id,
    type: r.type,
    occurredAt: new Date(r.occurred_at).toISOString(),
    data: typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : r.data,
  }));
}

/** The sink accepted every event up to `pos` (a cursor never moves back). */
export async function advanceCursor(db: Queryable, sink: string, pos: number): Promise<void> {
  await db.query(
    `update event_sinks set delivered_pos = greatest(delivered_pos, $2), updated_at = now() where name = $1`,
    [sink, pos],
  );
}

/** How many events each named sink has not been given yet (sequenced or not). */
export async function backlogs(db: Queryable, sinks: readonly string[]): Promise<Record<string, number>> {
  if (!sinks.length) return {};
  const res = await db.query<{ name: string; n: string | number }>(
    // Positions are gapless (max + row_number), so the sequenced backlog is a difference.
    `select s.name, greatest((select coalesce(max(pos), 0) from event_outbox) - coalesce(c.delivered_pos, 0), 0)
              + (select count(*) from event_outbox where pos is null) as n
       from unnest($1::text[]) s(name) left join event_sinks c on c.name = s.name`,
    [sinks],
  );
  return Object.fromEntries(res.rows.map((r) => [r.name, Number(r.n)]));
}
