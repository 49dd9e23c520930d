import type { Db } from '../../src/db';
import { expireStale, release, reserve, settle, windowUsage } from '../../src/db/budgetLedger';
import { applicableWindows } from '../../src/domain/budget';
import { dbKinds, openTestDb, uniqueId } from '../support/db';

const NOW = Date.parse('2026-11-22T10:00:00Z');

describe.each(dbKinds())('budget ledger on %s', (kind) => {
  let db: Db;
  beforeAll(async () => {
    db = await openTestDb(kind);
  });
  afterAll(async () => db.close());

  it('200 concurrent reservations against a daily budget that fits exactly 20: 20 succeed, none overspend, the ledger is exact', async () => {
    const scope = `tenant:${uniqueId('t')}`;
    const windows = applicableWindows([{ scope, limits: { dailyUsd: 0.2 } }], NOW);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        reserve(db, { id: `${scope}-r${i}`, amountUsd: 0.01, windows, ttlMs: 60_000, now: NOW }),
      ),
    );
    const granted = results.filter((r) => r.ok);
    expect(granted).toHaveLength(20);
    const refused = results.find((r) => !r.ok);
    expect(refused).toMatchObject({
      ok: false,
      refused: { scope, period: 'daily', limitUsd: 0.2, remainingUsd: 0, resetsAt: '2026-11-23T00:00:00.000Z' },
    });

    // Settle each to a real cost below the reservation; the window's spent is the exact sum.
    const actual = [0.0073, 0.0041, 0.01, 0.0001];
    await Promise.all(
      granted.map((r, i) => settle(db, (r as { reservationId: string }).reservationId, actual[i % 4]!)),
    );
    const [usage] = await windowUsage(db, scope, NOW);
    const expected = granted.reduce((sum, _, i) => sum + actual[i % 4]!, 0);
    expect(usage!.spentUsd).toBeCloseTo(expected, 10);
    expect(usage!.spentUsd).toBeLessThanOrEqual(0.2);
    expect(usage!.reservedUsd).toBe(0);
    const ledger = await db.query<{ total: number }>(
      `select sum(actual_usd) as total from budget_reservations where id like $1 and status = 'settled'`,
      [`${scope}-%`],
    );
    expect(ledger.rows[0]!.total).toBeCloseTo(usage!.spentUsd, 10);
  });

  it('holds every applicable window at once: the tightest one refuses', async () => {
    const tenant = `tenant:${uniqueId('t')}`;
    const user = `user:${uniqueId('u')}`;
    const windows = applicableWindows(
      [
        { scope: tenant, limits: { dailyUsd: 10, monthlyUsd: 100 } },
        { scope: user, limits: { dailyUsd: 0.05 } },
      ],
      NOW,
    );
    expect((await reserve(db, { id: `${user}-a`, amountUsd: 0.04, windows, ttlMs: 60_000, now: NOW })).ok).toBe(true);
    const second = await reserve(db, { id: `${user}-b`, amountUsd: 0.02, windows, ttlMs: 60_000, now: NOW });
    expect(second).toMatchObject({ ok: false, refused: { scope: user, period: 'daily' } });
    // The refused one held nothing anywhere.
    expect((await windowUsage(db, tenant, NOW)).map((w) => w.reservedUsd)).toEqual([0.04, 0.04]);
  });

  it('is idempotent per reservation id; release frees it; a stale one expires', async () => {
    const scope = `tenant:${uniqueId('t')}`;
    const windows = applicableWindows([{ scope, limits: { dailyUsd: 1 } }], NOW);
    await reserve(db, { id: `${scope}-x`, amountUsd: 0.5, windows, ttlMs: 60_000, now: NOW });
    expect(await reserve(db, { id: `${scope}-x`, amountUsd: 0.5, windows, ttlMs: 60_000, now: NOW })).toMatchObject({
      ok: true,
      duplicate: true,
    });
    expect((await windowUsage(db, scope, NOW))[0]!.reservedUsd).toBe(0.5);
    expect(await release(db, `${scope}-x`)).toBe(true);
    expect(await release(db, `${scope}-x`)).toBe(false);
    expect(await settle(db, `${scope}-x`, 0.3)).toBe(false); // closed already: nothing moves
    expect((await windowUsage(db, scope, NOW))[0]).toMatchObject({ reservedUsd: 0, spentUsd: 0 });

    await reserve(db, { id: `${scope}-y`, amountUsd: 0.7, windows, ttlMs: 1_000, now: NOW });
    expect(await expireStale(db, NOW + 500)).toBe(0);
    expect(await expireStale(db, NOW + 2_000)).toBeGreaterThanOrEqual(1);
    expect((await windowUsage(db, scope, NOW))[0]!.reservedUsd).toBe(0);
  });
});
