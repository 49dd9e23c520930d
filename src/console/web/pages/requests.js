// The Requests pages: `#/requests?<filters>` lists requests newest first (filters in the hash, so
// a URL can be shared; keyset pages through next_cursor), and `#/requests/<id>` shows one request:
// its classification, candidates, rejections, attempts as a timeline, timing, cost, and a replay
// of its decision under the current configuration.
import {
  api,
  atLeast,
  badge,
  errorText,
  fmt,
  h,
  hashWith,
  href,
  isoOfLocal,
  localOfIso,
  notice,
  pageRoot,
  replace,
  select,
  table,
} from '../lib.js';
import { renderRequest } from './request.js';

const FILTERS = ['tenant', 'model', 'provider', 'status', 'operation', 'user', 'batch', 'from', 'to', 'q'];
const STATUSES = ['', 'received', 'running', 'succeeded', 'failed'];

/**
 * The cursors of the pages before this one, per filter set: "Newer" goes back through them
 * (a keyset cursor only points one way). Lost on reload, when "Newer" goes to the first page.
 */
const previous = new Map();

function listPage(root, ctx) {
  const q = ctx.query;
  const operator = atLeast('operator');
  const values = Object.fromEntries(FILTERS.map((f) => [f, q.get(f) || '']));
  const filterKey = FILTERS.map((f) => values[f]).join('\u0000');
  const cursor = q.get('cursor') || '';
  const stack = previous.get(filterKey) || [];
  previous.set(filterKey, stack);

  const inputs = {};
  const field = (name, label, el) => {
    inputs[name] = el;
    return h('label', {}, label, el);
  };
  const text = (name, placeholder) => h('input', { name, value: values[name], placeholder });
  const filters = h(
    'form',
    {
      class: 'filters',
      dataset: { testid: 'request-filters' },
      onsubmit: (e) => {
        e.preventDefault();
        const next = {};
        for (const [k, el] of Object.entries(inputs))
          next[k] = k === 'from' || k === 'to' ? isoOfLocal(el.value) : el.value.trim();
        ctx.navigate(hashWith('requests', next));
      },
    },
    field('q', 'Id (prefix)', text('q', 'request or workflow id')),
    operator && field('tenant', 'Tenant', text('tenant', 'all')),
    field('model', 'Model', text('model', 'provider/model')),
    field('provider', 'Provider', text('provider', '')),
    field('status', 'Status', select('status', STATUSES, values.status)),
    field('operation', 'Operation', text('operation', 'chat, embeddings…')),
    field('user', 'User', text('user', '')),
    field('batch', 'Batch', text('batch', '')),
    field('from', 'From', h('input', { type: 'datetime-local', name: 'from', value: localOfIso(values.from) })),
    field('to', 'To', h('input', { type: 'datetime-local', name: 'to', value: localOfIso(values.to) })),
    h('button', { type: 'submit' }, 'Search'),
    h('a', { href: '#/requests', class: 'muted' }, 'Clear'),
  );
  const list = h('div', { dataset: { testid: 'request-list' } }, h('p', { class: 'muted' }, 'Loading…'));
  replace(root, pageRoot('requests', 'Requests', filters, list));

  return api('/v1/requests', { query: { ...values, cursor, limit: 50 } })
    .then((page) => {
      const rows = page.data;
      const pager = h(
        'div',
        { class: 'row' },
        cursor &&
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              dataset: { testid: 'page-newer' },
              onclick: () => ctx.navigate(hashWith('requests', { ...values, cursor: stack.pop() || '' })),
            },
            '← Newer',
          ),
        page.next_cursor &&
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              dataset: { testid: 'page-next' },
              onclick: () => {
                stack.push(cursor);
                ctx.navigate(hashWith('requests', { ...values, cursor: page.next_cursor }));
              },
            },
            'Next →',
          ),
        h('span', { class: 'muted' }, `${rows.length} shown`),
      );
      replace(
        list,
        table(
          [
            { label: 'Created', value: (r) => fmt.time(r.created_at) },
            {
              label: 'Request',
              value: (r) => h('a', { href: href('requests', r.request_id) }, r.request_id.slice(0, 13) + '…'),
            },
            ...(operator ? [{ label: 'Tenant', value: (r) => r.tenant_id }] : []),
            { label: 'Status', value: (r) => badge(r.status) },
            { label: 'Operation', value: (r) => r.operation },
            { label: 'Model', value: (r) => r.model || h('span', { class: 'muted' }, r.requested_model) },
            { label: 'User', value: (r) => r.user || '' },
            { label: 'Batch', value: (r) => r.batch_id || '' },
            {
              label: 'Tokens',
              class: 'num',
              value: (r) =>
                r.input_tokens === null ? '–' : `${fmt.num(r.input_tokens)} / ${fmt.num(r.output_tokens)}`,
            },
            { label: 'Cost', class: 'num', value: (r) => fmt.usd(r.cost_usd) },
            { label: 'Latency', class: 'num', value: (r) => (r.cache_hit ? 'cache hit' : fmt.ms(r.latency_ms)) },
          ],
          rows,
          { testid: 'requests-table', rowTestid: () => 'request-row', empty: 'No request matches these filters.' },
        ),
        pager,
      );
    })
    .catch((err) => replace(list, notice(errorText(err), 'error')));
}

export default {
  name: 'requests',
  title: 'Requests',
  minRole: 'member',
  render(root, ctx) {
    if (ctx.params[0]) return renderRequest(root, ctx, ctx.params[0]);
    return listPage(root, ctx);
  },
};
