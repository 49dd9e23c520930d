/**
 * Roles, over real HTTP on each database: every route in /openapi.json, called with no key, a
 * member, an admin and an operator key (path parameters are real ids of the caller's tenant),
 * enforces exactly the role the document gives it (`x-switchyard-role`): a lower role gets 401
 * or 403, the documented one and above never do. Then what the matrix cannot see: an admin
 * revokes and rotates no operator key (the operator key stays usable), and another tenant's batch
 * id as a `?after=` cursor reads exactly like an unknown one.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { dbKinds, uniqueId } from '../support/db';
import { fakeCatalogProviders, fakeModel, startTestStack, type TestStack } from '../support/stack';

type Caller = 'none' | 'member' | 'admin' | 'operator';
const CALLERS: Caller[] = ['none', 'member', 'admin', 'operator'];
const RANK: Record<Caller, number> = { none: 0, member: 1, admin: 2, operator: 3 };

interface Res {
  status: number;
  body: any;
}

describe.each(dbKinds())('roles on %s', (db) => {
  let stack: TestStack;
  let origin: string;
  const keys = {} as Record<Caller, string | undefined>;
  /** Real ids of the stack's tenant. */
  const ids = {} as {
    request: string;
    summarizeBatch: string;
    file: string;
    openaiBatch: string;
    rule: string;
    override: string;
    memberKey: string;
    operatorKey: string;
  };
  let tenantB: string;
  let memberB: string;

  async function call(key: string | undefined, method: string, path: string, body?: unknown): Promise<Res> {
    const res = await fetch(`${origin}${path}`, {
      method,
      headers: {
        ...(key && { authorization: `Bearer ${key}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000), // a hung route fails its check, not the whole run
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (metrics, docs, JSONL results): kept as text
    }
    return { status: res.status, body: parsed };
  }

  /** `call` that must succeed with `status`; returns the body. */
  async function ok(key: string, method: string, path: string, body: unknown, status: number): Promise<any> {
    const res = await call(key, method, path, body);
    if (res.status !== status) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  const chatLine = (customId: string) => ({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'oa/primary', messages: [{ role: 'user', content: `hello ${customId}` }], max_tokens: 20 },
  });

  /** An OpenAI batch of one line, as the SDK would make it (a multipart upload, then the batch). */
  async function openaiBatch(key: string): Promise<{ file: string; batch: string }> {
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([`${JSON.stringify(chatLine('a'))}\n`]), 'batch.jsonl');
    const res = await fetch(`${origin}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: form,
      signal: AbortSignal.timeout(30_000),
    });
    const file = (await res.json()) as { id: string };
    if (res.status !== 200) throw new Error(`upload: ${res.status} ${JSON.stringify(file)}`);
    const body = { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' };
    return { file: file.id, batch: (await ok(key, 'POST', '/v1/batches', body, 200)).id };
  }

  const summarizeBatch = async (key: string): Promise<string> =>
    (
      await ok(
        key,
        'POST',
        '/v1/operations/summarize/batches',
        { documents: [{ id: 'd1', text: 'Switchyard routes requests. It keeps every attempt on record.' }] },
        201,
      )
    ).id;

  beforeAll(async () => {
    stack = await startTestStack({
      db,
      configSource: 'default',
      catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
    });
    stack.fakes.openai.setDefault('*', { kind: 'ok', simulate: true });
    origin = new URL(stack.baseURL).origin;
    Object.assign(keys, { none: undefined, member: stack.apiKey, admin: stack.adminKey, operator: stack.operatorKey });
    const answered = await ok(
      stack.apiKey,
      'POST',
      '/v1/chat/completions',
      { model: 'auto', messages: [{ role: 'user', content: 'hi' }] },
      200,
    );
    ids.request = answered.switchyard.request_id;
    ids.summarizeBatch = await summarizeBatch(stack.apiKey);
    ({ file: ids.file, batch: ids.openaiBatch } = await openaiBatch(stack.apiKey));
    ids.rule = (
      await ok(stack.adminKey, 'POST', '/v1/admin/rules', { id: 'r-main', targets: [{ model: 'oa/primary' }] }, 201)
    ).id;
    ids.override = (
      await ok(
        stack.adminKey,
        'POST',
        '/v1/admin/overrides',
        { id: 'o-main', scope: 'tenant', subject: stack.tenantId, model: 'oa/primary' },
        201,
      )
    ).id;
    const listed = (await ok(stack.operatorKey, 'GET', `/v1/keys?tenant_id=${stack.tenantId}`, undefined, 200))
      .data as Array<{
      id: string;
      name: string;
      role: string;
    }>;
    ids.memberKey = listed.find((k) => k.role === 'member')!.id;
    ids.operatorKey = listed.find((k) => k.role === 'operator')!.id;
    // Tenant B, created after A's batches (so a leaking cursor of B's would page back to A's).
    tenantB = uniqueId('b').toLowerCase();
    await ok(stack.operatorKey, 'POST', '/v1/tenants', { id: tenantB }, 201);
    memberB = (await ok(stack.operatorKey, 'POST', '/v1/keys', { name: 'b', tenant_id: tenantB }, 201)).key;
  }, 120_000);
  afterAll(async () => stack?.stop());

  /** A path of the document with real ids in it; a destructive call gets an object of its own. */
  async function fill(method: string, template: string, caller: Caller): Promise<string> {
    const fresh = {
      key: async () =>
        (await ok(stack.operatorKey, 'POST', '/v1/keys', { name: 'matrix', tenant_id: stack.tenantId }, 201)).id,
      rule: async () =>
        (
          await ok(
            stack.adminKey,
            'POST',
            '/v1/admin/rules',
            { id: uniqueId('r'), targets: [{ model: 'oa/primary' }] },
            201,
          )
        ).id,
      override: async () =>
        (
          await ok(
            stack.adminKey,
            'POST',
            '/v1/admin/overrides',
            { id: uniqueId('o'), scope: 'user', subject: 'u1', model: 'oa/primary' },
            201,
          )
        ).id,
      tenant: async () => {
        const id = uniqueId('gone').toLowerCase();
        await ok(stack.operatorKey, 'POST', '/v1/tenants', { id }, 201);
        return id;
      },
    };
    const destructive = method === 'DELETE' || template.endsWith('/rotate');
    let id: string | undefined;
    if (template.startsWith('/v1/operations/{operation}/batches/{id}')) id = ids.summarizeBatch;
    else if (template.startsWith('/v1/requests/')) id = ids.request;
    else if (template.startsWith('/v1/files/')) id = ids.file;
    else if (template.startsWith('/v1/batches/')) id = ids.openaiBatch;
    else if (template.startsWith('/v1/admin/rules/')) id = destructive ? await fresh.rule() : ids.rule;
    else if (template.startsWith('/v1/admin/overrides/')) id = destructive ? await fresh.override() : ids.override;
    else if (template.startsWith('/v1/admin/tenants/')) id = stack.tenantId;
    // A refused caller aims at its own tenant (the real target); the operator deletes a spare one.
    else if (template.startsWith('/v1/tenants/'))
      id = destructive && caller === 'operator' ? await fresh.tenant() : stack.tenantId;
    else if (template.startsWith('/v1/keys/')) id = destructive ? await fresh.key() : ids.memberKey;
    else if (template.startsWith('/v1/models/{id}')) id = 'auto';
    return template
      .replace('{operation}', 'summarize')
      .replace('{provider}', 'oa')
      .replace('{model}', 'primary')
      .replace('{id}', id ?? 'unfilled')
      .replace('{name}', 'matrix-secret') // a stored secret's (an empty PUT body is invalid, past the role check)
      .replace('{version}', '1') // a template's (none of that name: 404, past the role check)
      .replace('{label}', 'production');
  }

  it('every route in /openapi.json enforces exactly its documented role', async () => {
    const doc = (await (await fetch(`${origin}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { 'x-switchyard-role'?: Caller }>>;
    };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        role: op['x-switchyard-role'],
      })),
    );
    expect(routes.length).toBeGreaterThan(60);
    // The price sheet import is in the matrix: an operator's `{}` is an empty sheet (400, nothing stored).
    expect(routes).toContainEqual({ method: 'POST', path: '/v1/admin/catalog/prices', role: 'operator' });
    const mismatches: string[] = [];
    let checked = 0;
    for (const r of routes) {
      if (!r.role || !(r.role in RANK)) {
        mismatches.push(`${r.method} ${r.path}: no documented role`);
        continue;
      }
      expect(r.path).not.toMatch(/\{(?!operation|provider|model|id|name|version|label)\w+\}/); // every parameter is filled
      for (const caller of CALLERS) {
        const path = await fill(r.method, r.path, caller);
        const res = await call(keys[caller], r.method, path, r.method === 'GET' ? undefined : {});
        checked++;
        const below = RANK[caller] < RANK[r.role];
        const refused = res.status === 401 || res.status === 403;
        const expected = caller === 'none' ? 401 : 403;
        if (below && res.status !== expected)
          mismatches.push(`${r.method} ${path} (${r.role}) as ${caller}: ${res.status}, expected ${expected}`);
        if (!below && refused) mismatches.push(`${r.method} ${path} (${r.role}) as ${caller}: refused ${res.status}`);
        // A refusal is the API's error shape, naming why.
        if (refused)
          expect(res.body).toMatchObject({ error: { type: expect.any(String), message: expect.any(String) } });
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBe(routes.length * CALLERS.length);
  }, 300_000);

  it('a member gets 403 on GET /v1/tenants/{id}, as documented; an admin reads its own tenant', async () => {
    const member = await call(stack.apiKey, 'GET', `/v1/tenants/${stack.tenantId}`);
    expect(member.status).toBe(403);
    expect(member.body.error).toMatchObject({ code: 'admin_required' });
    expect((await call(stack.adminKey, 'GET', `/v1/tenants/${stack.tenantId}`)).body).toMatchObject({
      object: 'tenant',
      id: stack.tenantId,
    });
    // Another tenant's id is not found for an admin, as ever.
    expect((await call(stack.adminKey, 'GET', `/v1/tenants/${tenantB}`)).status).toBe(404);
  });

  it('an admin cannot revoke, rotate or create an operator key; the operator key keeps working', async () => {
    const revoke = await call(stack.adminKey, 'DELETE', `/v1/keys/${ids.operatorKey}`);
    expect(revoke.status).toBe(403);
    expect(revoke.body.error).toMatchObject({ code: 'role_not_allowed', param: 'id' });
    const rotate = await call(stack.adminKey, 'POST', `/v1/keys/${ids.operatorKey}/rotate`);
    expect(rotate.status).toBe(403);
    expect(rotate.body).not.toHaveProperty('key');
    expect((await call(stack.adminKey, 'POST', '/v1/keys', { name: 'x', role: 'operator' })).status).toBe(403);
    // Nothing happened to it: not revoked, no replacement made, and it still works.
    const row = await ok(stack.operatorKey, 'GET', `/v1/keys/${ids.operatorKey}`, undefined, 200);
    expect(row).toMatchObject({ role: 'operator', revoked_at: null });
    const operators = (
      await ok(stack.operatorKey, 'GET', `/v1/keys?tenant_id=${stack.tenantId}`, undefined, 200)
    ).data.filter((k: { role: string }) => k.role === 'operator');
    expect(operators).toHaveLength(1);
    expect((await call(stack.operatorKey, 'GET', '/v1/tenants')).status).toBe(200);
    // The audit log shows no revocation or rotation of it.
    const audit = (await ok(stack.operatorKey, 'GET', `/v1/audit?tenant_id=${stack.tenantId}`, undefined, 200)).data;
    expect(audit.filter((e: { target: string }) => e.target === ids.operatorKey)).toEqual([]);
    // What an admin may do, it still does: revoke and rotate its tenant's member and admin keys.
    for (const role of ['member', 'admin']) {
      const k = await ok(stack.adminKey, 'POST', '/v1/keys', { name: `own ${role}`, role }, 201);
      expect((await call(stack.adminKey, 'POST', `/v1/keys/${k.id}/rotate`)).status).toBe(201);
      const other = await ok(stack.adminKey, 'POST', '/v1/keys', { name: `own ${role} 2`, role }, 201);
      expect((await call(stack.adminKey, 'DELETE', `/v1/keys/${other.id}`)).status).toBe(200);
    }
    // A member touches no key, its own included.
    expect((await call(stack.apiKey, 'DELETE', `/v1/keys/${ids.memberKey}`)).status).toBe(403);
    expect((await call(stack.apiKey, 'POST', `/v1/keys/${ids.memberKey}/rotate`)).status).toBe(403);
  });

  it("another tenant's batch id as a ?after= cursor reads exactly like an unknown id", async () => {
    const foreignSummarize = await summarizeBatch(memberB);
    const { batch: foreignOpenai } = await openaiBatch(memberB);
    const unknown = `batch_${uniqueId('none')}`;
    for (const list of ['/v1/operations/summarize/batches', '/v1/batches']) {
      const foreign = list === '/v1/batches' ? foreignOpenai : foreignSummarize;
      const own = await ok(stack.apiKey, 'GET', list, undefined, 200);
      expect(own.data.length).toBeGreaterThan(0); // A has batches older than B's: a leak would list them
      const byUnknown = await call(stack.apiKey, 'GET', `${list}?after=${unknown}`);
      const byForeign = await call(stack.apiKey, 'GET', `${list}?after=${foreign}`);
      expect(byForeign.status).toBe(byUnknown.status);
      expect(byForeign.body).toEqual(byUnknown.body);
      if (byForeign.status === 200) expect(byForeign.body.data).toEqual([]);
      // The cursor still pages through the caller's own batches.
      const ownNewest = own.data[0].id as string;
      expect((await call(stack.apiKey, 'GET', `${list}?after=${ownNewest}`)).status).toBe(200);
    }
  }, 60_000);
});
