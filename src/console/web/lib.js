// Shared helpers of the console's pages: the API client (cookie session + CSRF header), a DOM
// builder that never parses HTML (text from the API is data, never markup), tables, forms,
// formatting and charts.

/** The signed-in session: { tenant_id, role, key_id, csrf_token, expires_at }, set by app.js. */
export const session = { current: null };

export class ApiError extends Error {
  constructor(status, body) {
    const e = body && body.error ? body.error : {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.type = e.type || null;
    this.param = e.param || null;
    this.code = e.code || null;
  }
}

/**
 * Calls the API as the signed-in key. `query` values that are empty are left out; `body` is sent
 * as JSON. Returns the parsed JSON (or text for non-JSON answers, null for 204).
 */
export async function api(path, { method = 'GET', query, body, headers = {} } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {}))
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  const h = { ...headers };
  if (session.current) h['x-switchyard-csrf'] = session.current.csrf_token;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers: h,
    credentials: 'same-origin',
    // Live data: some answers carry an ETag of the configuration version (admin endpoints), which
    // would let the browser revalidate to a 304 and show usage that has since changed.
    cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    if (res.status === 401 && session.current) window.dispatchEvent(new CustomEvent('console:signed-out'));
    throw new ApiError(res.status, data);
  }
  return data;
}

/** `h('div', {class: 'x', onclick: fn, dataset: {testid: 'y'}}, 'text', child, [more])`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A table: `columns` = [{ label, value: row => text|Node, class? }], `rows` any objects.
 * `opts.testid` names it for tests; `opts.rowTestid(row)` names each row; `opts.empty` when none.
 */
export function table(columns, rows, opts = {}) {
  return h(
    'table',
    { class: 'grid', dataset: opts.testid ? { testid: opts.testid } : undefined },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((c) => h('th', { class: c.class }, c.label)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.length === 0
        ? h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, opts.empty || 'Nothing yet.'))
        : rows.map((r) =>
            h(
              'tr',
              { dataset: opts.rowTestid ? { testid: opts.rowTestid(r) } : undefined },
              columns.map((c) => h('td', { class: c.class }, c.value(r))),
            ),
          ),
    ),
  );
}

/** A titled section. */
export const section = (title, ...children) => h('section', { class: 'card' }, h('h2', {}, title), ...children);

/** A page's root element: `data-page` lets tests know which page is shown. */
export const pageRoot = (name, title, ...children) =>
  h('div', { class: 'page', dataset: { page: name } }, h('h1', {}, title), ...children);

/** A message line: kind is 'error' | 'ok' | 'info'. */
export const notice = (text, kind = 'info') =>
  h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);

/** An error from `api()` as a readable line (status, type, field). */
export function errorText(err) {
  if (err instanceof ApiError)
    return `${err.status} ${err.type || ''}${err.param ? ` (${err.param})` : ''}: ${err.message}`;
  return String(err && err.message ? err.message : err);
}

/** A form: fields = [{ name, label, type?: 'text'|'number'|'select'|'textarea'|'checkbox'|'datetime-local', options?, value?, required?, placeholder? }]. */
export function form(fields, { submit = 'Save', onSubmit, testid } = {}) {
  const out = h('div', { class: 'form-out' });
  const inputs = {};
  const rows = fields.map((f) => {
    let input;
    if (f.type === 'select')
      input = h(
        'select',
        { name: f.name },
        (f.options || []).map((o) =>
          h('option', { value: o.value ?? o, selected: (o.value ?? o) === f.value }, o.label ?? o),
        ),
      );
    else if (f.type === 'textarea')
      input = h('textarea', { name: f.name, rows: f.rows || 6, placeholder: f.placeholder }, f.value ?? '');
    else
      input = h('input', {
        name: f.name,
        type: f.type || 'text',
        value: f.value ?? '',
        placeholder: f.placeholder,
        required: f.required,
        checked: f.type === 'checkbox' && f.value,
      });
    inputs[f.name] = input;
    return h('label', {}, h('span', {}, f.label), input);
  });
  const el = h(
    'form',
    {
      class: 'form',
      dataset: testid ? { testid } : undefined,
      onsubmit: async (e) => {
        e.preventDefault();
        const values = {};
        for (const [k, i] of Object.entries(inputs)) values[k] = i.type === 'checkbox' ? i.checked : i.value;
        replace(out);
        try {
          const r = await onSubmit(values, out);
          if (typeof r === 'string') replace(out, notice(r, 'ok'));
        } catch (err) {
          replace(out, notice(errorText(err), 'error'));
        }
      },
    },
    rows,
    h('button', { type: 'submit' }, submit),
    out,
  );
  return el;
}

export const fmt = {
  num: (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US')),
  usd: (n) =>
    n === null || n === undefined
      ? '–'
      : `$${Number(n).toFixed(Number(n) !== 0 && Math.abs(Number(n)) < 0.01 ? 6 : 2)}`,
  ms: (n) => (n === null || n === undefined ? '–' : `${Math.round(Number(n)).toLocaleString('en-US')} ms`),
  pct: (n) => (n === null || n === undefined ? '–' : `${(Number(n) * 100).toFixed(1)} %`),
  time: (t) =>
    t
      ? new Date(t)
          .toISOString()
          .replace('T', ' ')
          .replace(/\.\d+Z$/, 'Z')
      : '–',
  ago: (t) => {
    if (!t) return '–';
    const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
    return s < 90
      ? `${s} s ago`
      : s < 5400
        ? `${Math.round(s / 60)} min ago`
        : s < 129600
          ? `${Math.round(s / 3600)} h ago`
          : `${Math.round(s / 86400)} d ago`;
  },
};

/** A link inside the console: `href('requests', id)` → `#/requests/<id>`. */
export const href = (...parts) => `#/${parts.map(encodeURIComponent).join('/')}`;
export const link = (text, ...parts) => h('a', { href: href(...parts) }, text);

const charts = new WeakMap();
/** A Chart.js chart in a fresh canvas (the global `Chart` comes from the npm package's UMD build). */
export function chart(config, { testid, height = 220 } = {}) {
  const canvas = h('canvas', { dataset: testid ? { testid } : undefined });
  // Sized through the CSSOM: the CSP refuses `style="…"` attributes.
  const box = h('div', { class: 'chart' }, canvas);
  box.style.height = `${height}px`;
  const c = new window.Chart(canvas, {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...(config.options || {}) },
  });
  charts.set(box, c);
  canvas.dataset.points = String(config.data.datasets.reduce((n, d) => n + d.data.length, 0));
  return box;
}

/** The current role is at least `role`. */
export function atLeast(role) {
  const rank = { member: 0, admin: 1, operator: 2 };
  return session.current ? rank[session.current.role] >= rank[role] : false;
}

// ---- Added for the Overview, Requests and Providers pages ----

/**
 * Sets inline styles through the CSSOM (`el.style.x = …`), which the console's CSP allows; a
 * `style="…"` attribute is refused by `style-src 'self'`.
 */
export function styled(el, props) {
  for (const [k, v] of Object.entries(props)) el.style[k] = v;
  return el;
}

/**
 * A Chart.js chart whose box gets its height through the CSSOM (see `styled`). `data-points` is
 * the number of data points, `data-sum` their sum (what the browser tests read).
 */
export function sizedChart(config, { testid, height = 220 } = {}) {
  const canvas = h('canvas', { dataset: testid ? { testid } : undefined });
  const box = styled(h('div', { class: 'chart' }, canvas), { height: `${height}px` });
  const datasets = config.data.datasets;
  canvas.dataset.points = String(datasets.reduce((n, d) => n + d.data.length, 0));
  canvas.dataset.sum = String(datasets.reduce((n, d) => n + d.data.reduce((a, v) => a + (Number(v) || 0), 0), 0));
  // Chart.js measures its parent: build it once the box is in the document.
  queueMicrotask(() => {
    if (!window.Chart) return;
    new window.Chart(canvas, {
      ...config,
      options: { responsive: true, maintainAspectRatio: false, animation: false, ...(config.options || {}) },
    });
  });
  return box;
}

/** Destroys the Chart.js charts inside `el` (before its content is replaced). */
export function destroyCharts(el) {
  if (!window.Chart) return;
  for (const c of el.querySelectorAll('canvas')) window.Chart.getChart(c)?.destroy();
}

/** A select for filters: options = [{value, label}] or strings; `value` selected. */
export function select(name, options, value, attrs = {}) {
  return h(
    'select',
    { name, ...attrs },
    options.map((o) => {
      const v = typeof o === 'string' ? o : o.value;
      return h('option', { value: v, selected: v === value }, typeof o === 'string' ? o || 'any' : o.label);
    }),
  );
}

/** A hash with a query: `hashWith('requests', {model: 'x', cursor: ''})` → `#/requests?model=x` (empties left out). */
export function hashWith(path, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return `#/${path}${s ? `?${s}` : ''}`;
}

/** A `datetime-local` value (the browser's time zone) as ISO 8601, or '' when empty. */
export const isoOfLocal = (v) => (v ? new Date(v).toISOString() : '');
/** An ISO time as a `datetime-local` value (the browser's time zone). */
export function localOfIso(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Distinct colours for a chart's series (Chart.js's defaults repeat after a few). */
export const PALETTE = [
  '#2f5bd3',
  '#1f7a4d',
  '#b42318',
  '#a86200',
  '#7a3fb5',
  '#0f7d8c',
  '#c0468a',
  '#5b6b7f',
  '#8a6d1f',
];
/** Seconds until `t` as "in 3 h" / "in 12 min" ("now" when past). */
export function until(t) {
  if (!t) return '–';
  const s = Math.round((new Date(t).getTime() - Date.now()) / 1000);
  if (s <= 0) return 'now';
  return s < 90
    ? `in ${s} s`
    : s < 5400
      ? `in ${Math.round(s / 60)} min`
      : s < 129600
        ? `in ${Math.round(s / 3600)} h`
        : `in ${Math.round(s / 86400)} d`;
}

/** A duration in seconds as "42 s" / "3 min" / "2 h". */
export const duration = (s) =>
  s === null || s === undefined
    ? '–'
    : s < 90
      ? `${Math.round(s)} s`
      : s < 5400
        ? `${Math.round(s / 60)} min`
        : `${(s / 3600).toFixed(1)} h`;

/**
 * A status badge coloured by its class (see style.css): `badge(state)` takes the class from the
 * text (`half-open` → `half_open`), `badge(text, kind)` names it, `badge(text, attrs)` adds attributes.
 */
export function badge(text, kindOrAttrs) {
  const attrs = kindOrAttrs && typeof kindOrAttrs === 'object' ? kindOrAttrs : {};
  const kind = typeof kindOrAttrs === 'string' ? kindOrAttrs : text;
  const cls = String(kind || '')
    .replace(/-/g, '_')
    .replace(/[^a-z_]/gi, '');
  return h('span', { ...attrs, class: `badge ${cls}` }, text ?? '–');
}

/**
 * A stacked bar: `parts` = [{ value, class }] out of `max` (widths are set from JS, which the CSP
 * allows: `style-src` governs style attributes in markup, not CSSOM writes).
 */
export function stackedBar(parts, max, { testid, title } = {}) {
  const bar = h('div', { class: 'bar', title, dataset: testid ? { testid } : undefined });
  for (const p of parts) {
    const seg = h('div', { class: p.class });
    const pct = max > 0 ? Math.max(0, Math.min(100, (Number(p.value) / max) * 100)) : 0;
    seg.style.width = `${pct}%`;
    bar.append(seg);
  }
  return bar;
}

/**
 * Downloads an API answer as a file: fetched with the CSRF header (a plain link would be refused),
 * turned into a Blob and saved under `filename`. Throws ApiError on a non-2xx answer.
 */
export async function download(path, filename, { query } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null) url.searchParams.set(k, v);
  const headers = session.current ? { 'x-switchyard-csrf': session.current.csrf_token } : {};
  const res = await fetch(url, { headers, credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok || res.status === 202) {
    const type = res.headers.get('content-type') || '';
    throw new ApiError(res.status, type.includes('json') ? await res.json() : null);
  }
  const blob = await res.blob();
  const a = h('a', { href: URL.createObjectURL(blob), download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  return blob.size;
}

/**
 * A secret shown once: in a read-only box with a copy button. Nothing keeps it: it lives in this
 * element only, so leaving or reloading the page loses it for good.
 */
export function secretBox(secret, label = 'Copy this key now: it is not shown again.') {
  const input = h('input', { type: 'text', readonly: true, value: secret, dataset: { testid: 'secret' } });
  const status = h('span', { class: 'muted' });
  return h(
    'div',
    { class: 'secret-box', dataset: { testid: 'secret-box' } },
    h('p', {}, label),
    h(
      'div',
      { class: 'row' },
      input,
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          dataset: { testid: 'copy-secret' },
          onclick: async () => {
            input.select();
            try {
              await navigator.clipboard.writeText(secret);
              replace(status, 'Copied.');
            } catch {
              replace(status, 'Select the text and copy it (the clipboard is not available here).');
            }
          },
        },
        'Copy',
      ),
      status,
    ),
  );
}

/** A button that asks first (`confirm`), then runs `fn`; errors land in `out` when given. */
export function confirmButton(text, question, fn, { testid, danger = true, out } = {}) {
  return h(
    'button',
    {
      type: 'button',
      class: danger ? 'danger' : 'secondary',
      dataset: testid ? { testid } : undefined,
      onclick: async (e) => {
        if (!window.confirm(question)) return;
        e.target.disabled = true;
        try {
          await fn();
        } catch (err) {
          if (out) replace(out, notice(errorText(err), 'error'));
          else window.alert(errorText(err));
        } finally {
          e.target.disabled = false;
        }
      },
    },
    text,
  );
}

/** A unified diff as lines coloured by class (add / del / hunk), as text nodes only. */
export function diffView(diff, { testid } = {}) {
  const lines = String(diff || '').split('\n');
  return h(
    'pre',
    { class: 'diff', dataset: testid ? { testid } : undefined },
    lines.map((l) => {
      const cls =
        l.startsWith('+') && !l.startsWith('+++')
          ? 'add'
          : l.startsWith('-') && !l.startsWith('---')
            ? 'del'
            : l.startsWith('@@')
              ? 'hunk'
              : undefined;
      return h('div', { class: cls }, l || ' ');
    }),
  );
}
