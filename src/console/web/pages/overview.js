// The Overview page: the traffic of a time range as Chart.js charts (requests, cost, tokens,
// latency percentiles, error, fallback and cache-hit rates), split by provider, model, operation
// or tenant, with the range's totals as tiles. The last hour refreshes itself every 10 s.
import {
  PALETTE,
  api,
  atLeast,
  destroyCharts,
  fmt,
  h,
  hashWith,
  isoOfLocal,
  localOfIso,
  notice,
  pageRoot,
  replace,
  section,
  select,
  sizedChart,
} from '../lib.js';

const HOUR = 3_600_000;
export const RANGES = { '1h': HOUR, '24h': 24 * HOUR, '7d': 7 * 24 * HOUR, '30d': 30 * 24 * HOUR };
const LIVE_MS = 10_000;

/** The window a range names: [now - span, now), or the custom from/to. */
export function windowOf(range, from, to, now = Date.now()) {
  if (range === 'custom' && from && to) return { from: new Date(from), to: new Date(to) };
  const span = RANGES[range] || HOUR;
  return { from: new Date(now - span), to: new Date(now) };
}

/** Every bucket start in [from, to) (buckets start at multiples of their size, UTC). */
export function bucketStarts(from, to, bucketMs) {
  const out = [];
  for (let t = Math.floor(from.getTime() / bucketMs) * bucketMs; t < to.getTime(); t += bucketMs) out.push(t);
  return out;
}

const label = (t, bucket) => {
  const iso = new Date(t).toISOString();
  if (bucket === 'minute') return iso.slice(11, 16);
  if (bucket === 'hour') return `${iso.slice(5, 10)} ${iso.slice(11, 13)}h`;
  return iso.slice(0, 10);
};

/** The series' rows as one dataset per key, a value per bucket (missing buckets: 0 or null). */
function datasetsOf(series, starts, pick, { gaps = false, fill } = {}) {
  const keys = [...new Set(series.data.map((r) => r.key ?? 'all'))];
  return keys.map((key, i) => {
    const byT = new Map(series.data.filter((r) => (r.key ?? 'all') === key).map((r) => [Date.parse(r.t), r]));
    return {
      label: key,
      data: starts.map((t) => (byT.has(t) ? pick(byT.get(t)) : gaps ? null : 0)),
      borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: PALETTE[i % PALETTE.length],
      spanGaps: true,
      ...(fill && { fill }),
    };
  });
}

const stackedBar = (labels, datasets, yTitle) => ({
  type: 'bar',
  data: { labels, datasets },
  options: {
    scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: yTitle } } },
  },
});

const lines = (labels, datasets, yTitle, pct = false) => ({
  type: 'line',
  data: { labels, datasets },
  options: {
    elements: { point: { radius: 2 } },
    scales: {
      y: {
        beginAtZero: true,
        ...(pct && { max: 100 }),
        title: { display: true, text: yTitle },
      },
    },
  },
});

const tile = (key, value, testid, raw) =>
  h('div', { class: 'tile', dataset: { testid, ...(raw !== undefined && { value: String(raw) }) } }, [
    h('div', { class: 'v' }, value),
    h('div', { class: 'k' }, key),
  ]);

export default {
  name: 'overview',
  title: 'Overview',
  minRole: 'member',
  async render(root, ctx) {
    const q = ctx.query;
    const range = q.get('range') || '1h';
    const operator = atLeast('operator');
    const byOptions = ['provider', 'model', 'operation', ...(operator ? ['tenant'] : [])];
    const by = byOptions.includes(q.get('by')) ? q.get('by') : 'provider';
    const tenant = operator ? q.get('tenant') || '' : '';

    const go = (changes) => ctx.navigate(hashWith('overview', { range, by, tenant, ...changes }));
    const fromInput = h('input', { type: 'datetime-local', name: 'from', value: localOfIso(q.get('from')) });
    const toInput = h('input', { type: 'datetime-local', name: 'to', value: localOfIso(q.get('to')) });
    const controls = h(
      'div',
      { class: 'filters', dataset: { testid: 'overview-filters' } },
      h(
        'label',
        {},
        'Range',
        select(
          'range',
          [
            { value: '1h', label: 'Last hour (live)' },
            { value: '24h', label: 'Last 24 h' },
            { value: '7d', label: 'Last 7 days' },
            { value: '30d', label: 'Last 30 days' },
            { value: 'custom', label: 'Custom…' },
          ],
          range,
          { onchange: (e) => e.target.value !== 'custom' && go({ range: e.target.value, from: '', to: '' }) },
        ),
      ),
      h(
        'label',
        {},
        'By',
        select('by', byOptions, by, {
          onchange: (e) => go({ by: e.target.value, from: q.get('from'), to: q.get('to') }),
        }),
      ),
      operator &&
        h(
          'label',
          {},
          'Tenant',
          h('input', {
            name: 'tenant',
            value: tenant,
            placeholder: 'all',
            onchange: (e) => go({ tenant: e.target.value, from: q.get('from'), to: q.get('to') }),
          }),
        ),
      h('label', {}, 'From', fromInput),
      h('label', {}, 'To', toInput),
      h(
        'button',
        {
          type: 'button',
          onclick: () => go({ range: 'custom', from: isoOfLocal(fromInput.value), to: isoOfLocal(toInput.value) }),
        },
        'Apply',
      ),
    );
    const status = h('p', { class: 'muted', dataset: { testid: 'overview-status' } });
    const body = h('div', { dataset: { testid: 'overview-body' } });
    replace(root, pageRoot('overview', 'Overview', controls, status, body));

    let seq = 0;
    const load = async () => {
      const mine = ++seq;
      const { from, to } = windowOf(range, q.get('from'), q.get('to'));
      if (!(from < to)) return replace(body, notice('Choose a "from" before the "to".', 'error'));
      const span = { from: from.toISOString(), to: to.toISOString(), tenant };
      // One call: the split by key, each bucket's total and the window's, from one scan of the window.
      const split = await api('/v1/analytics/series', { query: { ...span, by, totals: 'true' } });
      if (mine !== seq) return; // a newer load has started
      const all = { ...split, data: split.totals.series };
      const t = split.totals.window;
      const starts = bucketStarts(from, to, all.bucket_ms);
      const labels = starts.map((s) => label(s, all.bucket));
      const pct = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);

      const tiles = h(
        'div',
        { class: 'tiles' },
        tile('Requests', fmt.num(t.requests ?? 0), 'tile-requests', t.requests ?? 0),
        tile('Cost', fmt.usd(t.cost_usd ?? 0), 'tile-cost', t.cost_usd ?? 0),
        tile(
          'Tokens (in / out)',
          `${fmt.num(t.input_tokens ?? 0)} / ${fmt.num(t.output_tokens ?? 0)}`,
          'tile-tokens',
          (t.input_tokens ?? 0) + (t.output_tokens ?? 0),
        ),
        tile(
          'Latency p50 / p95 / p99',
          t.latency_ms
            ? `${fmt.ms(t.latency_ms.p50)} / ${fmt.ms(t.latency_ms.p95)} / ${fmt.ms(t.latency_ms.p99)}`
            : '–',
          'tile-latency',
        ),
        tile('Error rate', fmt.pct(t.requests ? t.failed / t.requests : 0), 'tile-errors'),
        tile('Fallback rate', fmt.pct(t.fallback_rate ?? 0), 'tile-fallback'),
        tile('Cache-hit rate', fmt.pct(t.cache_hit_rate ?? 0), 'tile-cache'),
      );
      const charts = h(
        'div',
        { class: 'cards' },
        section(
          `Requests by ${by}`,
          sizedChart(
            stackedBar(
              labels,
              datasetsOf(split, starts, (r) => r.requests),
              'requests',
            ),
            { testid: 'chart-requests' },
          ),
        ),
        section(
          `Cost by ${by} (USD)`,
          sizedChart(
            stackedBar(
              labels,
              datasetsOf(split, starts, (r) => r.cost_usd),
              'USD',
            ),
            { testid: 'chart-cost' },
          ),
        ),
        section(
          `Tokens by ${by} (input + output)`,
          sizedChart(
            stackedBar(
              labels,
              datasetsOf(split, starts, (r) => r.input_tokens + r.output_tokens),
              'tokens',
            ),
            { testid: 'chart-tokens' },
          ),
        ),
        section(
          'Latency percentiles (all)',
          sizedChart(
            lines(
              labels,
              ['p50', 'p95', 'p99'].map((p, i) => ({
                label: p,
                data: datasetsOf(all, starts, (r) => r.latency_ms[p], { gaps: true })[0]?.data ?? [],
                borderColor: PALETTE[i],
                backgroundColor: PALETTE[i],
                spanGaps: true,
              })),
              'ms',
            ),
            { testid: 'chart-latency' },
          ),
        ),
        section(
          `Latency p95 by ${by}`,
          sizedChart(
            lines(
              labels,
              datasetsOf(split, starts, (r) => r.latency_ms.p95, { gaps: true }),
              'ms',
            ),
            { testid: 'chart-latency-by' },
          ),
        ),
        section(
          'Error, fallback and cache-hit rates (all)',
          sizedChart(
            lines(
              labels,
              [
                ['errors', (r) => pct(r.error_rate)],
                ['fallbacks', (r) => pct(r.fallback_rate)],
                ['cache hits', (r) => pct(r.cache_hit_rate)],
              ].map(([name, pick], i) => ({
                label: name,
                data: datasetsOf(all, starts, pick, { gaps: true })[0]?.data ?? [],
                borderColor: PALETTE[[2, 3, 1][i]],
                backgroundColor: PALETTE[[2, 3, 1][i]],
                spanGaps: true,
              })),
              '%',
              true,
            ),
            { testid: 'chart-rates' },
          ),
        ),
        section(
          `Error rate by ${by}`,
          sizedChart(
            lines(
              labels,
              datasetsOf(split, starts, (r) => pct(r.error_rate), { gaps: true }),
              '%',
              true,
            ),
            { testid: 'chart-errors-by' },
          ),
        ),
      );
      destroyCharts(body);
      replace(body, tiles, charts);
      replace(
        status,
        `${fmt.time(from)} – ${fmt.time(to)}, ${all.bucket} buckets${range === '1h' ? ' · live, refreshed every 10 s' : ''} · updated ${new Date().toISOString().slice(11, 19)}Z`,
      );
    };

    const safeLoad = () =>
      load().catch((err) => {
        replace(status, notice(err.message || String(err), 'error'));
      });
    await safeLoad();
    if (range === '1h') ctx.every(LIVE_MS, safeLoad);
    return () => destroyCharts(body);
  },
};
