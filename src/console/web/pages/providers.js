// The Providers page (operators): every model endpoint's breaker with force open / close (a
// reason is required to open: it stops traffic for every tenant), each provider instance, error
// rate and latency over the last hour by provider or model, and the last provider errors
// (redacted by the API). Refreshed every 10 s, and at once after an action.
import {
  PALETTE,
  api,
  badge,
  destroyCharts,
  errorText,
  fmt,
  h,
  hashWith,
  href,
  notice,
  pageRoot,
  replace,
  section,
  select,
  sizedChart,
  table,
} from '../lib.js';
import { bucketStarts } from './overview.js';

const LIVE_MS = 10_000;
const HOUR = 3_600_000;

function breakerRow(b, act, kept = '') {
  const reason = h('input', {
    name: 'reason',
    placeholder: 'reason',
    value: kept,
    dataset: { testid: 'breaker-reason', breaker: b.id },
  });
  return {
    ...b,
    actions: h(
      'div',
      { class: 'row' },
      reason,
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          dataset: { testid: 'force-open' },
          onclick: () => act(b.id, 'open', reason.value),
        },
        'Force open',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          dataset: { testid: 'force-close' },
          onclick: () => act(b.id, 'close', reason.value),
        },
        'Force close',
      ),
    ),
  };
}

function seriesChart(series, starts, labels, pick, testid, yTitle, pct = false) {
  const keys = [...new Set(series.data.map((r) => r.key ?? 'all'))];
  return sizedChart(
    {
      type: 'line',
      data: {
        labels,
        datasets: keys.map((key, i) => {
          const byT = new Map(series.data.filter((r) => (r.key ?? 'all') === key).map((r) => [Date.parse(r.t), r]));
          return {
            label: key,
            data: starts.map((t) => (byT.has(t) ? pick(byT.get(t)) : null)),
            borderColor: PALETTE[i % PALETTE.length],
            backgroundColor: PALETTE[i % PALETTE.length],
            spanGaps: true,
          };
        }),
      },
      options: {
        elements: { point: { radius: 2 } },
        scales: { y: { beginAtZero: true, ...(pct && { max: 100 }), title: { display: true, text: yTitle } } },
      },
    },
    { testid },
  );
}

export default {
  name: 'providers',
  title: 'Providers',
  minRole: 'operator',
  async render(root, ctx) {
    const by = ctx.query.get('by') === 'model' ? 'model' : 'provider';
    const out = h('div', { dataset: { testid: 'breaker-action' } });
    const breakers = h('div');
    const instances = h('div');
    const charts = h('div', { class: 'cards' });
    const errors = h('div');
    const status = h('p', { class: 'muted' });
    replace(
      root,
      pageRoot(
        'providers',
        'Providers',
        status,
        section('Breakers', out, breakers),
        section('Provider instances', instances),
        h(
          'div',
          { class: 'filters' },
          h(
            'label',
            {},
            'Series by',
            select('by', ['provider', 'model'], by, {
              onchange: (e) => ctx.navigate(hashWith('providers', { by: e.target.value })),
            }),
          ),
        ),
        charts,
        section('Last provider errors (redacted)', errors),
      ),
    );

    let seq = 0;
    /** The reasons typed so far, by breaker: a refresh renders the rows again and must keep them. */
    const typed = new Map();
    const act = async (id, action, reason) => {
      replace(out);
      let result;
      try {
        const [provider, ...model] = id.split('/');
        const r = await api(
          `/v1/providers/${encodeURIComponent(provider)}/${model.map(encodeURIComponent).join('/')}/breaker`,
          {
            method: 'POST',
            body: { action, ...(reason.trim() && { reason: reason.trim() }) },
          },
        );
        const input = breakers.querySelector(`input[data-breaker="${CSS.escape(id)}"]`);
        if (input) input.value = '';
        result = notice(
          `${r.id}: breaker ${r.breaker.status} (${action === 'open' ? 'forced open' : 'forced closed'}).`,
          'ok',
        );
      } catch (err) {
        result = notice(errorText(err), 'error');
      }
      // The new state first, then the message: once it shows, the table shows the action's effect.
      await load(true);
      replace(out, result);
    };

    const loadBreakers = async (force) => {
      for (const i of breakers.querySelectorAll('input[data-breaker]')) typed.set(i.dataset.breaker, i.value);
      // A refresh does not take the focus from a reason being typed (an action's refresh does).
      if (!force && breakers.contains(document.activeElement)) return;
      const mine = ++seq;
      const p = await api('/v1/providers');
      if (mine !== seq) return;
      replace(
        breakers,
        table(
          [
            { label: 'Model', value: (b) => b.id },
            {
              label: 'Breaker',
              value: (b) => badge(b.breaker.status, { dataset: { testid: 'breaker-state', state: b.breaker.status } }),
            },
            {
              label: 'Forced',
              value: (b) =>
                b.breaker.forced
                  ? `${b.breaker.forced.status}: ${b.breaker.forced.reason} (${fmt.ago(b.breaker.forced.at)})`
                  : '',
            },
            { label: 'Error rate', class: 'num', value: (b) => fmt.pct(b.breaker.errorRate) },
            { label: 'Latency (EWMA)', class: 'num', value: (b) => fmt.ms(b.breaker.ewmaLatencyMs) },
            { label: 'Trips', class: 'num', value: (b) => fmt.num(b.breaker.tripCount) },
            { label: 'Open until', value: (b) => (b.breaker.openUntil ? fmt.time(b.breaker.openUntil) : '') },
            {
              label: 'Last error',
              value: (b) =>
                b.breaker.lastError ? `${b.breaker.lastError.type} (${fmt.ago(b.breaker.lastError.at)})` : '',
            },
            { label: 'Status', value: (b) => b.status },
            { label: 'Force', value: (b) => b.actions },
          ],
          p.data.map((b) => breakerRow(b, act, typed.get(b.id))),
          { testid: 'breakers', rowTestid: (b) => `breaker-${b.id}` },
        ),
      );
      replace(
        instances,
        table(
          [
            { label: 'Provider', value: (x) => x.id },
            { label: 'Kind', value: (x) => x.label },
            { label: 'Host', value: (x) => x.host || '' },
            { label: 'Region', value: (x) => [x.region, x.residency].filter(Boolean).join(' · ') },
            {
              label: 'Key from',
              value: (x) => (typeof x.apiKey === 'object' ? Object.entries(x.apiKey)[0].join(': ') : x.apiKey || ''),
            },
            { label: 'Models', value: (x) => x.models.join(', ') },
            {
              label: 'Worst breaker',
              value: (x) => [badge(x.breaker.status), x.breaker.open ? ` ${x.breaker.open} open` : ''],
            },
          ],
          p.providers,
          { testid: 'provider-instances' },
        ),
      );
    };

    const loadSeries = async () => {
      const to = new Date();
      const from = new Date(to.getTime() - HOUR);
      const [s, e] = await Promise.all([
        api('/v1/analytics/series', { query: { from: from.toISOString(), to: to.toISOString(), by } }),
        api('/v1/providers/errors', { query: { limit: 20 } }),
      ]);
      const starts = bucketStarts(from, to, s.bucket_ms);
      const labels = starts.map((t) => new Date(t).toISOString().slice(11, 16));
      destroyCharts(charts);
      replace(
        charts,
        section(
          `Failed requests by ${by}, % (last hour)`,
          seriesChart(
            s,
            starts,
            labels,
            (r) => Math.round(r.error_rate * 1000) / 10,
            'chart-provider-errors',
            '%',
            true,
          ),
        ),
        section(
          `Latency p95 by ${by} (last hour)`,
          seriesChart(s, starts, labels, (r) => r.latency_ms.p95, 'chart-provider-latency', 'ms'),
        ),
      );
      replace(
        errors,
        table(
          [
            { label: 'When', value: (x) => fmt.time(x.at) },
            { label: 'Model', value: (x) => `${x.provider}/${x.model}` },
            { label: 'Type', value: (x) => x.error_type },
            { label: 'HTTP', value: (x) => (x.status ? String(x.status) : '') },
            { label: 'Message', value: (x) => x.message || '' },
            {
              label: 'Request',
              value: (x) => h('a', { href: href('requests', x.request_id) }, x.request_id.slice(0, 13) + '…'),
            },
            { label: 'Tenant', value: (x) => x.tenant_id },
          ],
          e.data,
          { testid: 'provider-errors', empty: 'No provider error recorded.' },
        ),
      );
    };

    const load = async (force = false) => {
      try {
        await Promise.all([loadBreakers(force), loadSeries()]);
        replace(status, `Live: refreshed every 10 s · updated ${new Date().toISOString().slice(11, 19)}Z`);
      } catch (err) {
        replace(status, notice(errorText(err), 'error'));
      }
    };
    await load();
    ctx.every(LIVE_MS, () => load());
    return () => destroyCharts(charts);
  },
};
