// The Budgets page: every budget window of a tenant (an operator picks one, or all) with spent,
// reserved and limit as bars, when the window resets, and the alerts sent for it. Admins (and
// operators) set the tenant's budget; the API's validation errors are shown with their field.
import {
  api,
  atLeast,
  badge,
  errorText,
  fmt,
  form,
  h,
  notice,
  pageRoot,
  replace,
  section,
  stackedBar,
  table,
  until,
} from '../lib.js';

const BUDGET_ALERT_KINDS = ['budget_threshold', 'budget_exhausted'];

/** The alerts of a window: same tenant, and (when the alert says) the same scope and period. */
export function alertsOfWindow(alerts, tenantId, w) {
  return alerts.filter((a) => {
    if (a.tenant_id && a.tenant_id !== tenantId) return false;
    const d = a.details || {};
    if (d.scope && d.scope !== w.scope) return false;
    const period = d.window ?? d.period;
    if (period && period !== w.window) return false;
    const start = d.window_start ?? d.windowStart;
    if (start && w.window_start && Date.parse(start) !== Date.parse(w.window_start)) return false;
    return true;
  });
}

function windowsTable(report, alerts) {
  return table(
    [
      { label: 'Scope', value: (w) => w.scope },
      { label: 'Window', value: (w) => w.window },
      {
        label: 'Spent · reserved of limit',
        value: (w) =>
          h(
            'div',
            {},
            stackedBar(
              [
                { value: w.spent_usd, class: w.spent_usd >= w.limit_usd ? 'over' : 'spent' },
                { value: w.reserved_usd, class: 'reserved' },
              ],
              w.limit_usd,
              { testid: `budget-bar-${w.window}`, title: `${fmt.pct(w.spent_usd / w.limit_usd)} spent` },
            ),
            h(
              'small',
              { class: 'muted' },
              `${fmt.usd(w.spent_usd)} spent · ${fmt.usd(w.reserved_usd)} reserved · ${fmt.usd(w.limit_usd)} limit`,
            ),
          ),
      },
      { label: 'Remaining', value: (w) => fmt.usd(w.remaining_usd), class: 'num' },
      {
        label: 'Resets',
        value: (w) => h('span', { title: fmt.time(w.resets_at) }, `${until(w.resets_at)} (${fmt.time(w.resets_at)})`),
      },
      {
        label: 'Alerts sent',
        value: (w) => {
          // The window's own episodes when the server lists them, else matched from /v1/alerts.
          const sent = Array.isArray(w.alerts) ? w.alerts : alertsOfWindow(alerts, report.tenant_id, w);
          if (sent.length)
            return sent.map((a) =>
              h(
                'div',
                {},
                badge(a.kind, a.severity ?? (a.kind === 'budget_exhausted' ? 'critical' : 'warning')),
                ` ${fmt.time(a.opened_at)}${a.status === 'resolved' ? ' (resolved)' : ''}`,
              ),
            );
          return w.alerted ? badge(`threshold ${fmt.pct(report.alert_threshold)} crossed`, 'warning') : '–';
        },
      },
    ],
    report.windows,
    {
      testid: `budget-windows-${report.tenant_id}`,
      rowTestid: (w) => `window-${w.scope}-${w.window}`,
      empty: 'No budget windows: this tenant has no budget.',
    },
  );
}

/** A typed number; text that is no number is sent as it is, so the API names the field. */
const num = (v) => (v === '' || v === undefined ? undefined : Number.isFinite(Number(v)) ? Number(v) : v);

function budgetForm(tenantId, current, onSaved) {
  const b = current || {};
  return form(
    [
      { name: 'dailyUsd', label: 'Daily limit (USD)', value: b.dailyUsd ?? '' },
      { name: 'weeklyUsd', label: 'Weekly limit (USD)', value: b.weeklyUsd ?? '' },
      { name: 'monthlyUsd', label: 'Monthly limit (USD)', value: b.monthlyUsd ?? '' },
      { name: 'perRequestUsd', label: 'Per-request limit (USD)', value: b.perRequestUsd ?? '' },
      {
        name: 'alertThreshold',
        label: 'Alert at this fraction of a window (0–1)',
        value: b.alertThreshold ?? 0.8,
      },
      { name: 'webhookUrl', label: 'Alert webhook URL (optional)', value: b.webhookUrl ?? '' },
    ],
    {
      submit: 'Save budget',
      testid: 'budget-form',
      onSubmit: async (v) => {
        // Users' limits are kept as they are: this form edits the tenant's own.
        const body = {
          ...(b.perUser && { perUser: b.perUser }),
          ...(b.users && { users: b.users }),
        };
        for (const k of ['dailyUsd', 'weeklyUsd', 'monthlyUsd', 'perRequestUsd', 'alertThreshold'])
          if (num(v[k]) !== undefined) body[k] = num(v[k]);
        if (v.webhookUrl) body.webhookUrl = v.webhookUrl;
        const r = await api(`/v1/admin/tenants/${encodeURIComponent(tenantId)}/budget`, { method: 'PUT', body });
        // The page redraws (this form with it): the confirmation goes above it.
        await onSaved(`Budget of ${tenantId} saved (configuration version ${r.config_version}).`);
        return undefined;
      },
    },
  );
}

export default {
  name: 'budgets',
  title: 'Budgets',
  minRole: 'member',
  async render(root, ctx) {
    const operator = atLeast('operator');
    const admin = atLeast('admin');
    const chosen = ctx.query.get('tenant') || (operator ? 'all' : ctx.session.tenant_id);
    const body = h('div');
    const saved = h('div', { dataset: { testid: 'budget-saved' } });
    const chooser = operator
      ? h('form', { class: 'filters' }, h('label', {}, 'Tenant', h('select', { dataset: { testid: 'budget-tenant' } })))
      : null;
    replace(root, pageRoot('budgets', 'Budgets', chooser, saved, body));

    let tenants = [ctx.session.tenant_id];
    if (operator) {
      tenants = (await api('/v1/tenants')).data.map((t) => t.id);
      const select = chooser.querySelector('select');
      replace(
        select,
        h('option', { value: 'all', selected: chosen === 'all' }, 'all tenants'),
        tenants.map((t) => h('option', { value: t, selected: t === chosen }, t)),
      );
      select.addEventListener('change', () => ctx.navigate(`#/budgets?tenant=${encodeURIComponent(select.value)}`));
    }
    const shown = chosen === 'all' ? tenants : [chosen];

    const load = async (message) => {
      // An admin's own tenant and an operator's pick: the admin view has the budget as set, too.
      const reports = await Promise.all(
        shown.map((tenantId) =>
          (admin
            ? api(`/v1/admin/tenants/${encodeURIComponent(tenantId)}/budget`)
            : api('/v1/budgets').then((usage) => ({ budget: null, usage }))
          ).then(
            (r) => ({ tenantId, r }),
            (err) => ({ tenantId, err }),
          ),
        ),
      );
      // Budget alerts from /v1/alerts, only for a server whose windows do not list their own (and
      // that records alerts at all; else the windows' "alerted" flag).
      let alerts = [];
      if (reports.some(({ r }) => r && r.usage.windows.some((w) => !Array.isArray(w.alerts))))
        try {
          for (const kind of BUDGET_ALERT_KINDS)
            alerts = alerts.concat((await api('/v1/alerts', { query: { kind, status: 'all', limit: 200 } })).data);
        } catch {
          alerts = [];
        }
      const cards = [];
      for (const { tenantId, r, err } of reports) {
        if (err) {
          cards.push(section(`Tenant ${tenantId}`, notice(errorText(err), 'error')));
          continue;
        }
        if (chosen === 'all' && !r.budget && r.usage.windows.length === 0) continue;
        cards.push(
          section(
            `Tenant ${tenantId}`,
            windowsTable(r.usage, alerts),
            r.usage.per_request_limit_usd !== null
              ? h('p', { class: 'muted' }, `Per-request limit: ${fmt.usd(r.usage.per_request_limit_usd)}`)
              : null,
            admin && shown.length === 1
              ? h(
                  'details',
                  { open: !r.budget },
                  h('summary', {}, 'Set the budget'),
                  budgetForm(tenantId, r.budget, load),
                )
              : null,
          ),
        );
      }
      if (cards.length === 0) cards.push(notice('No tenant has a budget. Choose a tenant to set one.'));
      replace(body, cards);
      replace(saved, typeof message === 'string' ? notice(message, 'ok') : null);
    };
    await load();
    // Spent and reserved move with traffic; the form keeps what is typed (only the tables redraw
    // when nothing is being edited).
    ctx.every(15_000, () => {
      if (!root.contains(document.activeElement) || document.activeElement === document.body) void load();
    });
  },
};
