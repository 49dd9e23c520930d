/**
 * The shipped Prometheus rules (deploy/prometheus/switchyard-alerts.yml) and Grafana dashboard
 * (deploy/grafana/switchyard-dashboard.json) reference only metrics `/metrics` exports: every
 * metric name in every expression (a histogram's `_bucket`/`_sum`/`_count` series counted as the
 * histogram) is present in a scrape taken after traffic through the stack (requests, a fallback,
 * a stream, a cached repeat, rate-limited provider calls, a breaker, a budget, a batch).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, fakeModel, openaiClient, setDailyBudget, useTestStack } from '../support/stack';

const ROOT = path.join(__dirname, '..', '..');
const RULES = path.join(ROOT, 'deploy', 'prometheus', 'switchyard-alerts.yml');
const DASHBOARD = path.join(ROOT, 'deploy', 'grafana', 'switchyard-dashboard.json');

/** PromQL words that look like names: functions, aggregations, keywords, and `up` (Prometheus's own). */
const PROMQL_WORDS = new Set(
  [
    'sum avg min max count stddev stdvar topk bottomk quantile count_values group',
    'by without on ignoring group_left group_right bool and or unless offset',
    'rate irate increase delta idelta deriv histogram_quantile abs ceil floor round clamp clamp_min clamp_max',
    'vector scalar time absent absent_over_time sum_over_time avg_over_time max_over_time min_over_time',
    'count_over_time label_replace label_join sort sort_desc predict_linear changes resets timestamp le inf nan',
    'up',
  ]
    .join(' ')
    .split(' '),
);

interface Rules {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
}
interface Dashboard {
  panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
}

/**
 * The metric names an expression references: identifiers outside strings, label matchers, `by
 * (…)`/`without (…)`/`on (…)`/`ignoring (…)` lists, range selectors and template variables, that
 * are not PromQL words (functions, aggregations, keywords).
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\$\{?\w+\}?/g, '');
  const names = stripped.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(names.filter((n) => !PROMQL_WORDS.has(n) && !/^\d/.test(n)))];
}

/** A histogram's series name → the histogram's (what `/metrics` declares in `# TYPE`). */
const baseName = (name: string, histograms: Set<string>) => {
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m && histograms.has(m[1]!) ? m[1]! : name;
};

const rules = parse(fs.readFileSync(RULES, 'utf8')) as Rules;
const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const ruleExprs = rules.groups.flatMap((g) =>
  g.rules.map((r) => ({ where: `${g.name}/${r.alert ?? r.record}`, expr: r.expr })),
);
const panelExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr })));

it('extracts metric names as PromQL reads them', () => {
  expect(
    metricNames(
      'histogram_quantile(0.95, sum by (provider, le) (rate(switchyard_x_seconds_bucket{outcome!="success"}[5m]))) > 10 and on (a) up == 0',
    ),
  ).toEqual(['switchyard_x_seconds_bucket']);
  expect(metricNames('switchyard_a / (switchyard_b + switchyard_a) > 0.8')).toEqual(['switchyard_a', 'switchyard_b']);
  expect(baseName('switchyard_x_seconds_bucket', new Set(['switchyard_x_seconds']))).toBe('switchyard_x_seconds');
  // `_count` of a counter is not a histogram's series: kept whole.
  expect(baseName('switchyard_items_count', new Set())).toBe('switchyard_items_count');
});

it('ships well-formed rules and a dashboard', () => {
  expect(ruleExprs.length).toBeGreaterThanOrEqual(10);
  for (const g of rules.groups)
    for (const r of g.rules) {
      expect(r.alert).toMatch(/^Switchyard[A-Za-z]+$/);
      expect(typeof r.expr).toBe('string');
      // Balanced brackets: the commonest typo promtool would catch.
      for (const [open, close] of [
        ['(', ')'],
        ['{', '}'],
        ['[', ']'],
      ] as const)
        expect(r.expr.split(open).length).toBe(r.expr.split(close).length);
    }
  expect(panelExprs.length).toBeGreaterThanOrEqual(15);
  const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join('\n');
  for (const want of [
    'request rate',
    'latency p50 / p95 / p99',
    'budget',
    'cache hit',
    'fallbacks',
    'breaker',
    'batch',
  ])
    expect(titles).toContain(want);
});

describe('against a scrape after traffic', () => {
  const stack = useTestStack(
    {
      breakers: true,
      cache: { chat: 60 },
      catalog: (f) =>
        CatalogSchema.parse({
          // A provider limit, so calls pass (and are timed by) the rate gate.
          providers: fakeCatalogProviders(f).map((p) => ({ ...p, rpm: 10_000 })),
          models: [fakeModel('oa', 'primary', { qualityTier: 3 }), fakeModel('an', 'backup', { qualityTier: 4 })],
        }),
      config: {
        routing: { defaultStrategy: 'quality' },
        retry: { default: { maximumAttempts: 1, timeoutMs: 10_000 } },
        breakers: { failureThreshold: 100, minCalls: 100 },
      },
    },
    { timeout: 120_000 },
  );

  it('every metric the rules and the dashboard reference is exported', async () => {
    await setDailyBudget(stack, 10);
    stack.fakes.openai.script('primary', { kind: 'error', status: 503, message: 'Overloaded' });
    const client = openaiClient(stack);
    await client.chat.completions.create({ model: 'oa/primary', messages: [{ role: 'user', content: 'falls back' }] });
    for (let i = 0; i < 2; i++)
      await client.chat.completions.create({ model: 'an/backup', messages: [{ role: 'user', content: 'cached' }] });
    const stream = await client.chat.completions.create({
      model: 'an/backup',
      messages: [{ role: 'user', content: 'stream' }],
      stream: true,
    });
    for await (const chunk of stream) void chunk;
    const root = stack.baseURL.replace(/\/v1$/, '');
    const res = await fetch(`${root}/metrics`, { headers: { authorization: `Bearer ${stack.operatorKey}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const histograms = new Set([...types].filter(([, t]) => t === 'histogram').map(([n]) => n));
    const sampled = new Set([...text.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})? /gm)].map((m) => m[1]!));

    const missing: string[] = [];
    const unsampled: string[] = [];
    for (const { where, expr } of [...ruleExprs, ...panelExprs])
      for (const name of metricNames(expr)) {
        const base = baseName(name, histograms);
        if (!types.has(base)) missing.push(`${where}: ${name}`);
        else if (!sampled.has(name) && !sampled.has(`${base}_count`)) unsampled.push(name);
      }
    expect(missing).toEqual([]);
    // Series the traffic above produces are there; only rare events' counters may have none yet.
    const RARE = ['switchyard_swallowed_errors_total', 'switchyard_stream_malformed_events_total'];
    expect([...new Set(unsampled)].filter((n) => !RARE.includes(n))).toEqual([]);
  }, 60_000);
});
