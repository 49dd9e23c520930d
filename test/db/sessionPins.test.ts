/**
 * Session pins in the database: `planRoute` reads a request's pin (one statement, only for a
 * request that has a session and only while sessions are on) and records it in the decision's
 * input; `writePin` upserts, refreshes the lifetime, and its occasional sweep removes other
 * sessions' expired pins, never the one it writes.
 */
import type { Db } from '../../src/db';
import { readPin, writePin } from '../../src/db/sessionPins';
import { classify } from '../../src/domain/classify';
import { validateConfig, type VersionedConfig } from '../../src/services/configStore';
import { planRoute } from '../../src/services/routePlan';
import { unitModel } from '../support/catalog';
import { countingDb, type CountingDb } from '../support/countingDb';
import { dbKinds, openTestDb, uniqueId } from '../support/db';

const base = {
  catalog: {
    providers: [
      { id: 'oa', wireFormat: 'openai', baseUrl: 'http://127.0.0.1:1/v1' },
      { id: 'an', wireFormat: 'anthropic', baseUrl: 'http://127.0.0.1:2' },
    ],
    models: [unitModel('oa', 'cheap', { inputPricePerMTok: 0.1 }), unitModel('an', 'pricey', { inputPricePerMTok: 5 })],
  },
  routing: { defaultStrategy: 'cost' },
};
const versioned = (input: unknown): VersionedConfig => ({ version: 1, config: validateConfig(input), source: 'test' });
const hello = classify({ operation: 'chat', messages: [{ role: 'user', content: 'Hello' }] });

describe.each(dbKinds())('session pins on %s', (kind) => {
  let raw: Db;
  let db: CountingDb;
  beforeAll(async () => {
    raw = await openTestDb(kind);
    db = countingDb(raw);
  });
  afterAll(async () => raw.close());

  const route = (tenantId: string, session?: string) => ({
    requestId: uniqueId('req'),
    tenantId,
    requestedModel: 'auto',
    operation: 'chat' as const,
    needsJson: false,
    context: { tenantId, compliance: [], excludeProviders: [], metadata: {}, ...(session && { session }) },
  });
  const touching = () => db.statements().filter((s) => /session_pins/.test(s));

  it('reads the pin of a request with a session, keeps its model first, and records it', async () => {
    const tenant = uniqueId('t');
    await writePin(db, { tenantId: tenant, sessionKey: 's', provider: 'an', modelId: 'an/pricey', ttlSeconds: 300 });
    db.reset();
    const { planned, decisionInput } = await planRoute(
      { db, config: versioned(base) },
      route(tenant, 's'),
      hello,
      new Date(),
    );
    expect(touching()).toHaveLength(1);
    expect(planned.candidates[0]).toMatchObject({ modelId: 'an/pricey', reason: 'kept for session' });
    expect(decisionInput.session).toMatchObject({ key: 's', pin: { provider: 'an', modelId: 'an/pricey' } });
    // Pins are the tenant's: another tenant's session of the same name has none.
    const other = await planRoute({ db, config: versioned(base) }, route(uniqueId('t'), 's'), hello, new Date());
    expect(other.planned.candidates[0]!.modelId).toBe('oa/cheap');
    expect(other.decisionInput.session).toEqual({ key: 's' });
  });

  it('reads nothing for a request without a session, or with sessions off', async () => {
    const tenant = uniqueId('t');
    db.reset();
    const plain = await planRoute({ db, config: versioned(base) }, route(tenant), hello, new Date());
    expect(plain.decisionInput.session).toBeUndefined();
    const off = versioned({ ...base, routing: { defaultStrategy: 'cost', sessions: { enabled: false } } });
    const offPlan = await planRoute({ db, config: off }, route(tenant, 's'), hello, new Date());
    expect(offPlan.decisionInput.session).toBeUndefined();
    expect(offPlan.planned.session).toBeUndefined();
    expect(touching()).toEqual([]);
  });

  it('upserts: a later answer moves the pin and refreshes its lifetime', async () => {
    const tenant = uniqueId('t');
    const pin = { tenantId: tenant, sessionKey: 's' };
    await writePin(db, { ...pin, provider: 'oa', modelId: 'oa/cheap', ttlSeconds: 60 });
    const first = (await readPin(db, tenant, 's'))!;
    await writePin(db, { ...pin, provider: 'an', modelId: 'an/pricey', ttlSeconds: 900 });
    const second = (await readPin(db, tenant, 's'))!;
    expect(second).toMatchObject({ provider: 'an', modelId: 'an/pricey' });
    const lifetime = new Date(second.expiresAt).getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(800_000);
    expect(new Date(second.expiresAt).getTime()).toBeGreaterThan(new Date(first.expiresAt).getTime());
    const rows = await db.query('select 1 from session_pins where tenant_id = $1', [tenant]);
    expect(rows.rows).toHaveLength(1);
  });

  it("an expired pin is not read; the sweep removes other sessions' expired pins, not the one it writes", async () => {
    const tenant = uniqueId('t');
    for (const key of ['mine', 'stale'])
      await db.query(
        `insert into session_pins (tenant_id, session_key, provider, model_id, expires_at)
         values ($1, $2, 'oa', 'oa/cheap', now() - interval '1 minute')`,
        [tenant, key],
      );
    expect(await readPin(db, tenant, 'mine')).toBeUndefined();
    await writePin(
      db,
      { tenantId: tenant, sessionKey: 'mine', provider: 'an', modelId: 'an/pricey', ttlSeconds: 300 },
      true,
    );
    expect(await readPin(db, tenant, 'mine')).toMatchObject({ modelId: 'an/pricey' });
    const left = await db.query<{ session_key: string }>('select session_key from session_pins where tenant_id = $1', [
      tenant,
    ]);
    expect(left.rows.map((r) => r.session_key)).toEqual(['mine']);
  });
});
