/**
 * The `responses` table (`src/db/responses.ts`): a Response's own row over its request, read
 * tenant-scoped (another tenant's id is not found), stored once per id, cancelled only while in
 * flight, deleted without touching the request (the ledger).
 */
import type { Db } from '../../src/db';
import { ensureTenant } from '../../src/db/apiKeys';
import { completeRequest, getRequest, insertRequest } from '../../src/db/requests';
import {
  countBackgroundInFlight,
  getResponse,
  getResponses,
  insertResponse,
  markCancelled,
  markDeleted,
  type NewResponse,
} from '../../src/db/responses';
import { dbKinds, openTestDb, uniqueId } from '../support/db';

describe.each(dbKinds())('responses on %s', (kind) => {
  let db: Db;
  let tenant: string;
  let other: string;
  beforeAll(async () => {
    db = await openTestDb(kind);
    tenant = uniqueId('t');
    other = uniqueId('t');
    await ensureTenant(db, tenant);
    await ensureTenant(db, other);
  });
  afterAll(async () => db.close());

  const body = {
    model: 'auto',
    messages: [
      { role: 'system', content: 'Be brief' },
      { role: 'user', content: 'Hi' },
    ],
  };

  /** A request row and its response row, as the API writes them. */
  async function stored(over: Partial<NewResponse> = {}): Promise<NewResponse> {
    const requestId = uniqueId('r');
    await insertRequest(db, {
      requestId,
      workflowId: `req-${requestId}`,
      tenantId: over.tenantId ?? tenant,
      operation: 'chat',
      requestedModel: 'auto',
      body,
      bodyHash: 'h',
    });
    const r: NewResponse = {
      id: `resp_${requestId}`,
      requestId,
      tenantId: tenant,
      background: true,
      store: true,
      hasInstructions: true,
      params: { model: 'auto', instructions: 'Be brief', tools: [], metadata: { k: 'v' } },
      inputItems: [{ id: `msg_${requestId}_in0`, type: 'message', role: 'user', content: 'Hi' }],
      ...over,
    };
    expect(await insertResponse(db, r)).toBe(true);
    return r;
  }

  it("reads a response with its request's state, only for its own tenant", async () => {
    const r = await stored({ previousResponseId: 'resp_earlier' });
    const got = await getResponse(db, r.id, tenant);
    expect(got).toMatchObject({
      id: r.id,
      request_id: r.requestId,
      tenant_id: tenant,
      previous_response_id: 'resp_earlier',
      background: true,
      store: true,
      has_instructions: true,
      params: r.params,
      input_items: r.inputItems,
      cancelled_at: null,
      workflow_id: `req-${r.requestId}`,
      status: 'received',
      requested_model: 'auto',
      body,
      response: null,
      cost_usd: null,
      completed_at: null,
    });
    expect(got!.created_at).toBeInstanceOf(Date);

    // Another tenant's id is not found, as an unknown one is.
    expect(await getResponse(db, r.id, other)).toBeUndefined();
    expect(await getResponse(db, 'resp_unknown', tenant)).toBeUndefined();
    expect(await getResponses(db, [r.id, 'resp_unknown'], other)).toEqual([]);
    expect((await getResponses(db, [r.id, 'resp_unknown'], tenant)).map((x) => x.id)).toEqual([r.id]);
    expect(await getResponses(db, [], tenant)).toEqual([]);
  });

  it('shows the answer, usage and cost once the request completes', async () => {
    const r = await stored({ background: false });
    await completeRequest(db, r.requestId, {
      status: 'succeeded',
      response: { content: 'Hello there', finishReason: 'stop' },
      provider: 'oa',
      model: 'oa/chat',
      inputTokens: 12,
      outputTokens: 3,
      latencyMs: 40,
    });
    const got = await getResponse(db, r.id, tenant);
    expect(got).toMatchObject({
      status: 'succeeded',
      provider: 'oa',
      model: 'oa/chat',
      response: { content: 'Hello there', finishReason: 'stop' },
      input_tokens: 12,
      output_tokens: 3,
      cost_usd: 0,
      latency_ms: 40,
      cache_hit: false,
    });
    expect(got!.completed_at).toBeInstanceOf(Date);
  });

  it('stores an id once: a retried create keeps the first row', async () => {
    const r = await stored();
    expect(await insertResponse(db, { ...r, params: { model: 'changed' }, inputItems: [] })).toBe(false);
    expect(await getResponse(db, r.id, tenant)).toMatchObject({ params: r.params, input_items: r.inputItems });
    // One response per request, whatever the id.
    await expect(insertResponse(db, { ...r, id: `${r.id}x` })).rejects.toThrow();
  });

  it('hides an unstored response (store: false)', async () => {
    const r = await stored({ store: false, background: false });
    expect(await getResponse(db, r.id, tenant)).toBeUndefined();
    expect(await markDeleted(db, r.id, tenant)).toBe(false);
  });

  it('deletes only for its tenant, clears the input items and keeps the request', async () => {
    const r = await stored();
    expect(await markDeleted(db, r.id, other)).toBe(false);
    expect(await getResponse(db, r.id, tenant)).toBeDefined();

    expect(await markDeleted(db, r.id, tenant)).toBe(true);
    expect(await getResponse(db, r.id, tenant)).toBeUndefined();
    expect(await getResponses(db, [r.id], tenant)).toEqual([]);
    expect(await markDeleted(db, r.id, tenant)).toBe(false); // a second delete: not found
    expect(await markCancelled(db, r.id, tenant)).toBeUndefined();
    const row = await db.query<{ input_items: unknown[]; deleted_at: Date | null }>(
      'select input_items, deleted_at from responses where id = $1',
      [r.id],
    );
    expect(row.rows[0]).toEqual({ input_items: [], deleted_at: expect.any(Date) });
    expect(await getRequest(db, r.requestId)).toMatchObject({ request_id: r.requestId, body });
  });

  it('cancels a background response in flight, once; never a finished or foreground one, nor for another tenant', async () => {
    const r = await stored();
    expect(await markCancelled(db, r.id, other)).toBeUndefined();
    const first = await markCancelled(db, r.id, tenant);
    expect(first).toMatchObject({ id: r.id, workflow_id: `req-${r.requestId}`, status: 'received' });
    expect(first!.cancelled_at).toBeInstanceOf(Date);
    const again = await markCancelled(db, r.id, tenant);
    expect(again!.cancelled_at).toEqual(first!.cancelled_at);
    expect((await getResponse(db, r.id, tenant))!.cancelled_at).toEqual(first!.cancelled_at);

    const foreground = await stored({ background: false });
    expect(await markCancelled(db, foreground.id, tenant)).toBeUndefined();

    const done = await stored();
    await completeRequest(db, done.requestId, { status: 'succeeded', response: { content: 'x' }, latencyMs: 1 });
    expect(await markCancelled(db, done.id, tenant)).toBeUndefined();
    expect((await getResponse(db, done.id, tenant))!.cancelled_at).toBeNull();
  });

  it("counts a tenant's background responses in flight, but not one older than the deadline's window", async () => {
    // A tenant of its own: the other cases' rows would count too.
    const mine = uniqueId('t');
    await ensureTenant(db, mine);
    const windowMs = 60_000;
    const inFlight = () => countBackgroundInFlight(db, mine, windowMs);
    const ofMine = (over: Partial<NewResponse> = {}) => stored({ tenantId: mine, ...over });
    const setRunning = (r: NewResponse) =>
      db.query(`update requests set status = 'running' where request_id = $1`, [r.requestId]);

    const fresh = await ofMine();
    await setRunning(fresh);
    await ofMine({ background: false });
    expect(await inFlight()).toBe(1);

    // Its workflow was terminated without recording an outcome: `running` for good, stored long ago.
    const abandoned = await ofMine();
    await setRunning(abandoned);
    expect(await inFlight()).toBe(2);
    await db.query(`update responses set created_at = now() - interval '2 hours' where id = $1`, [abandoned.id]);
    expect(await inFlight()).toBe(1);
    // The same row counts again under a window that reaches it (a longer background timeout).
    expect(await countBackgroundInFlight(db, mine, 3 * 3_600_000)).toBe(2);

    // Finished and cancelled ones never count.
    await completeRequest(db, fresh.requestId, { status: 'succeeded', response: { content: 'x' }, latencyMs: 1 });
    const cancelled = await ofMine();
    await markCancelled(db, cancelled.id, mine);
    expect(await inFlight()).toBe(0);
  });
});
