// The console's shell: sign-in, the navigation the key's role allows, and a hash router
// (`#/<page>/<params…>?<query>`) that renders one page module at a time.
import { api, errorText, form, h, notice, pageRoot, replace, session } from './lib.js';
import overview from './pages/overview.js';
import requests from './pages/requests.js';
import providers from './pages/providers.js';
import budgets from './pages/budgets.js';
import batches from './pages/batches.js';
import keys from './pages/keys.js';
import config from './pages/config.js';
import alerts from './pages/alerts.js';

/** Each page: { name, title, minRole, render(root, ctx) → optional cleanup }. Order = navigation order. */
const PAGES = [overview, requests, providers, budgets, batches, keys, config, alerts];
const RANK = { member: 0, admin: 1, operator: 2 };

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let cleanup = [];

const allowed = (page) => session.current && RANK[session.current.role] >= RANK[page.minRole || 'member'];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || 'overview', params: parts.slice(1), query: new URLSearchParams(q) };
}

function leave() {
  for (const fn of cleanup) {
    try {
      fn();
    } catch {
      // a page's cleanup failing must not stop the next page
    }
  }
  cleanup = [];
}

async function render() {
  leave();
  // Set once the page's first data is shown: what browser tests and the page-load benchmark wait for.
  delete main.dataset.ready;
  if (!session.current) return showSignIn();
  const { name, params, query } = parseHash();
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === name);
  const page = PAGES.find((p) => p.name === name);
  if (!page) return replace(main, pageRoot('missing', 'Not found', notice(`There is no page "${name}".`, 'error')));
  if (!allowed(page))
    return replace(
      main,
      pageRoot(
        'forbidden',
        page.title,
        notice(`This page needs an ${page.minRole} key; you are signed in as ${session.current.role}.`, 'error'),
      ),
    );
  const root = h('div');
  replace(main, root);
  const ctx = {
    params,
    query,
    session: session.current,
    navigate: (hash) => {
      location.hash = hash;
    },
    /** Runs fn now-ish and every `ms` while the page is shown. */
    every: (ms, fn) => {
      const t = setInterval(fn, ms);
      cleanup.push(() => clearInterval(t));
    },
    onLeave: (fn) => cleanup.push(fn),
  };
  try {
    const done = await page.render(root, ctx);
    if (typeof done === 'function') cleanup.push(done);
  } catch (err) {
    replace(root, pageRoot(page.name, page.title, notice(errorText(err), 'error')));
  }
  main.dataset.ready = page.name;
}

function showShell() {
  window.dispatchEvent(new CustomEvent('console:signed-in'));
  replace(
    nav,
    PAGES.filter(allowed).map((p) => h('a', { href: `#/${p.name}`, dataset: { page: p.name } }, p.title)),
  );
  replace(
    who,
    h('span', { dataset: { testid: 'who' } }, `${session.current.tenant_id} · ${session.current.role}`),
    h('button', { type: 'button', class: 'link', onclick: signOut, dataset: { testid: 'sign-out' } }, 'Sign out'),
  );
}

function showSignIn() {
  replace(nav);
  replace(who);
  replace(
    main,
    pageRoot(
      'sign-in',
      'Sign in',
      h(
        'p',
        {},
        'Sign in with a Switchyard API key. The key is exchanged for a session cookie and is not kept by this page.',
      ),
      form([{ name: 'key', label: 'API key', type: 'password', required: true, placeholder: 'sk-sy-…' }], {
        submit: 'Sign in',
        testid: 'sign-in',
        onSubmit: async ({ key }) => {
          session.current = await api('/console/session', { method: 'POST', body: { key } });
          showShell();
          if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/overview';
          else await render();
        },
      }),
    ),
  );
}

async function signOut() {
  try {
    await api('/console/session', { method: 'DELETE' });
  } catch {
    // signed out either way
  }
  session.current = null;
  leave();
  showSignIn();
  void refreshAlertStrip();
}

window.addEventListener('console:signed-out', () => {
  session.current = null;
  leave();
  showSignIn();
  void refreshAlertStrip();
});
window.addEventListener('hashchange', () => void render());

// The open-alerts strip under the header: "N open alerts" linking to the Alerts page, refreshed
// every 10 s; hidden when there is none, when signed out, or when the server has no /v1/alerts.
const strip = document.getElementById('alert-strip');
async function refreshAlertStrip() {
  if (!strip) return;
  let text = '';
  if (session.current) {
    try {
      const page = await api('/v1/alerts', { query: { status: 'open', limit: 100 } });
      const n = page.data.length;
      if (n > 0) text = `${page.next_cursor ? `${n}+` : n} open alert${n === 1 ? '' : 's'}`;
    } catch {
      // no alerts endpoint (or a passing error): no strip
    }
  }
  if (!text) {
    strip.hidden = true;
    replace(strip);
    return;
  }
  replace(strip, h('a', { href: '#/alerts?status=open', dataset: { testid: 'alert-strip-link' } }, text));
  strip.hidden = false;
}
setInterval(() => void refreshAlertStrip(), 10_000);
window.addEventListener('console:signed-in', () => void refreshAlertStrip());

(async () => {
  try {
    const s = await api('/console/session');
    session.current = s.signed_in ? s : null;
    showShell();
  } catch {
    session.current = null;
  }
  await render();
})().catch((err) => replace(main, notice(errorText(err), 'error')));
