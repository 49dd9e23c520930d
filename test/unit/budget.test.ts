import {
  applicableWindows,
  budgetScopes,
  budgetView,
  currentWindows,
  perRequestLimit,
  reservationUsd,
  TenantBudgetSchema,
  windowEnd,
  windowStart,
} from '../../src/domain/budget';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('budget windows (UTC)', () => {
  it('daily windows roll over at midnight UTC', () => {
    expect(iso(windowStart('daily', t('2026-11-22T23:59:59.999Z')))).toBe('2026-11-22T00:00:00.000Z');
    expect(iso(windowEnd('daily', t('2026-11-22T23:59:59.999Z')))).toBe('2026-11-23T00:00:00.000Z');
    expect(iso(windowStart('daily', t('2026-11-23T00:00:00.000Z')))).toBe('2026-11-23T00:00:00.000Z');
    expect(iso(windowEnd('daily', t('2026-12-31T12:00:00Z')))).toBe('2027-01-01T00:00:00.000Z');
  });

  it('weekly windows run Monday to Monday', () => {
    expect(iso(windowStart('weekly', t('2026-11-22T10:00:00Z')))).toBe('2026-11-16T00:00:00.000Z'); // a Sunday
    expect(iso(windowEnd('weekly', t('2026-11-22T10:00:00Z')))).toBe('2026-11-23T00:00:00.000Z');
    expect(iso(windowStart('weekly', t('2026-11-23T00:00:00Z')))).toBe('2026-11-23T00:00:00.000Z'); // a Monday
    expect(iso(windowEnd('weekly', t('2026-12-30T00:00:00Z')))).toBe('2027-01-04T00:00:00.000Z');
  });

  it('monthly windows roll over on the 1st, including 31 → 1 and February', () => {
    expect(iso(windowEnd('monthly', t('2026-01-31T23:00:00Z')))).toBe('2026-02-01T00:00:00.000Z');
    expect(iso(windowStart('monthly', t('2026-02-28T23:59:59Z')))).toBe('2026-02-01T00:00:00.000Z');
    expect(iso(windowEnd('monthly', t('2026-02-28T23:59:59Z')))).toBe('2026-03-01T00:00:00.000Z');
    expect(iso(windowEnd('monthly', t('2028-02-29T12:00:00Z')))).toBe('2028-03-01T00:00:00.000Z'); // leap year
    expect(iso(windowEnd('monthly', t('2026-12-15T00:00:00Z')))).toBe('2027-01-01T00:00:00.000Z');
  });

  it('lists the windows with limits, in a stable lock order', () => {
    const w = applicableWindows(
      [
        { scope: 'user:acme:u1', limits: { dailyUsd: 1 } },
        { scope: 'tenant:acme', limits: { monthlyUsd: 100, dailyUsd: 10 } },
      ],
      t('2026-11-22T10:00:00Z'),
    );
    expect(w.map((x) => `${x.scope}/${x.period}/${x.limitUsd}`)).toEqual([
      'tenant:acme/daily/10',
      'tenant:acme/monthly/100',
      'user:acme:u1/daily/1',
    ]);
  });

  it('reserves the worst case: all input with the tokenizer margin, plus the whole output cap', () => {
    const m = { inputPricePerMTok: 2.5, outputPricePerMTok: 10, maxOutputTokens: 4_000 };
    // 1,000 counted tokens → 1,266 reserved (×1.25 + 16); output capped at the model's 4,000.
    expect(reservationUsd(m, 1_000, 10_000)).toBe(0.043165);
    expect(reservationUsd(m, 1_000, 100)).toBe(0.004165);
    expect(reservationUsd(m, 1_000, 100, 'embeddings')).toBe(0.003165);
    // Rounded up, never down: a reservation is never smaller than the price.
    expect(
      reservationUsd({ inputPricePerMTok: 0.15, outputPricePerMTok: 0.6, maxOutputTokens: 10 }, 1, 1),
    ).toBeGreaterThanOrEqual(((Math.ceil(1.25) + 16) * 0.15 + 0.6) / 1e6);
  });
});

describe('budget scopes and the routing view', () => {
  const budget = TenantBudgetSchema.parse({
    dailyUsd: 10,
    perRequestUsd: 0.5,
    perUser: { dailyUsd: 1 },
    users: { vip: { dailyUsd: 5, perRequestUsd: 2 } },
  });
  const at = t('2026-11-22T10:00:00Z');

  it('a request spends in its tenant and, when limited, its user; named users replace the per-user default', () => {
    expect(budgetScopes(undefined, 'acme', 'u1')).toEqual([]);
    expect(budgetScopes(budget, 'acme').map((s) => s.scope)).toEqual(['tenant:acme']);
    expect(budgetScopes(budget, 'acme', 'u1')).toMatchObject([
      { scope: 'tenant:acme' },
      { scope: 'user:acme:u1', limits: { dailyUsd: 1 } },
    ]);
    expect(budgetScopes(budget, 'acme', 'vip')[1]).toMatchObject({
      scope: 'user:acme:vip',
      limits: { dailyUsd: 5, perRequestUsd: 2 },
    });
    expect(perRequestLimit(budgetScopes(budget, 'acme', 'vip'))).toBe(0.5); // the tightest wins
    expect(TenantBudgetSchema.parse({}).alertThreshold).toBe(0.8);
    expect(TenantBudgetSchema.safeParse({ dailyUsd: 0 }).success).toBe(false);
    expect(TenantBudgetSchema.safeParse({ alertThreshold: 1.5 }).success).toBe(false);
  });

  it('the view is the tightest window; near the limit once any window passes the alert threshold', () => {
    const scopes = budgetScopes(budget, 'acme', 'u1');
    const fresh = currentWindows(scopes, [], at);
    expect(fresh.map((w) => [w.scope, w.period, w.remainingUsd, w.resetsAt])).toEqual([
      ['tenant:acme', 'daily', 10, '2026-11-23T00:00:00.000Z'],
      ['user:acme:u1', 'daily', 1, '2026-11-23T00:00:00.000Z'],
    ]);
    expect(budgetView(fresh, 0.5, 0.8)).toMatchObject({
      remainingUsd: 1,
      perRequestUsd: 0.5,
      nearLimit: false,
      tightest: { scope: 'user:acme:u1' },
    });
    const used = currentWindows(
      scopes,
      [{ scope: 'user:acme:u1', period: 'daily', spentUsd: 0.7, reservedUsd: 0.1 }],
      at,
    );
    expect(budgetView(used, undefined, 0.8)).toMatchObject({ remainingUsd: 0.2, nearLimit: true });
    expect(budgetView(used, undefined, 0.9).nearLimit).toBe(false);
  });
});
