// The Alerts page: alert episodes from /v1/alerts (provider down, budget threshold and exhausted,
// latency objective, rate limit near), open and resolved, with their webhook deliveries. A member
// or admin sees its tenant's (budget, rate limit); an operator every alert.
import { api, badge, errorText, fmt, h, notice, pageRoot, replace, section, table } from '../lib.js';

const KINDS = ['provider_down', 'budget_threshold', 'budget_exhausted', 'latency_slo', 'rate_limit_near'];

const deliveries = (a) =>
  (a.deliveries || []).length === 0
    ? h('span', { class: 'muted' }, 'none')
    : h(
        'ul',
        { class: 'plain' },
        a.deliveries.map((d) =>
          h(
            'li',
            {},
            `${d.url_host || '?'} · `,
            badge(String(d.status), /^2/.test(String(d.status)) || d.status === 'delivered' ? 'ok' : 'bad'),
            ` ${fmt.time(d.at)}`,
            d.error ? ` · ${d.error}` : '',
          ),
        ),
      );

export const alertColumns = [
  { label: 'Kind', value: (a) => a.kind },
  { label: 'Subject', value: (a) => a.subject ?? '–' },
  { label: 'Tenant', value: (a) => a.tenant_id ?? '–' },
  { label: 'Severity', value: (a) => badge(a.severity) },
  { label: 'Status', value: (a) => badge(a.status, a.status === 'open' ? 'open' : 'resolved') },
  { label: 'Opened', value: (a) => h('span', { title: fmt.time(a.opened_at) }, fmt.ago(a.opened_at)) },
  { label: 'Resolved', value: (a) => (a.resolved_at ? fmt.time(a.resolved_at) : '–') },
  { label: 'Summary', value: (a) => a.summary ?? '' },
  { label: 'Webhook deliveries', value: deliveries },
];

export default {
  name: 'alerts',
  title: 'Alerts',
  minRole: 'member',
  async render(root, ctx) {
    const status = ctx.query.get('status') || 'all';
    const kind = ctx.query.get('kind') || '';
    const list = h('div');
    const more = h('div');
    const filters = h(
      'form',
      {
        class: 'filters',
        dataset: { testid: 'alert-filters' },
        onsubmit: (e) => {
          e.preventDefault();
          const f = new FormData(e.target);
          const q = new URLSearchParams();
          for (const k of ['status', 'kind']) if (f.get(k)) q.set(k, String(f.get(k)));
          ctx.navigate(`#/alerts?${q}`);
        },
      },
      h(
        'label',
        {},
        'Status',
        h(
          'select',
          { name: 'status' },
          ['all', 'open', 'resolved'].map((s) => h('option', { value: s, selected: s === status }, s)),
        ),
      ),
      h(
        'label',
        {},
        'Kind',
        h(
          'select',
          { name: 'kind' },
          h('option', { value: '' }, 'any'),
          KINDS.map((k) => h('option', { value: k, selected: k === kind }, k)),
        ),
      ),
      h('button', { type: 'submit' }, 'Show'),
    );
    replace(root, pageRoot('alerts', 'Alerts', section('Alert episodes', filters, list, more)));

    let rows = [];
    const load = async (cursor) => {
      let page;
      try {
        page = await api('/v1/alerts', { query: { status, kind, limit: 50, cursor } });
      } catch (err) {
        if (err.status === 404) return replace(list, notice('This server does not record alerts (no /v1/alerts).'));
        return replace(list, notice(errorText(err), 'error'));
      }
      rows = cursor ? [...rows, ...page.data] : page.data;
      replace(
        list,
        table(alertColumns, rows, {
          testid: 'alerts',
          rowTestid: (a) => `alert-${a.kind}`,
          empty: status === 'open' ? 'No open alerts.' : 'No alerts.',
        }),
      );
      replace(
        more,
        page.next_cursor
          ? h('button', { type: 'button', class: 'secondary', onclick: () => load(page.next_cursor) }, 'Older alerts')
          : null,
      );
    };
    await load();
    // Open alerts change as episodes open and resolve: the first page follows them.
    ctx.every(10_000, () => {
      if (rows.length <= 50) void load();
    });
  },
};
