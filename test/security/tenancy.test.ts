/**
 * Tenants, keys and roles over real HTTP (PostgreSQL when DATABASE_URL is set, as in CI): keys
 * missing, malformed, revoked, expired and rotated; a member on admin routes; an admin of tenant
 * A on tenant B's policy, budget, keys, requests and replay (all 404); an admin on what only an
 * operator may change (403); the audit log and who may read it.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { UrlPolicy } from '../../src/services/urlPolicy';
import { uniqueId } from '../support/db';
import { fakeCatalogProviders, fakeModel, useTestStack } from '../support/stack';

const stack = useTestStack({
  configSource: 'default', // no configuration file: reload has nothing to read
  // As npm start without SWITCHYARD_URL_ALLOWLIST; names resolve here, never through real DNS.
  urlPolicy: new UrlPolicy([], async (host) => {
    if (host === 'hooks.example.com') return [{ address: '93.184.216.34', family: 4 }];
    throw Object.assign(new Error(`no such host ${host}`), { code: 'ENOTFOUND' });
  }),
  catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
});
/** Tenant B, created by the operator through the API, with an admin key of its own. */
let tenantB: string;
let adminB: string;
let requestOfB: string;

interface Res {
  status: number;
  body: any;
}

async function call(key: string | undefined, method: string, path: string, body?: unknown): Promise<Res> {
  const res = await fetch(`${stack.baseURL}${path}`, {
    method,
    headers: {
      ...(key && { authorization: `Bearer ${key}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !(await check());) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const chat = (key: string) =>
  call(key, 'POST', '/chat/completions', { model: 'auto', messages: [{ role: 'user', content: 'hi' }] });

beforeAll(async () => {
  tenantB = uniqueId('b').toLowerCase();
  expect((await call(stack.operatorKey, 'POST', '/tenants', { id: tenantB, name: 'Tenant B' })).status).toBe(201);
  const key = await call(stack.operatorKey, 'POST', '/keys', { name: 'b admin', role: 'admin', tenant_id: tenantB });
  expect(key.status).toBe(201);
  adminB = key.body.key;
  const answered = await chat(adminB);
  expect(answered.status).toBe(200);
  requestOfB = answered.body.switchyard.request_id;
});

describe('authentication', () => {
  it('refuses a missing or malformed key with 401, before reading the body', async () => {
    expect((await call(undefined, 'GET', '/models')).body.error.code).toBe('missing_api_key');
    const res = await fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(res.status).toBe(401);
    for (const bad of ['sk-sy-nope', "' or 1=1 --", 'sk-sy-%00', 'x'.repeat(5_000)])
      expect((await call(bad, 'GET', '/models')).status).toBe(401);
    const weird = await fetch(`${stack.baseURL}/models`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(weird.status).toBe(401);
  });

  it('a new key is shown once; listings show its prefix, role, creation and last use, never the key', async () => {
    const created = await call(stack.adminKey, 'POST', '/keys', { name: 'ci' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ role: 'member', tenant_id: stack.tenantId, name: 'ci' });
    expect(created.body.key).toMatch(/^sk-sy-/);
    expect(created.body.prefix).toBe(created.body.key.slice(0, 14));
    expect((await chat(created.body.key)).status).toBe(200);
    await until(async () => (await call(stack.adminKey, 'GET', `/keys/${created.body.id}`)).body.last_used_at !== null);
    const listed = await call(stack.adminKey, 'GET', '/keys');
    const mine = listed.body.data.find((k: { id: string }) => k.id === created.body.id);
    expect(mine).toMatchObject({ prefix: created.body.prefix, role: 'member', revoked_at: null });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    // Only this tenant's keys.
    expect(new Set(listed.body.data.map((k: { tenant_id: string }) => k.tenant_id))).toEqual(new Set([stack.tenantId]));
  });

  it('a revoked key stops working, for good', async () => {
    const { body: k } = await call(stack.adminKey, 'POST', '/keys', { name: 'to revoke' });
    expect((await chat(k.key)).status).toBe(200);
    expect((await call(stack.adminKey, 'DELETE', `/keys/${k.id}`)).status).toBe(200);
    await until(async () => (await chat(k.key)).status === 401);
    expect((await chat(k.key)).body.error.code).toBe('revoked_api_key');
  });

  it('an expired key is refused', async () => {
    const past = await call(stack.adminKey, 'POST', '/keys', { name: 'x', expires_at: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    const { body: k } = await call(stack.adminKey, 'POST', '/keys', {
      name: 'short-lived',
      expires_at: new Date(Date.now() + 2_000).toISOString(),
    });
    expect(k.expires_at).not.toBeNull();
    await until(async () => (await chat(k.key)).status === 401);
    expect((await chat(k.key)).body.error.code).toBe('expired_api_key');
  });

  it('rotating a key gives a new one with the same name and role, and revokes the old', async () => {
    const { body: k } = await call(stack.adminKey, 'POST', '/keys', { name: 'rotating', role: 'admin' });
    const rotated = await call(stack.adminKey, 'POST', `/keys/${k.id}/rotate`);
    expect(rotated.status).toBe(201);
    expect(rotated.body).toMatchObject({ name: 'rotating', role: 'admin', replaces: k.id });
    expect(rotated.body.key).not.toBe(k.key);
    expect((await call(rotated.body.key, 'GET', '/keys')).status).toBe(200);
    await until(async () => (await chat(k.key)).status === 401);
    expect((await call(stack.adminKey, 'POST', `/keys/${k.id}/rotate`)).status).toBe(409);
  });
});

describe('roles', () => {
  it('a member gets 403 on admin routes', async () => {
    for (const [method, path, body] of [
      ['POST', '/keys', { name: 'x' }],
      ['GET', '/keys', undefined],
      ['GET', '/audit', undefined],
      ['PUT', `/admin/tenants/${stack.tenantId}`, {}],
      ['PUT', `/admin/tenants/${stack.tenantId}/budget`, { dailyUsd: 1 }],
      ['POST', '/policy/replay', { limit: 1 }],
    ] as const)
      expect([method, path, (await call(stack.apiKey, method, path, body)).status]).toEqual([method, path, 403]);
  });

  it('an admin cannot give a role above its own, nor touch what every tenant shares', async () => {
    expect((await call(stack.adminKey, 'POST', '/keys', { name: 'x', role: 'operator' })).status).toBe(403);
    const exported = await call(stack.operatorKey, 'GET', '/admin/config');
    const hijack = structuredClone(exported.body.config);
    hijack.catalog.providers[0].baseUrl = 'http://attacker.example/v1';
    for (const [method, path, body] of [
      ['PUT', '/admin/config', hijack],
      ['GET', '/admin/config', undefined],
      ['POST', '/admin/config/reload', undefined],
      ['POST', '/admin/models', { provider: 'oa', model: 'x' }],
      ['PATCH', '/admin/models/oa/primary', { status: 'inactive' }],
      ['POST', '/providers/oa/primary/breaker', { action: 'open', reason: 'x' }],
      ['POST', '/tenants', { id: 'new-tenant' }],
      ['GET', '/tenants', undefined],
    ] as const)
      expect([method, path, (await call(stack.adminKey, method, path, body)).status]).toEqual([method, path, 403]);
    expect(
      (await call(stack.operatorKey, 'GET', '/admin/config')).body.config.catalog.providers[0].baseUrl,
    ).not.toContain('attacker');
  });

  it("an admin manages its own tenant's rules and overrides, and sees no one else's", async () => {
    const rule = await call(stack.adminKey, 'POST', '/admin/rules', {
      id: 'a-rule',
      targets: [{ model: 'oa/primary' }],
    });
    expect(rule.status).toBe(201);
    expect(rule.body.tenantId).toBe(stack.tenantId); // it applies to this tenant's requests only
    for (const [body, status] of [
      [{ id: 'b-rule', tenantId: tenantB, targets: [{ model: 'oa/primary' }] }, 404],
      [
        { id: 're', when: [{ field: 'subject', op: 'matches', value: '(a+)+$' }], targets: [{ model: 'oa/primary' }] },
        403,
      ],
    ] as const)
      expect((await call(stack.adminKey, 'POST', '/admin/rules', body)).status).toBe(status);
    const override = { id: 'a-ovr', scope: 'tenant', subject: stack.tenantId, model: 'oa/primary' };
    expect((await call(stack.adminKey, 'POST', '/admin/overrides', override)).status).toBe(201);
    expect(
      (await call(stack.adminKey, 'POST', '/admin/overrides', { ...override, id: 'b-ovr', subject: tenantB })).status,
    ).toBe(404);
    const user = await call(stack.adminKey, 'POST', '/admin/overrides', {
      id: 'a-user',
      scope: 'user',
      subject: 'teacher-1',
      model: 'oa/primary',
    });
    expect(user.body.tenantId).toBe(stack.tenantId);
    // The operator's rule for everyone, and B's admin: neither is A's admin's to see or change.
    expect(
      (await call(stack.operatorKey, 'POST', '/admin/rules', { id: 'ops-rule', targets: [{ model: 'oa/primary' }] }))
        .status,
    ).toBe(201);
    const listed = await call(stack.adminKey, 'GET', '/admin/rules');
    expect(listed.body.data.map((r: { id: string }) => r.id)).toEqual(['a-rule']);
    expect((await call(stack.adminKey, 'GET', '/admin/rules/ops-rule')).status).toBe(404);
    expect((await call(stack.adminKey, 'DELETE', '/admin/rules/ops-rule')).status).toBe(404);
    expect((await call(adminB, 'GET', '/admin/rules/a-rule')).status).toBe(404);
    expect((await call(adminB, 'GET', '/admin/overrides')).body.data).toEqual([]);
    for (const [path, key] of [
      ['/admin/rules/a-rule', stack.adminKey],
      ['/admin/rules/ops-rule', stack.operatorKey],
      ['/admin/overrides/a-ovr', stack.adminKey],
      ['/admin/overrides/a-user', stack.adminKey],
    ] as const)
      expect((await call(key, 'DELETE', path)).status).toBe(200);
  });

  it('an admin may narrow its tenant policy, not widen it', async () => {
    const path = `/admin/tenants/${stack.tenantId}`;
    expect((await call(stack.operatorKey, 'PUT', path, { region: 'EU', allowedModels: ['oa/primary'] })).status).toBe(
      200,
    );
    const widened = await call(stack.adminKey, 'PUT', path, { region: 'US', allowedModels: ['oa/primary'] });
    expect(widened.status).toBe(403);
    expect(widened.body.error).toMatchObject({ param: 'region', code: 'policy_widening' });
    expect((await call(stack.adminKey, 'PUT', path, { region: 'EU' })).body.error.param).toBe('allowedModels');
    const narrowed = await call(stack.adminKey, 'PUT', path, {
      region: 'EU',
      allowedModels: ['oa/primary'],
      strategy: 'cost',
    });
    expect(narrowed.status).toBe(200);
    expect((await call(stack.operatorKey, 'PUT', path, {})).status).toBe(200); // the operator lifts it
  });

  it('reloading without a configuration file is a 400 that changes nothing', async () => {
    const before = (await call(stack.operatorKey, 'GET', '/admin/config')).body.config_version;
    const res = await call(stack.operatorKey, 'POST', '/admin/config/reload');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('no_config_file');
    expect((await call(stack.operatorKey, 'GET', '/admin/config')).body.config_version).toBe(before);
  });
});

describe("an admin of tenant A on tenant B's objects: not found", () => {
  it('policy, budget, keys, requests and replay', async () => {
    const keysOfB = await call(adminB, 'GET', '/keys');
    const keyOfB = keysOfB.body.data[0].id as string;
    for (const [method, path, body] of [
      ['GET', `/admin/tenants/${tenantB}`, undefined],
      ['PUT', `/admin/tenants/${tenantB}`, { strategy: 'cost' }],
      ['GET', `/admin/tenants/${tenantB}/budget`, undefined],
      ['PUT', `/admin/tenants/${tenantB}/budget`, { dailyUsd: 1 }],
      ['DELETE', `/admin/tenants/${tenantB}/budget`, undefined],
      ['GET', `/keys/${keyOfB}`, undefined],
      ['DELETE', `/keys/${keyOfB}`, undefined],
      ['POST', `/keys/${keyOfB}/rotate`, undefined],
      ['GET', `/keys?tenant_id=${tenantB}`, undefined],
      ['POST', '/keys', { name: 'x', tenant_id: tenantB }],
      ['GET', `/requests/${requestOfB}`, undefined],
      ['POST', '/policy/replay', { limit: 10, tenantId: tenantB }],
      ['GET', `/audit?tenant_id=${tenantB}`, undefined],
      ['GET', `/tenants/${tenantB}`, undefined],
    ] as const)
      expect([method, path, (await call(stack.adminKey, method, path, body)).status]).toEqual([method, path, 404]);
    // B's key still works: nothing was revoked or rotated.
    expect((await chat(adminB)).status).toBe(200);
    expect((await call(adminB, 'GET', `/requests/${requestOfB}`)).status).toBe(200);
  });

  it("replay without a tenant covers only the admin's own requests", async () => {
    const mine = await call(stack.adminKey, 'POST', '/policy/replay', { limit: 1000 });
    expect(mine.status).toBe(200);
    const all = await call(stack.operatorKey, 'POST', '/policy/replay', { limit: 1000 });
    expect(mine.body.evaluated).toBeGreaterThan(0);
    expect(all.body.evaluated).toBeGreaterThan(mine.body.evaluated);
  });
});

describe('URLs Switchyard will call (SSRF)', () => {
  it('refuses loopback, link-local and metadata addresses as provider base URLs and webhooks', async () => {
    const { body: exported } = await call(stack.operatorKey, 'GET', '/admin/config');
    for (const url of [
      'http://169.254.169.254/latest/meta-data',
      'http://metadata.google.internal/',
      'http://[::1]:8080/v1',
    ]) {
      const config = structuredClone(exported.config);
      config.catalog.providers[0].baseUrl = url;
      const res = await call(stack.operatorKey, 'PUT', '/admin/config', config);
      expect([url, res.status, res.body.error.param]).toEqual([url, 400, 'catalog.providers.0.baseUrl']);
    }
    const path = `/admin/tenants/${stack.tenantId}/budget`;
    const local = await call(stack.adminKey, 'PUT', path, { dailyUsd: 5, webhookUrl: 'http://127.0.0.1:9/hook' });
    expect(local.status).toBe(400);
    expect(local.body.error.message).toContain('loopback');
    const external = await call(stack.adminKey, 'PUT', path, {
      dailyUsd: 5,
      webhookUrl: 'https://hooks.example.com/x',
    });
    expect(external.status).toBe(200);
    expect((await call(stack.adminKey, 'DELETE', path)).status).toBe(200);
    // The provider URLs already stored (the operator's own, here 127.0.0.1) do not block other edits.
    expect((await call(stack.operatorKey, 'PUT', '/admin/config', exported.config)).status).toBe(200);
  });

  it('checks the URL, and what a name resolves to before a webhook is called', async () => {
    const policy = new UrlPolicy(['localhost']);
    expect(policy.check('http://localhost:11434/v1')).toBeUndefined();
    expect(policy.check('http://127.0.0.1/')).toContain('loopback');
    expect(policy.check('http://[::ffff:127.0.0.1]/')).toContain('loopback');
    expect(policy.check('http://[fe80::1]/')).toContain('link-local');
    expect(policy.check('http://10.0.0.5:8000/v1')).toContain('private'); // allowed only when allowlisted
    expect(new UrlPolicy(['10.0.0.0/8']).check('http://10.0.0.5:8000/v1')).toBeUndefined();
    expect(policy.check('file:///etc/passwd')).toContain('only http');
    expect(policy.check('http://LOCALHOST.:9/x')).toBeUndefined(); // the allowlisted name, however written
    expect(new UrlPolicy().check('http://localhost.:9/x')).toContain('loopback');
    // A name that resolves to the metadata address (DNS rebinding) is refused when called.
    const rebinding = new UrlPolicy([], async () => [{ address: '169.254.169.254' }]);
    expect(rebinding.check('https://hooks.example.com/x')).toBeUndefined();
    expect(await rebinding.checkResolved('https://hooks.example.com/x')).toContain('169.254.169.254');
  });
});

describe('audit log', () => {
  it('records every change with who made it, before and after; an admin reads only its tenant', async () => {
    const ops = await call(stack.operatorKey, 'GET', '/audit?limit=500');
    const actions = ops.body.data.map((e: { action: string }) => e.action);
    for (const a of ['tenant.create', 'key.create', 'key.revoke', 'key.rotate', 'tenant.policy'])
      expect(actions).toContain(a);
    const policy = ops.body.data.find(
      (e: { action: string; actor: { role: string } }) => e.action === 'tenant.policy' && e.actor.role === 'admin',
    );
    expect(policy).toMatchObject({ tenant_id: stack.tenantId, after: { region: 'EU', strategy: 'cost' } });
    expect(policy.before).toMatchObject({ region: 'EU' });
    const mine = await call(stack.adminKey, 'GET', '/audit?limit=500');
    expect(mine.body.data.length).toBeGreaterThan(0);
    expect(new Set(mine.body.data.map((e: { tenant_id: string }) => e.tenant_id))).toEqual(new Set([stack.tenantId]));
  });
});

describe('deleting a tenant', () => {
  it('revokes its keys', async () => {
    const id = uniqueId('gone').toLowerCase();
    expect((await call(stack.operatorKey, 'POST', '/tenants', { id })).status).toBe(201);
    expect((await call(stack.operatorKey, 'POST', '/tenants', { id })).status).toBe(409);
    const { body: k } = await call(stack.operatorKey, 'POST', '/keys', { name: 'm', tenant_id: id });
    expect((await call(k.key, 'GET', '/models')).status).toBe(200);
    expect((await call(stack.operatorKey, 'DELETE', `/tenants/${id}`)).status).toBe(200);
    await until(async () => (await call(k.key, 'GET', '/models')).status === 401);
    expect((await call(stack.operatorKey, 'GET', `/tenants/${id}`)).status).toBe(404);
  });
});
