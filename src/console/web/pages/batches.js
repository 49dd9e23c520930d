// The Batches page: text-operation batches (summarize, intent, sentiment, entities) and
// OpenAI-format batches in one list with live progress, rate, ETA, cost so far and why a batch
// waits; refreshed every 2 s while any runs. `#/batches/<kind>/<id>`: one batch, the same live
// view, Cancel (after a confirm) and Download results (fetched with the CSRF header, saved as a Blob).
import {
  api,
  atLeast,
  badge,
  confirmButton,
  download,
  duration,
  errorText,
  fmt,
  h,
  href,
  notice,
  pageRoot,
  replace,
  section,
  stackedBar,
  table,
} from '../lib.js';
import {
  byCreated,
  cancelPath,
  etaSeconds,
  fraction,
  fromOpenAIBatch,
  fromOperationBatch,
  OPERATION_KINDS,
  ratePerMinute,
} from './batchModel.js';

/** Every batch the key can see, both kinds (a kind the server does not offer is skipped). */
async function loadAll() {
  const lists = await Promise.all([
    ...OPERATION_KINDS.map((k) =>
      api(`/v1/operations/${k}/batches`, { query: { limit: 100 } })
        .then((r) => r.data.map(fromOperationBatch))
        .catch(() => []),
    ),
    api('/v1/batches', { query: { limit: 100 } })
      .then((r) => r.data.map(fromOpenAIBatch))
      .catch(() => []),
  ]);
  return lists.flat().sort(byCreated);
}

async function loadOne(kind, id) {
  return kind === 'openai'
    ? fromOpenAIBatch(await api(`/v1/batches/${encodeURIComponent(id)}`))
    : fromOperationBatch(await api(`/v1/operations/${encodeURIComponent(kind)}/batches/${encodeURIComponent(id)}`));
}

const progressCell = (b) =>
  h(
    'div',
    { dataset: { testid: `progress-${b.id}`, fraction: fraction(b).toFixed(3) } },
    stackedBar(
      [
        { value: b.done, class: 'done' },
        { value: b.failed, class: 'failed' },
      ],
      b.total,
    ),
    h(
      'small',
      { class: 'muted' },
      `${fmt.num(b.done + b.failed)} / ${fmt.num(b.total)} (${Math.round(fraction(b) * 100)} %)${b.failed ? ` · ${b.failed} failed` : ''}`,
    ),
  );

const rateText = (b) => {
  const r = b.finished ? null : ratePerMinute(b);
  return r === null ? '–' : `${r.toFixed(1)}/min`;
};

export const batchColumns = [
  { label: 'Batch', value: (b) => h('a', { href: href('batches', b.kind, b.id) }, b.id) },
  { label: 'Kind', value: (b) => (b.kind === 'openai' ? 'OpenAI format' : b.kind) },
  // An operator's list holds every tenant's batches (when the server lists them so).
  { label: 'Tenant', value: (b) => b.tenantId ?? '–', operatorOnly: true },
  { label: 'Status', value: (b) => h('span', { dataset: { testid: `status-${b.id}` } }, badge(b.status)) },
  { label: 'Progress', value: progressCell },
  { label: 'Rate', value: rateText, class: 'num' },
  { label: 'ETA', value: (b) => (b.finished ? '–' : duration(etaSeconds(b))), class: 'num' },
  { label: 'Cost so far', value: (b) => fmt.usd(b.costUsd), class: 'num' },
  { label: 'Waiting because', value: (b) => b.waitingReason ?? '–' },
  { label: 'Created', value: (b) => h('span', { title: fmt.time(b.createdAt) }, fmt.ago(b.createdAt)) },
];

async function saveResults(b, out) {
  if (!b.resultsPath) return replace(out, notice('This batch has no results file (nothing succeeded).'));
  const partial = !b.finished && b.kind !== 'openai';
  const bytes = await download(b.resultsPath, b.resultsFile, { query: partial ? { partial: 'true' } : undefined });
  replace(
    out,
    notice(`Downloaded ${b.resultsFile} (${fmt.num(bytes)} bytes)${partial ? ', results so far' : ''}.`, 'ok'),
  );
}

function detailView(b, refresh) {
  const out = h('div', { dataset: { testid: 'batch-action-out' } });
  return [
    h(
      'div',
      { class: 'tiles' },
      [
        ['Status', h('span', { dataset: { testid: 'batch-status' } }, badge(b.status))],
        ['Finished', `${fmt.num(b.done + b.failed)} / ${fmt.num(b.total)}`],
        ['Failed', fmt.num(b.failed)],
        ['Rate', rateText(b)],
        ['ETA', b.finished ? '–' : duration(etaSeconds(b))],
        ['Cost so far', fmt.usd(b.costUsd)],
      ].map(([k, v]) => h('div', { class: 'tile' }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k))),
    ),
    section(
      'Progress',
      progressCell(b),
      b.waitingReason ? notice(`Waiting: ${b.waitingReason}`, 'info') : null,
      h(
        'dl',
        { class: 'kv' },
        h('dt', {}, 'Kind'),
        h('dd', {}, b.kind === 'openai' ? 'OpenAI format' : b.kind),
        h('dt', {}, b.kind === 'openai' ? 'Endpoint' : 'Model'),
        h('dd', {}, b.model ?? '–'),
        h('dt', {}, 'Created'),
        h('dd', {}, fmt.time(b.createdAt)),
        h('dt', {}, 'Started'),
        h('dd', {}, fmt.time(b.startedAt)),
        h('dt', {}, 'Finished'),
        h('dd', {}, fmt.time(b.finishedAt)),
      ),
    ),
    section(
      'Actions',
      h(
        'div',
        { class: 'actions' },
        b.finished || b.status === 'cancelling'
          ? null
          : confirmButton(
              'Cancel batch',
              `Cancel batch ${b.id}? Items not yet finished are not run.`,
              async () => {
                await api(cancelPath(b), { method: 'POST' });
                await refresh();
              },
              { testid: 'cancel-batch', out },
            ),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            dataset: { testid: 'download-results' },
            onclick: () => saveResults(b, out).catch((err) => replace(out, notice(errorText(err), 'error'))),
          },
          b.finished || b.kind === 'openai' ? 'Download results' : 'Download results so far',
        ),
        b.errorsPath
          ? h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                onclick: () =>
                  download(b.errorsPath, `${b.id}-errors.jsonl`).catch((err) =>
                    replace(out, notice(errorText(err), 'error')),
                  ),
              },
              'Download errors',
            )
          : null,
      ),
      out,
    ),
  ];
}

export default {
  name: 'batches',
  title: 'Batches',
  minRole: 'member',
  async render(root, ctx) {
    const [kind, id] = ctx.params;
    if (kind && id) {
      const body = h('div', { dataset: { testid: 'batch-detail' } });
      replace(
        root,
        pageRoot('batches', `Batch ${id}`, h('p', {}, h('a', { href: href('batches') }, '← all batches')), body),
      );
      let current;
      // The action area stays put while the figures refresh: only the live parts redraw.
      const refresh = async () => {
        current = await loadOne(kind, id);
        replace(body, detailView(current, refresh));
      };
      await refresh();
      ctx.every(2000, () => {
        if (current && !current.finished) refresh().catch(() => undefined);
      });
      return;
    }
    const list = h('div');
    const stamp = h('span', { class: 'muted', dataset: { testid: 'batches-updated' } });
    replace(root, pageRoot('batches', 'Batches', section('All batches', h('p', {}, stamp), list)));
    let running = false;
    const refresh = async () => {
      try {
        const all = await loadAll();
        running = all.some((b) => !b.finished);
        replace(
          list,
          table(
            batchColumns.filter((c) => !c.operatorOnly || atLeast('operator')),
            all,
            { testid: 'batches', rowTestid: (b) => `batch-${b.id}`, empty: 'No batches yet.' },
          ),
        );
        replace(stamp, `Updated ${fmt.time(Date.now())}${running ? ' · refreshing every 2 s while a batch runs' : ''}`);
      } catch (err) {
        replace(list, notice(errorText(err), 'error'));
      }
    };
    await refresh();
    // Every 2 s while a batch runs; otherwise every 15 s, to see new ones.
    let idle = 0;
    ctx.every(2000, () => {
      if (running || ++idle % 8 === 0) void refresh();
    });
  },
};
