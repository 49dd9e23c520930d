// The Tenants and keys page (admin+): an operator sees and creates tenants; keys (prefix, name,
// role, tenant, created, expires, last used, revoked) with create, revoke and rotate. A new or
// rotated key's secret is shown once, in a box with a copy button, and kept nowhere else: reloading
// the page cannot show it again. An admin manages its own tenant's keys up to its own role.
import {
  api,
  atLeast,
  badge,
  confirmButton,
  errorText,
  fmt,
  form,
  h,
  notice,
  pageRoot,
  replace,
  secretBox,
  section,
  table,
} from '../lib.js';

const ROLES = ['member', 'admin', 'operator'];

/** A `datetime-local` value (the browser's local time) as an ISO instant, or undefined. */
const isoOf = (local) => (local ? new Date(local).toISOString() : undefined);

export default {
  name: 'keys',
  title: 'Tenants and keys',
  minRole: 'admin',
  async render(root, ctx) {
    const operator = atLeast('operator');
    const tenantsBox = h('div');
    const keysBox = h('div');
    const secretOut = h('div', { dataset: { testid: 'secret-out' } });
    const actionOut = h('div');
    let tenants = [ctx.session.tenant_id];

    const loadTenants = async () => {
      if (!operator) return;
      const list = (await api('/v1/tenants')).data;
      tenants = list.map((t) => t.id);
      replace(
        tenantsBox,
        table(
          [
            { label: 'Tenant', value: (t) => t.id },
            { label: 'Name', value: (t) => t.name },
            { label: 'Created', value: (t) => fmt.time(t.created_at) },
          ],
          list,
          { testid: 'tenants', rowTestid: (t) => `tenant-${t.id}` },
        ),
      );
    };

    const showSecret = (k, what) =>
      replace(
        secretOut,
        secretBox(
          k.key,
          `${what} key “${k.name}” (${k.prefix}…, ${k.role}, tenant ${k.tenant_id}). Copy it now: it is not shown again.`,
        ),
      );

    const loadKeys = async () => {
      const keys = (await api('/v1/keys')).data;
      const mayChange = (k) => !k.revoked_at && ROLES.indexOf(k.role) <= ROLES.indexOf(ctx.session.role);
      replace(
        keysBox,
        table(
          [
            { label: 'Prefix', value: (k) => h('code', {}, `${k.prefix}…`) },
            { label: 'Name', value: (k) => k.name },
            { label: 'Role', value: (k) => k.role },
            { label: 'Tenant', value: (k) => k.tenant_id },
            { label: 'Created', value: (k) => fmt.time(k.created_at) },
            {
              label: 'Expires',
              value: (k) =>
                k.expires_at
                  ? new Date(k.expires_at).getTime() < Date.now()
                    ? badge(`expired ${fmt.time(k.expires_at)}`, 'bad')
                    : fmt.time(k.expires_at)
                  : 'never',
            },
            { label: 'Last used', value: (k) => (k.last_used_at ? fmt.ago(k.last_used_at) : 'never') },
            {
              label: 'Revoked',
              value: (k) =>
                h(
                  'span',
                  { dataset: { testid: `revoked-${k.id}` } },
                  k.revoked_at ? badge(fmt.time(k.revoked_at), 'bad') : '–',
                ),
            },
            {
              label: '',
              value: (k) =>
                mayChange(k) && k.id !== ctx.session.key_id
                  ? h(
                      'div',
                      { class: 'actions' },
                      confirmButton(
                        'Rotate',
                        `Rotate key ${k.name} (${k.prefix}…)? A new secret replaces it and the old one stops working.`,
                        async () => {
                          const r = await api(`/v1/keys/${encodeURIComponent(k.id)}/rotate`, { method: 'POST' });
                          showSecret(r, 'Rotated: the new');
                          await loadKeys();
                        },
                        { testid: `rotate-${k.id}`, danger: false, out: actionOut },
                      ),
                      confirmButton(
                        'Revoke',
                        `Revoke key ${k.name} (${k.prefix}…)? Requests with it are refused from now on.`,
                        async () => {
                          await api(`/v1/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
                          replace(actionOut, notice(`Revoked ${k.name} (${k.prefix}…).`, 'ok'));
                          await loadKeys();
                        },
                        { testid: `revoke-${k.id}`, out: actionOut },
                      ),
                    )
                  : k.id === ctx.session.key_id
                    ? h('span', { class: 'muted' }, 'this session’s key')
                    : '',
            },
          ],
          keys,
          { testid: 'keys', rowTestid: (k) => `key-${k.name}${k.revoked_at ? '-revoked' : ''}` },
        ),
      );
    };

    await loadTenants();
    const createKey = form(
      [
        { name: 'name', label: 'Name', required: true, placeholder: 'ci-pipeline' },
        {
          name: 'role',
          label: 'Role',
          type: 'select',
          options: ROLES.slice(0, ROLES.indexOf(ctx.session.role) + 1),
          value: 'member',
        },
        ...(operator
          ? [
              {
                name: 'tenant_id',
                label: 'Tenant',
                type: 'select',
                options: tenants,
                value: ctx.session.tenant_id,
              },
            ]
          : []),
        { name: 'expires_at', label: 'Expires (optional, local time)', type: 'datetime-local' },
      ],
      {
        submit: 'Create key',
        testid: 'create-key',
        onSubmit: async (v) => {
          replace(secretOut);
          const body = { name: v.name, role: v.role, expires_at: isoOf(v.expires_at) };
          if (operator) body.tenant_id = v.tenant_id;
          const k = await api('/v1/keys', { method: 'POST', body });
          showSecret(k, 'Created: the');
          createKey.reset();
          await loadKeys();
          return undefined;
        },
      },
    );
    const createTenant = operator
      ? form(
          [
            { name: 'id', label: 'Tenant id', required: true, placeholder: 'acme' },
            { name: 'name', label: 'Display name (optional)' },
          ],
          {
            submit: 'Create tenant',
            testid: 'create-tenant',
            onSubmit: async (v) => {
              const t = await api('/v1/tenants', {
                method: 'POST',
                body: { id: v.id, ...(v.name && { name: v.name }) },
              });
              await loadTenants();
              // The new tenant is offered for keys at once.
              const select = createKey.querySelector('select[name="tenant_id"]');
              if (select)
                replace(
                  select,
                  tenants.map((id) => h('option', { value: id, selected: id === t.id }, id)),
                );
              return `Created tenant ${t.id}.`;
            },
          },
        )
      : null;

    replace(
      root,
      pageRoot(
        'keys',
        'Tenants and keys',
        operator ? section('Tenants', tenantsBox, h('h3', {}, 'New tenant'), createTenant) : null,
        section('New key', createKey, secretOut),
        section(operator ? 'Keys (every tenant)' : `Keys of tenant ${ctx.session.tenant_id}`, actionOut, keysBox),
      ),
    );
    try {
      await loadKeys();
    } catch (err) {
      replace(keysBox, notice(errorText(err), 'error'));
    }
  },
};
