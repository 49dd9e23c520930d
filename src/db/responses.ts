/**
 * The `responses` table: the Responses API's object over a `requests` row. The request holds the
 * chat body, the answer, usage, attempts and status; this row holds what only a Response has (its
 * echoed parameters, its own input items, its chain, cancel and delete). Every read is scoped to
 * a tenant: another tenant's id is simply not found.
 */
import type { RequestStatus } from './requests';
import type { Queryable } from './index';

export interface NewResponse {
  /** `resp_<requestId>`. */
  id: string;
  requestId: string;
  tenantId: string;
  previousResponseId?: string | null;
  background: boolean;
  store: boolean;
  /** The request body's first message is this response's `instructions`. */
  hasInstructions: boolean;
  /** The fields a Response echoes (model asked for, instructions, tools, …). */
  params: unknown;
  /** This request's own input items, normalized. */
  inputItems: unknown[];
}

/** A response with its request's state: everything GET, cancel, chains and item references read. */
export interface StoredResponse {
  id: string;
  request_id: string;
  tenant_id: string;
  previous_response_id: string | null;
  background: boolean;
  store: boolean;
  has_instructions: boolean;
  params: unknown;
  input_items: unknown[];
  cancelled_at: Date | null;
  // From the request row:
  workflow_id: string;
  status: RequestStatus;
  requested_model: string;
  provider: string | null;
  /** The catalog id that served it. */
  model: string | null;
  /** The chat body as routed (read with the chat schema). */
  body: unknown;
  /** The stored answer: read it with `readAnswer` (`src/domain/storedAnswer.ts`). */
  response: unknown;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  error: unknown;
  latency_ms: number | null;
  cache_hit: boolean;
  /** When the request was received (a Response's `created_at`). */
  created_at: Date;
  completed_at: Date | null;
}

const SELECT_STORED = `select s.id, s.request_id, s.tenant_id, s.previous_response_id, s.background, s.store,
    s.has_instructions, s.params, s.input_items, s.cancelled_at,
    q.workflow_id, q.status, q.requested_model, q.provider, q.model, q.body, q.response, q.input_tokens,
    q.output_tokens, q.cost_usd::float8 as cost_usd, q.error, q.latency_ms, q.cache_hit, q.created_at, q.completed_at`;

// Deleted and unstored responses are not found, whoever asks.
const VISIBLE = 's.deleted_at is null and s.store';

/** Stores the response unless its id exists (a retried create); true when this call stored it. */
export async function insertResponse(db: Queryable, r: NewResponse): Promise<boolean> {
  const res = await db.query(
    `insert into responses (id, request_id, tenant_id, previous_response_id, background, store, has_instructions,
                            params, input_items)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (id) do nothing returning id`,
    [
      r.id,
      r.requestId,
      r.tenantId,
      r.previousResponseId ?? null,
      r.background,
      r.store,
      r.hasInstructions,
      JSON.stringify(r.params),
      JSON.stringify(r.inputItems),
    ],
  );
  return res.rows.length > 0;
}

/** When a request was received (its row's `created_at`): a Response's `created_at`, the same on create and GET. */
export async function requestReceivedAt(db: Queryable, requestId: string): Promise<Date | undefined> {
  const res = await db.query<{ created_at: Date }>(`select created_at from requests where request_id = $1`, [
    requestId,
  ]);
  return res.rows[0]?.created_at;
}

/** The tenant's response, unless deleted or unstored; another tenant's id is not found. */
export async function getResponse(db: Queryable, id: string, tenantId: string): Promise<StoredResponse | undefined> {
  const res = await db.query<StoredResponse>(
    `${SELECT_STORED} from responses s join requests q on q.request_id = s.request_id
     where s.id = $1 and s.tenant_id = $2 and ${VISIBLE}`,
    [id, tenantId],
  );
  return res.rows[0];
}

/** Several of the tenant's responses at once (the `item_reference`s of one input); the missing are left out. */
export async function getResponses(db: Queryable, ids: string[], tenantId: string): Promise<StoredResponse[]> {
  if (ids.length === 0) return [];
  const res = await db.query<StoredResponse>(
    `${SELECT_STORED} from responses s join requests q on q.request_id = s.request_id
     where s.id = any($1::text[]) and s.tenant_id = $2 and ${VISIBLE}`,
    [ids, tenantId],
  );
  return res.rows;
}

/**
 * The tenant's background responses whose request is still in flight (received or running) and
 * not cancelled (a cancelled one shows `cancelled` at once, while its workflow settles), among
 * those created within `maxAgeMs`: the background deadline and a grace. A workflow that ended
 * without recording its outcome (an operator's `temporal workflow terminate`) leaves its request
 * `running` for good; past its deadline it no longer counts against the tenant's cap.
 */
export async function countBackgroundInFlight(db: Queryable, tenantId: string, maxAgeMs: number): Promise<number> {
  // The database's clock on both sides of the comparison (created_at is its now() at insert).
  const res = await db.query<{ n: number }>(
    `select count(*)::int as n from responses s join requests q on q.request_id = s.request_id
     where s.tenant_id = $1 and s.background and s.cancelled_at is null
       and s.created_at > now() - $2::float8 * interval '1 millisecond'
       and q.status in ('received', 'running')`,
    [tenantId, maxAgeMs],
  );
  return res.rows[0]?.n ?? 0;
}

/**
 * Marks a background response cancelled while its request is still in flight (the caller then
 * cancels the workflow). Returns the response; undefined when it is not the tenant's, not
 * background, or already ended (a terminal response is not cancelled: read it again and return
 * it as it is). A second cancel keeps the first time.
 */
export async function markCancelled(db: Queryable, id: string, tenantId: string): Promise<StoredResponse | undefined> {
  const res = await db.query<StoredResponse>(
    `with marked as (
       update responses s set cancelled_at = coalesce(s.cancelled_at, now())
       from requests q
       where s.id = $1 and s.tenant_id = $2 and ${VISIBLE} and s.background
         and q.request_id = s.request_id and q.status in ('received', 'running')
       returning s.*)
     ${SELECT_STORED} from marked s join requests q on q.request_id = s.request_id`,
    [id, tenantId],
  );
  return res.rows[0];
}

/**
 * Undoes `markCancelled` when the workflow could not be cancelled (Temporal did not answer): the
 * response runs on, and GET must not say it was cancelled. Only the mark made at `at` is cleared.
 */
export async function clearCancelled(db: Queryable, id: string, tenantId: string, at: Date): Promise<void> {
  await db.query(
    `update responses set cancelled_at = null where id = $1 and tenant_id = $2 and date_trunc('milliseconds', cancelled_at) = $3`,
    [id, tenantId, at],
  );
}

/**
 * Deletes the tenant's response: hidden from then on (GET, input items, chains and item
 * references answer 404) and its input items cleared. The request row stays: it is the ledger
 * (cost, attempts, audit). True when this call deleted it; false when it was not found.
 */
export async function markDeleted(db: Queryable, id: string, tenantId: string): Promise<boolean> {
  const res = await db.query(
    `update responses s set deleted_at = now(), input_items = '[]'::jsonb
     where s.id = $1 and s.tenant_id = $2 and ${VISIBLE} returning s.id`,
    [id, tenantId],
  );
  return res.rows.length > 0;
}
