/**
 * The usage-event outbox: every recording statement writes its event in the same commit (and a
 * rolled-back one writes none), a finish recorded twice is one event, and the sequencer never
 * lets a sink's cursor skip an event whose transaction committed late.
 */
import type { Db } from '../../src/db';
import * as alerts from '../../src/db/alerts';
import { ensureTenant } from '../../src/db/apiKeys';
import * as batches from '../../src/db/batches';
import * as outbox from '../../src/db/eventOutbox';
import * as requests from '../../src/db/requests';
import { dbKinds, openTestDb, uniqueId } from '../support/db';

interface Row {
  id: string;
  tenant_id: string;
  type: string;
  data: Record<string, unknown>;
}
const rows = async (db: Db) =>
  (await db.query<Row>('select id, tenant_id, type, data from event_outbox order by seq')).rows.map((r) => ({
    ...r,
    data: typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : r.data,
  }));

const newRequest = async (db: Db, tenantId = 'acme', batchId?: string) => {
  const requestId = uniqueId('req');
  await requests.insertRequest(db, {
    requestId,
    workflowId: `wf-${requestId}`,
    tenantId,
    operation: 'chat',
    requestedModel: 'auto',
    body: { messages: [{ role: 'user', content: 'a secret prompt' }] },
    bodyHash: 'h',
  });
  if (batchId) await db.query('update requests set batch_id = $2 where request_id = $1', [requestId, batchId]);
  return requestId;
};
const attempt = (n: number, outcome: 'started' | 'success' | 'error') => ({
  candidateIndex: 0,
  attempt: n,
  provider: 'p1',
  model: 'm1',
  outcome,
  startedAt: new Date().toISOString(),
  latencyMs: outcome === 'started' ? 0 : 12,
  ...(outcome === 'success' && { inputTokens: 3, outputTokens: 4, costUsd: 0.001 }),
  ...(outcome === 'error' && { errorType: 'ProviderError', errorMessage: 'a secret answer echoed', status: 500 }),
});

describe.each(dbKinds())('event outbox (%s)', (kind) => {
  let db: Db;
  beforeEach(async () => {
    db = await openTestDb(kind);
    for (const t of ['acme', 'beta']) await ensureTenant(db, t);
  });
  afterEach(async () => {
    await db.close();
  });

  it('writes attempt.finished and request.finished with the records, once, and without prompt or answer', async () => {
    const requestId = await newRequest(db);
    await requests.recordAttempt(db, requestId, attempt(1, 'started'));
    expect(await rows(db)).toEqual([]); // a started attempt is not an event
    await requests.recordAttempt(db, requestId, attempt(1, 'error'));
    await requests.recordAttempt(db, requestId, attempt(2, 'started')); // left started: abandoned on completion
    const outcome = {
      status: 'succeeded' as const,
      response: { text: 'a secret answer' },
      provider: 'p1',
      model: 'm1',
      inputTokens: 3,
      outputTokens: 4,
      latencyMs: 40,
    };
    await requests.completeRequest(db, requestId, outcome);
    await requests.completeRequest(db, requestId, outcome); // a retried activity task
    await requests.recordAttempt(db, requestId, attempt(1, 'error')); // and a retried attempt record
    const events = await rows(db);
    expect(events.map((e) => [e.type, e.data.attempt ?? null, e.data.outcome ?? e.data.status])).toEqual([
      ['attempt.finished', 1, 'error'],
      ['attempt.finished', 2, 'abandoned'],
      ['request.finished', null, 'succeeded'],
    ]);
    expect(new Set(events.map((e) => e.tenant_id))).toEqual(new Set(['acme']));
    expect(events[2]!.data).toMatchObject({ requestId, provider: 'p1', model: 'm1', inputTokens: 3, latencyMs: 40 });
    expect(JSON.stringify(events)).not.toContain('secret');
    expect(new Set(events.map((e) => e.id)).size).toBe(3);
  });

  it('writes no event when the recording transaction rolls back', async () => {
    const requestId = await newRequest(db);
    await expect(
      db.transaction(async (tx) => {
        await requests.recordAttempt(tx, requestId, attempt(1, 'success'));
        await requests.completeRequest(tx, requestId, { status: 'succeeded', latencyMs: 1 });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await rows(db)).toEqual([]);
  });

  it('writes request.finished for a cache hit, batch_item.finished and budget.alert', async () => {
    const cached = uniqueId('req');
    await requests.recordCacheHit(db, {
      requestId: cached,
      tenantId: 'acme',
      operation: 'chat',
      requestedModel: 'auto',
      body: {},
      bodyHash: 'h',
      provider: 'p1',
      model: 'm1',
      response: {},
      inputTokens: 1,
      outputTokens: 2,
      cachedFrom: 'req-earlier',
      latencyMs: 1,
    });
    const batchId = uniqueId('batch');
    await batches.insertBatch(db, {
      id: batchId,
      tenantId: 'beta',
      kind: 'openai',
      options: {} as never,
      workflowId: `wf-${batchId}`,
    });
    await batches.insertItemsJson(db, batchId, JSON.stringify([{ seq: 0, item_id: 'i0', input: {} }]));
    const itemRequest = await newRequest(db, 'beta', batchId);
    expect(
      await batches.writeResult(db, batchId, 'i0', { ok: true, result: { x: 1 }, requestIds: [itemRequest] }),
    ).toBe(true);
    expect(await batches.writeResult(db, batchId, 'i0', { ok: true, requestIds: [itemRequest] })).toBe(false);
    const at = Date.now();
    const budget = { tenantId: 'beta', summary: 's', details: { limitUsd: 1, spentUsd: 0.9 } };
    await alerts.openAlert(db, { kind: 'budget_threshold', subject: 'beta:tenant:month', ...budget }, at);
    await alerts.openAlert(db, { kind: 'budget_threshold', subject: 'beta:tenant:month', ...budget }, at); // open already
    await alerts.openAlert(
      db,
      { kind: 'provider_down', subject: 'p1/m1', tenantId: null, summary: 'down', details: {} },
      at,
    );
    const events = await rows(db);
    expect(events.map((e) => [e.type, e.tenant_id])).toEqual([
      ['request.finished', 'acme'],
      ['batch_item.finished', 'beta'],
      ['budget.alert', 'beta'],
    ]);
    expect(events[0]!.data).toMatchObject({ requestId: cached, cacheHit: true, status: 'succeeded' });
    expect(events[1]!.data).toMatchObject({ batchId, itemId: 'i0', ok: true, requestIds: [itemRequest] });
    expect(events[2]!.data).toMatchObject({ kind: 'budget_threshold', details: { limitUsd: 1, spentUsd: 0.9 } });
  });

  it('gives a late-committing event a later position, so a cursor never skips it', async () => {
    const insert = (seq: number) =>
      db.query(
        `insert into event_outbox (seq, id, tenant_id, type, data) values ($1::bigint, md5($1::text)::uuid, 'acme', 'request.finished', '{}')`,
        [seq],
      );
    // seq 2 commits first; seq 1 (taken earlier by a transaction still open) commits after the
    // sink was given seq 2.
    await insert(2);
    expect(await db.transaction((tx) => outbox.sequenceEvents(tx))).toBe(1);
    const first = await outbox.eventsAfter(db, await outbox.sinkCursor(db, 'hook'), 100);
    expect(first.map((e) => e.seq)).toEqual(['1']);
    await outbox.advanceCursor(db, 'hook', 1);
    await insert(1);
    expect(await outbox.backlogs(db, ['hook', 'fresh'])).toEqual({ hook: 1, fresh: 2 });
    await db.transaction((tx) => outbox.sequenceEvents(tx));
    const next = await outbox.eventsAfter(db, await outbox.sinkCursor(db, 'hook'), 100);
    expect(next.map((e) => e.seq)).toEqual(['2']);
    expect(next[0]!.id).not.toBe(first[0]!.id);
    await outbox.advanceCursor(db, 'hook', 2);
    await outbox.advanceCursor(db, 'hook', 1); // a late duplicate run never moves it back
    expect(await outbox.backlogs(db, ['hook'])).toEqual({ hook: 0 });
  });
});
