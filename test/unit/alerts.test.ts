/** The pure part of alerting: which conditions hold, and what an evaluation opens and resolves. */
import {
  AlertSettingsSchema,
  breakerConditions,
  budgetConditions,
  DEFAULT_ALERT_SETTINGS,
  latencyConditions,
  objectiveFor,
  rateLimitCondition,
  rateLimitsStillNear,
  reconcile,
  webhooksFor,
  type AlertCondition,
  type OpenAlert,
} from '../../src/domain/alerts';
import { SwitchyardConfigSchema } from '../../src/domain/config';
import { UrlPolicy, refusedUrls } from '../../src/services/urlPolicy';

const cond = (kind: AlertCondition['kind'], subject: string): AlertCondition => ({
  kind,
  subject,
  tenantId: null,
  summary: '',
  details: {},
});
const open = (id: string, kind: OpenAlert['kind'], subject: string, details = {}): OpenAlert => ({
  id,
  kind,
  subject,
  details,
});

describe('reconcile', () => {
  it('opens a new condition once, keeps an open one, resolves one that ended', () => {
    const r = reconcile(
      [open('a1', 'provider_down', 'oa/x'), open('a2', 'provider_down', 'an/y')],
      [cond('provider_down', 'oa/x'), cond('provider_down', 'oa/z'), cond('provider_down', 'oa/z')],
      ['provider_down'],
    );
    expect(r.toOpen.map((c) => c.subject)).toEqual(['oa/z']);
    expect(r.toResolve.map((a) => a.id)).toEqual(['a2']);
  });

  it('leaves the episodes of kinds not evaluated (a failed query) as they are', () => {
    const r = reconcile([open('a1', 'latency_slo', 'oa/x')], [], ['provider_down']);
    expect(r.toResolve).toEqual([]);
  });

  it('is stable: the same conditions evaluated again open nothing more', () => {
    const holding = [cond('budget_threshold', 's'), cond('budget_exhausted', 's')];
    const first = reconcile([], holding, ['budget_threshold', 'budget_exhausted']);
    expect(first.toOpen).toHaveLength(2);
    const opened = first.toOpen.map((c, i) => open(`x${i}`, c.kind, c.subject));
    expect(reconcile(opened, holding, ['budget_threshold', 'budget_exhausted'])).toEqual({ toOpen: [], toResolve: [] });
  });
});

it('a breaker open or half-open is a provider down; a forced open says so', () => {
  const c = breakerConditions([
    { endpoint: 'oa/a', status: 'open', forced: { status: 'open', reason: 'maintenance' } },
    { endpoint: 'oa/b', status: 'half-open' },
    { endpoint: 'oa/c', status: 'closed' },
  ]);
  expect(c.map((x) => x.subject)).toEqual(['oa/a', 'oa/b']);
  expect(c[0]!.summary).toMatch(/forced open/);
  expect(c[0]!.details).toMatchObject({ forced: true, reason: 'maintenance' });
});

it('budget windows: the threshold from its fraction, exhausted at the limit (both then)', () => {
  const w = {
    tenantId: 't',
    scope: 'tenant:t',
    period: 'daily',
    windowStart: '2026-12-07T00:00:00.000Z',
    windowEnd: '2026-12-08T00:00:00.000Z',
    limitUsd: 10,
  };
  const of = (spentUsd: number, threshold: number | undefined = 0.8) =>
    budgetConditions([{ ...w, spentUsd }], () => threshold).map((c) => c.kind);
  expect(of(7.99)).toEqual([]);
  expect(of(8)).toEqual(['budget_threshold']);
  expect(of(10)).toEqual(['budget_threshold', 'budget_exhausted']);
  // A tenant without a budget threshold (no budget now): nothing.
  expect(budgetConditions([{ ...w, spentUsd: 10 }], () => undefined)).toEqual([]);
  expect(budgetConditions([{ ...w, spentUsd: 9 }], () => 0.8)[0]).toMatchObject({
    subject: 'tenant:t/daily/2026-12-07T00:00:00.000Z',
    tenantId: 't',
  });
});

it('latency: above the objective with enough requests; overrides by provider, then provider/model', () => {
  const s = AlertSettingsSchema.parse({
    latencyObjective: { p95Ms: 1000, minRequests: 10, overrides: { oa: { p95Ms: 500 }, 'oa/fast': { p95Ms: 100 } } },
  }).latencyObjective;
  expect(objectiveFor(s, 'oa', 'fast')).toEqual({ p95Ms: 100, minRequests: 10 });
  expect(objectiveFor(s, 'oa', 'slow')).toEqual({ p95Ms: 500, minRequests: 10 });
  expect(objectiveFor(s, 'an', 'x')).toEqual({ p95Ms: 1000, minRequests: 10 });
  // A model recorded by its catalog id (provider/model) is the same endpoint.
  expect(objectiveFor(s, 'oa', 'oa/fast')).toEqual({ p95Ms: 100, minRequests: 10 });
  const c = latencyConditions(
    [
      { provider: 'oa', model: 'fast', count: 10, p95Ms: 150 },
      { provider: 'oa', model: 'slow', count: 9, p95Ms: 5000 },
      { provider: 'an', model: 'x', count: 50, p95Ms: 1000 },
    ],
    s,
  );
  expect(c.map((x) => x.subject)).toEqual(['oa/fast']);
});

it('rate limits: near at the fraction; the episode lasts until its window ends', () => {
  const base = { tenantId: 't', keyId: 'k1', limit: 10, fraction: 0.9, windowEndsAt: 60_000 };
  expect(rateLimitCondition({ ...base, used: 8.9 })).toBeUndefined();
  expect(rateLimitCondition({ ...base, used: 9 })).toMatchObject({ kind: 'rate_limit_near', subject: 'key:k1' });
  const a = open('r', 'rate_limit_near', 'key:k1', { windowEndsAt: new Date(60_000).toISOString() });
  expect(rateLimitsStillNear([a], 59_999)).toHaveLength(1);
  expect(rateLimitsStillNear([a], 60_000)).toHaveLength(0);
});

it('settings: defaults as documented, webhooks by kind, bad values named by path', () => {
  expect(DEFAULT_ALERT_SETTINGS).toMatchObject({
    webhooks: [],
    evaluateEverySeconds: 15,
    latencyObjective: { p95Ms: 10_000, windowMinutes: 5, minRequests: 20 },
    rateLimitNearFraction: 0.9,
  });
  const s = AlertSettingsSchema.parse({
    webhooks: [{ url: 'https://a.example/h' }, { url: 'https://b.example/h', kinds: ['budget_exhausted'] }],
  });
  expect(webhooksFor(s, 'provider_down').map((w) => w.url)).toEqual(['https://a.example/h']);
  expect(webhooksFor(s, 'budget_exhausted')).toHaveLength(2);
  const bad = SwitchyardConfigSchema.safeParse({
    catalog: { providers: [], models: [] },
    alerts: { webhooks: [{ url: 'ftp://x', kinds: ['nope'], secretName: 'lower' }], rateLimitNearFraction: 2 },
  });
  expect(bad.success).toBe(false);
  expect(
    bad
      .error!.issues.map((i) => i.path.join('.'))
      .filter((p) => p.startsWith('alerts'))
      .sort(),
  ).toEqual([
    'alerts.rateLimitNearFraction',
    'alerts.webhooks.0.kinds.0',
    'alerts.webhooks.0.secretName',
    'alerts.webhooks.0.url',
  ]);
});

it('a configuration change adding an alert webhook to a forbidden address is refused, naming its path', async () => {
  const policy = new UrlPolicy([], async () => [{ address: '93.184.216.34', family: 4 }]);
  const config = (url: string) => ({
    catalog: { providers: [] },
    tenants: {},
    alerts: { webhooks: [{ url: 'https://hooks.example/ok' }, { url }] },
  });
  expect(await refusedUrls(policy, undefined, config('https://hooks.example/also'))).toEqual([]);
  expect(await refusedUrls(policy, undefined, config('http://169.254.169.254/latest'))).toEqual([
    { path: 'alerts.webhooks.1.url', message: expect.stringMatching(/not allowed/) },
  ]);
});
