// The Configuration page (admin+): configuration versions with a diff between any two (operator
// only, hidden for admins), the routing dry run as a form (POST /v1/route), rules and overrides
// with validation before saving (admin: its tenant's; operator: all), and the audit log, paged.
import {
  api,
  atLeast,
  confirmButton,
  diffView,
  errorText,
  fmt,
  form,
  h,
  notice,
  pageRoot,
  replace,
  section,
  table,
} from '../lib.js';

// ---- versions and diff (operator) ----

function versionsSection() {
  const box = h('div');
  const out = h('div', { dataset: { testid: 'diff-out' } });
  const load = async () => {
    let versions;
    try {
      versions = (await api('/v1/admin/config/versions', { query: { limit: 100 } })).data;
    } catch (err) {
      return replace(
        box,
        notice(err.status === 404 ? 'This server does not list configuration versions.' : errorText(err), 'error'),
      );
    }
    const option = (v, selected) =>
      h('option', { value: v.version, selected }, `v${v.version} · ${v.source ?? ''} · ${fmt.time(v.created_at)}`);
    const from = h(
      'select',
      { name: 'from', dataset: { testid: 'diff-from' } },
      versions.map((v, i) => option(v, i === Math.min(1, versions.length - 1))),
    );
    const to = h(
      'select',
      { name: 'to', dataset: { testid: 'diff-to' } },
      versions.map((v, i) => option(v, i === 0)),
    );
    replace(
      box,
      h(
        'form',
        {
          class: 'filters',
          dataset: { testid: 'diff-form' },
          onsubmit: async (e) => {
            e.preventDefault();
            replace(out, notice('Comparing…'));
            try {
              const d = await api('/v1/admin/config/diff', { query: { from: from.value, to: to.value } });
              replace(
                out,
                d.diff && d.diff.split('\n').some((l) => /^[+-](?![+-]{2})/.test(l))
                  ? diffView(d.diff, { testid: 'diff' })
                  : notice(`Versions ${from.value} and ${to.value} are the same.`),
              );
            } catch (err) {
              replace(out, notice(errorText(err), 'error'));
            }
          },
        },
        h('label', {}, 'From', from),
        h('label', {}, 'To', to),
        h('button', { type: 'submit' }, 'Show diff'),
      ),
      table(
        [
          { label: 'Version', value: (v) => `v${v.version}`, class: 'num' },
          { label: 'Source', value: (v) => v.source ?? '–' },
          { label: 'Created', value: (v) => fmt.time(v.created_at) },
        ],
        versions.slice(0, 10),
        { testid: 'versions' },
      ),
    );
  };
  return { el: section('Versions', box, out), load };
}

// ---- dry run (any key) ----

/** "Name: value" lines as headers (blank lines skipped); a line without a colon is an error. */
export function headerLines(text) {
  const out = {};
  for (const [i, raw] of String(text || '')
    .split('\n')
    .entries()) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf(':');
    if (at <= 0) throw new Error(`Header line ${i + 1} is not "Name: value": ${line}`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

function decisionView(r) {
  const d = r.decision;
  const first = d.candidates[0];
  return h(
    'div',
    { dataset: { testid: 'decision' } },
    h(
      'div',
      { class: 'tiles compact' },
      [
        ['Chosen model', h('span', { dataset: { testid: 'chosen-model' } }, first ? first.modelId : 'none')],
        ['Strategy', d.strategy],
        ['Rule', d.rule ? d.rule.name || d.rule.id : '–'],
        ['Override', d.override ? d.override.id : '–'],
        ['Config version', `v${r.config_version}`],
      ].map(([k, v]) => h('div', { class: 'tile' }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k))),
    ),
    h('p', {}, d.summary),
    d.dial ? h('p', { class: 'muted' }, d.dial.explanation ?? d.dial.reason ?? '') : null,
    h('h3', {}, 'Candidates, in order'),
    table(
      [
        { label: '#', value: (c) => String(d.candidates.indexOf(c) + 1), class: 'num' },
        { label: 'Model', value: (c) => c.modelId },
        { label: 'Step', value: (c) => c.step },
        { label: 'Why', value: (c) => c.reason },
        { label: 'Estimated cost', value: (c) => fmt.usd(c.estimatedCostUsd), class: 'num' },
      ],
      d.candidates,
      { testid: 'candidates', empty: 'No candidate: nothing can take this request.' },
    ),
    h('h3', {}, 'Rejected'),
    table(
      [
        { label: 'Model', value: (x) => x.modelId },
        { label: 'Filter', value: (x) => x.filter },
        { label: 'Reason', value: (x) => x.reason },
      ],
      d.rejected,
      { testid: 'rejected', empty: 'No model was rejected.' },
    ),
    d.notes && d.notes.length
      ? h(
          'ul',
          {},
          d.notes.map((n) => h('li', {}, n)),
        )
      : null,
    h('details', {}, h('summary', {}, 'Classification'), h('pre', {}, JSON.stringify(r.classification, null, 2))),
  );
}

function dryRunSection() {
  // The decision goes below the form (which is narrow), not inside it.
  const result = h('div', { class: 'decision-out' });
  return section(
    'Routing dry run',
    h('p', { class: 'muted' }, 'The decision Switchyard would make for this request now, without calling any model.'),
    form(
      [
        { name: 'prompt', label: 'Prompt', type: 'textarea', rows: 5, required: true, placeholder: 'What is 7 * 6?' },
        { name: 'model', label: 'Model', value: 'auto' },
        { name: 'quality', label: 'Quality 0 (cheapest) – 1 (best), optional', placeholder: '0.5' },
        { name: 'subject', label: 'Subject (X-Switchyard-Subject), optional', placeholder: 'mathematics' },
        { name: 'user', label: 'User (X-Switchyard-User), optional' },
        {
          name: 'headers',
          label: 'Other attributes as headers, one "Name: value" per line',
          type: 'textarea',
          rows: 3,
          placeholder: 'X-Switchyard-Region: EU\nX-Switchyard-Strategy: cheapest',
        },
      ],
      {
        submit: 'Decide',
        testid: 'dry-run',
        onSubmit: async (v) => {
          replace(result);
          const headers = headerLines(v.headers);
          if (v.quality) headers['X-Switchyard-Quality'] = v.quality;
          if (v.subject) headers['X-Switchyard-Subject'] = v.subject;
          if (v.user) headers['X-Switchyard-User'] = v.user;
          const r = await api('/v1/route', {
            method: 'POST',
            headers,
            body: { model: v.model || 'auto', messages: [{ role: 'user', content: v.prompt }] },
          });
          replace(result, decisionView(r));
          return undefined;
        },
      },
    ),
    result,
  );
}

// ---- rules and overrides (admin) ----

const TEMPLATES = {
  rules: {
    id: 'mathematics',
    name: 'Mathematics to the large model',
    when: [{ field: 'subject', op: 'eq', value: 'mathematics' }],
    targets: [{ model: 'simulated/sim-large' }],
  },
  overrides: {
    id: 'pin-sim-mini',
    scope: 'tenant',
    subject: 'default',
    model: 'simulated/sim-mini',
  },
};

/** The editor's text as an object with an id, or an error a person can act on (before any call). */
export function parseItem(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`Not valid JSON: ${err.message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('Expected one JSON object ({ "id": …, … }).');
  if (typeof value.id !== 'string' || !value.id) throw new Error('The object needs an "id" (a string).');
  return value;
}

function itemsSection(key, title) {
  const list = h('div');
  const out = h('div', { dataset: { testid: `${key}-out` } });
  const editor = h('textarea', {
    rows: 10,
    class: 'editor',
    dataset: { testid: `${key}-editor` },
    spellcheck: 'false',
  });
  editor.value = JSON.stringify(TEMPLATES[key], null, 2);
  let items = [];
  const load = async () => {
    try {
      items = (await api(`/v1/admin/${key}`)).data;
    } catch (err) {
      return replace(list, notice(errorText(err), 'error'));
    }
    replace(
      list,
      table(
        [
          { label: 'Id', value: (x) => x.id },
          {
            label: key === 'rules' ? 'Name' : 'Scope',
            value: (x) => (key === 'rules' ? (x.name ?? '–') : `${x.scope} ${x.subject ?? ''}`),
          },
          { label: 'Tenant', value: (x) => x.tenantId ?? '–' },
          {
            label: 'Definition',
            value: (x) => h('details', {}, h('summary', {}, 'JSON'), h('pre', {}, JSON.stringify(x, null, 2))),
          },
          {
            label: '',
            value: (x) =>
              h(
                'div',
                { class: 'actions' },
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'secondary',
                    onclick: () => {
                      editor.value = JSON.stringify(x, null, 2);
                      editor.focus();
                    },
                  },
                  'Edit',
                ),
                confirmButton(
                  'Delete',
                  `Delete ${key.slice(0, -1)} ${x.id}?`,
                  async () => {
                    await api(`/v1/admin/${key}/${encodeURIComponent(x.id)}`, { method: 'DELETE' });
                    replace(out, notice(`Deleted ${x.id}.`, 'ok'));
                    await load();
                  },
                  { out },
                ),
              ),
          },
        ],
        items,
        { testid: key, rowTestid: (x) => `${key}-${x.id}` },
      ),
    );
  };
  const save = async () => {
    replace(out);
    let item;
    try {
      item = parseItem(editor.value);
    } catch (err) {
      return replace(out, notice(err.message, 'error'));
    }
    const exists = items.some((x) => x.id === item.id);
    try {
      const r = await api(exists ? `/v1/admin/${key}/${encodeURIComponent(item.id)}` : `/v1/admin/${key}`, {
        method: exists ? 'PUT' : 'POST',
        body: item,
      });
      replace(
        out,
        notice(`${exists ? 'Updated' : 'Added'} ${item.id} (configuration version ${r.config_version}).`, 'ok'),
      );
      await load();
    } catch (err) {
      replace(out, notice(errorText(err), 'error'));
    }
  };
  return {
    el: section(
      title,
      list,
      h('h3', {}, `Add or edit (JSON; an existing id is replaced)`),
      editor,
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', onclick: save, dataset: { testid: `${key}-save` } }, 'Validate and save'),
      ),
      out,
    ),
    load,
  };
}

// ---- audit log (admin) ----

function auditSection() {
  const box = h('div');
  const more = h('div');
  let rows = [];
  const load = async (before) => {
    let page;
    try {
      page = (await api('/v1/audit', { query: { limit: 25, before } })).data;
    } catch (err) {
      return replace(box, notice(errorText(err), 'error'));
    }
    rows = before ? [...rows, ...page] : page;
    replace(
      box,
      table(
        [
          { label: 'At', value: (r) => fmt.time(r.at) },
          {
            label: 'Actor',
            value: (r) => `${r.actor.role ?? '?'} ${r.actor.key_id ?? ''} (${r.actor.tenant_id ?? '–'})`,
          },
          { label: 'Tenant', value: (r) => r.tenant_id ?? '–' },
          { label: 'Action', value: (r) => r.action },
          { label: 'Target', value: (r) => r.target ?? '–' },
          {
            label: 'Change',
            value: (r) =>
              r.before || r.after
                ? h(
                    'details',
                    {},
                    h('summary', {}, 'before / after'),
                    h('pre', {}, JSON.stringify({ before: r.before, after: r.after }, null, 2)),
                  )
                : '–',
          },
        ],
        rows,
        { testid: 'audit', empty: 'No audit entries.' },
      ),
    );
    const last = page[page.length - 1];
    replace(
      more,
      page.length === 25 && last
        ? h('button', { type: 'button', class: 'secondary', onclick: () => load(last.id) }, 'Older entries')
        : null,
    );
  };
  return { el: section('Audit log', box, more), load };
}

export default {
  name: 'config',
  title: 'Configuration',
  // Admins manage their tenant's rules and overrides and read its audit log; versions are the
  // operator's. (A member may call POST /v1/route itself, but the console shows members no
  // configuration page.)
  minRole: 'admin',
  async render(root) {
    const parts = [];
    const loads = [];
    if (atLeast('operator')) {
      const v = versionsSection();
      parts.push(v.el);
      loads.push(v.load);
    }
    parts.push(dryRunSection());
    if (atLeast('admin')) {
      for (const [key, title] of [
        ['rules', 'Rules'],
        ['overrides', 'Overrides'],
      ]) {
        const s = itemsSection(key, title);
        parts.push(s.el);
        loads.push(s.load);
      }
      const a = auditSection();
      parts.push(a.el);
      loads.push(() => a.load());
    }
    replace(root, pageRoot('config', 'Configuration', parts));
    await Promise.all(loads.map((f) => f()));
  },
};
