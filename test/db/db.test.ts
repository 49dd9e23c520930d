import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/db';
import { createHash } from 'node:crypto';
import {
  createApiKey,
  ensureTenant,
  findApiKey,
  generateApiKey,
  revokeApiKey,
  upsertApiKey,
} from '../../src/db/apiKeys';
import { loadMigrations, migrate } from '../../src/db/migrate';
import { publishBreakerState, listBreakerStates } from '../../src/db/breakerStates';
import {
  completeRequest,
  getRequest,
  insertRequest,
  listAttempts,
  startAttempt,
  recordAttempt,
  saveDecision,
} from '../../src/db/requests';
import { dbKinds, openTestDb, uniqueId } from '../support/db';

describe.each(dbKinds())('database on %s', (kind) => {
  let db: Db;
  beforeAll(async () => {
    db = await openTestDb(kind);
  });
  afterAll(async () => db.close());

  it('applies migrations idempotently', async () => {
    expect(await migrate(db)).toEqual([]);
    const rows = await db.query<{ version: string }>('select version from schema_migrations order by version');
    expect(rows.rows.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
  });

  it('stores API keys salted and hashed, and resolves them to their tenant', async () => {
    const tenant = uniqueId('t');
    const key = generateApiKey();
    await upsertApiKey(db, tenant, key, 'test');
    expect(await findApiKey(db, key)).toMatchObject({ ok: true, owner: { tenantId: tenant, role: 'member' } });
    expect(await findApiKey(db, `${key}x`)).toEqual({ ok: false, why: 'unknown' });
    const stored = await db.query<{ key_hash: string; key_salt: string; key_prefix: string }>(
      'select key_hash, key_salt, key_prefix from api_keys where tenant_id = $1',
      [tenant],
    );
    expect(stored.rows[0]!.key_hash).not.toContain(key);
    expect(stored.rows[0]!.key_hash).not.toBe(createHash('sha256').update(key).digest('hex'));
    expect(stored.rows[0]!.key_salt).toMatch(/^[0-9a-f]{32}$/);
    expect(stored.rows[0]!.key_prefix).toBe(key.slice(0, 14));
    // Upserting the same key again keeps one row.
    await upsertApiKey(db, tenant, key, 'again');
    expect((await db.query('select 1 from api_keys where tenant_id = $1', [tenant])).rows).toHaveLength(1);
  });

  it('a revoked key stays revoked, whatever re-stores it; an expired key is refused', async () => {
    const tenant = uniqueId('t');
    const key = generateApiKey();
    const { id } = await upsertApiKey(db, tenant, key, 'bootstrap', 'operator');
    expect(await revokeApiKey(db, id, tenant)).toMatchObject({ id, revoked_at: null });
    expect(await upsertApiKey(db, tenant, key, 'bootstrap', 'operator')).toEqual({ id, revoked: true });
    expect(await findApiKey(db, key)).toEqual({ ok: false, why: 'revoked' });
    const soon = await createApiKey(db, {
      tenantId: tenant,
      name: 'short',
      role: 'member',
      expiresAt: new Date(Date.now() + 60_000),
    });
    expect((await findApiKey(db, soon.key)).ok).toBe(true);
    expect(await findApiKey(db, soon.key, new Date(Date.now() + 120_000))).toEqual({ ok: false, why: 'expired' });
  });

  it('still verifies a key stored before salts (plain SHA-256)', async () => {
    const tenant = uniqueId('t');
    await ensureTenant(db, tenant);
    const key = generateApiKey();
    await db.query(
      `insert into api_keys (id, tenant_id, key_hash, key_prefix, name, role) values ($1, $2, $3, $4, 'legacy', 'admin')`,
      [uniqueId('key'), tenant, createHash('sha256').update(key).digest('hex'), key.slice(0, 10)],
    );
    expect(await findApiKey(db, key)).toMatchObject({ ok: true, owner: { tenantId: tenant, role: 'admin' } });
  });

  it('a late decision (a retried local activity) never reopens a finished request', async () => {
    const requestId = uniqueId('r');
    const tenant = uniqueId('t');
    await upsertApiKey(db, tenant, generateApiKey(), 'k');
    await insertRequest(db, {
      requestId,
      workflowId: `req-${requestId}`,
      tenantId: tenant,
      operation: 'chat',
      requestedModel: 'auto',
      body: {},
      bodyHash: 'h',
    });
    const decision = { classification: {}, decision: { summary: 'first' }, decisionInput: {}, configVersion: 1 };
    await saveDecision(db, requestId, decision);
    expect((await getRequest(db, requestId))?.status).toBe('running');
    await completeRequest(db, requestId, { status: 'succeeded', latencyMs: 5 });
    await saveDecision(db, requestId, { ...decision, decision: { summary: 'late' } });
    const row = await getRequest(db, requestId);
    expect(row?.status).toBe('succeeded');
    expect(row?.decision).toEqual({ summary: 'first' });
  });

  it("keeps the newest breaker state by the workflow's clock, whatever order the writes land in", async () => {
    const endpoint = uniqueId('p/m');
    const snap = (status: 'open' | 'closed') => ({ endpoint, status, tripCount: 1, consecutiveTrips: 1, errorRate: 0 });
    await publishBreakerState(db, snap('open'), 2_000);
    await publishBreakerState(db, snap('closed'), 1_000); // a retried, older write
    expect((await listBreakerStates(db)).find((b) => b.endpoint === endpoint)?.status).toBe('open');
    await publishBreakerState(db, snap('closed'), 3_000);
    expect((await listBreakerStates(db)).find((b) => b.endpoint === endpoint)?.status).toBe('closed');
  });

  it('inserts a request once and returns the stored row on retry', async () => {
    const tenant = uniqueId('t');
    await upsertApiKey(db, tenant, generateApiKey(), 'k');
    const requestId = uniqueId('r');
    const r = {
      requestId,
      workflowId: `req-${requestId}`,
      tenantId: tenant,
      operation: 'chat',
      requestedModel: 'auto',
      body: { a: 1 },
      bodyHash: 'h1',
    };
    expect((await insertRequest(db, r)).created).toBe(true);
    const again = await insertRequest(db, { ...r, bodyHash: 'h2' });
    expect(again.created).toBe(false);
    expect(again.row.body_hash).toBe('h1');
    expect(again.row.body).toEqual({ a: 1 });
  });

  it('records attempts idempotently per attempt number and completes the request', async () => {
    const tenant = uniqueId('t');
    await upsertApiKey(db, tenant, generateApiKey(), 'k');
    const requestId = uniqueId('r');
    await insertRequest(db, {
      requestId,
      workflowId: `req-${requestId}`,
      tenantId: tenant,
      operation: 'chat',
      requestedModel: 'auto',
      body: {},
      bodyHash: 'h',
    });
    const a = {
      candidateIndex: 0,
      attempt: 1,
      provider: 'p',
      model: 'm',
      outcome: 'error' as const,
      errorType: 'Overloaded',
      status: 503,
      startedAt: new Date().toISOString(),
      latencyMs: 5,
    };
    await recordAttempt(db, requestId, a);
    await recordAttempt(db, requestId, { ...a, latencyMs: 7 });
    await recordAttempt(db, requestId, {
      ...a,
      attempt: 2,
      outcome: 'success',
      errorType: undefined,
      status: undefined,
    });
    const attempts = await listAttempts(db, requestId);
    expect(attempts.map((x) => [x.attempt, x.outcome, x.latencyMs])).toEqual([
      [1, 'error', 7],
      [2, 'success', 5],
    ]);
    // A third, started by a worker that died: its body was read in the same round trip.
    const started = await startAttempt(db, requestId, { ...a, candidateIndex: 1, attempt: 1 });
    expect(started).toMatchObject({ operation: 'chat', body: {} });
    await recordAttempt(db, requestId, { ...a, attempt: 2, outcome: 'success', costUsd: 0.00001245 });

    const done = await completeRequest(db, requestId, {
      status: 'succeeded',
      response: { content: 'hi' },
      provider: 'p',
      model: 'p/m',
      inputTokens: 3,
      outputTokens: 4,
      latencyMs: 12,
    });
    expect(done.abandoned).toEqual([{ candidateIndex: 1, attempt: 1, provider: 'p', model: 'm' }]);
    expect(done.attempts.map((x) => [x.candidateIndex, x.attempt, x.outcome, x.costUsd])).toEqual([
      [0, 1, 'error', undefined],
      [0, 2, 'success', 0.00001245],
      [1, 1, 'abandoned', undefined],
    ]);
    expect(await listAttempts(db, requestId)).toEqual(done.attempts);
    const row = await getRequest(db, requestId);
    expect(row).toMatchObject({
      status: 'succeeded',
      input_tokens: 3,
      output_tokens: 4,
      cost_usd: 0.00001245,
      response: { content: 'hi' },
    });
  });
});

describe('PGlite on disk', () => {
  it('keeps rows across a close and reopen', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-pglite-'));
    try {
      const first = await openDb({ pgliteDir: path.join(dir, 'db') });
      await migrate(first);
      await upsertApiKey(first, 'persisted', 'sk-sy-persisted-key-123', 'k');
      await first.close();
      const second = await openDb({ pgliteDir: path.join(dir, 'db') });
      expect(await migrate(second)).toEqual([]);
      expect(await findApiKey(second, 'sk-sy-persisted-key-123')).toMatchObject({ owner: { tenantId: 'persisted' } });
      await second.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
