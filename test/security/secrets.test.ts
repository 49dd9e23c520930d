/**
 * Provider keys stored in Switchyard, over real HTTP on each database: an operator stores a key,
 * a provider instance names it (`apiKey: { secret }`), and the provider's calls carry exactly that
 * key. The value is sealed in its row (AES-256-GCM, bound to its name), shown by no endpoint, kept
 * out of the audit log, the configuration, every other row and workflow history, and redacted
 * when a provider echoes it. A rotated key is in use within the workers' cache time. Without a
 * master key nothing can be stored, and a stored reference resolves to no key.
 */
import express from 'express';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { requireApiKey } from '../../src/api/auth';
import { errorHandler } from '../../src/api/errors';
import { secretRoutes } from '../../src/api/routes/secrets';
import { mountRoutes } from '../../src/api/routeSpec';
import { CatalogSchema } from '../../src/domain/catalog';
import { SecretBox, SecretOpenError } from '../../src/services/secretBox';
import { SecretStore } from '../../src/services/secretStore';
import { dbKinds } from '../support/db';
import { startFakeProvider } from '../support/fakeProvider';
import { stopStack, useProcesses } from '../support/process';
import { allRows, historyText, leaked } from '../support/leaks';
import { until } from '../support/rawUpload';
import { fakeModel, TEST_MASTER_KEY, useTestStack } from '../support/stack';

const NAME = 'team-openai';
const FIRST = 'sk-stored-first-7d1e0c9b5a3f66e1';
const SECOND = 'sk-stored-second-2b8a6f4c0e9d11a7';

describe.each(dbKinds())('stored provider keys on %s', (db) => {
  const stack = useTestStack(
    {
      db,
      // The workers read a stored key again after 300 ms (10 s by default): rotation is seen quickly.
      secretCacheMs: 300,
      catalog: (f) =>
        CatalogSchema.parse({
          providers: [{ id: 'vault', kind: 'openai', baseUrl: f.openai.url, apiKey: { secret: NAME } }],
          models: [fakeModel('vault', 'primary'), fakeModel('vault', 'echo')],
        }),
    },
    { timeout: 120_000 },
  );
  /** Every response body the test saw, to search for the values at the end. */
  const seen: string[] = [];
  const workflows = new Set<string>();

  async function call(key: string, method: string, path: string, body?: unknown) {
    const res = await fetch(`${stack.baseURL}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    seen.push(text, JSON.stringify([...res.headers]));
    const workflowId = res.headers.get('x-switchyard-workflow-id');
    if (workflowId) workflows.add(workflowId);
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** A chat request to the stored-key provider; the Authorization header its call carried. */
  async function sentKey(model = 'vault/primary'): Promise<string | undefined> {
    const before = stack.fakes.openai.calls.length;
    const res = await call(stack.apiKey, 'POST', '/chat/completions', {
      model,
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(res.status).toBe(200);
    const made = stack.fakes.openai.calls.slice(before);
    expect(made).toHaveLength(1);
    return made[0]!.headers.authorization;
  }

  beforeAll(() => {
    stack.fakes.openai.setDefault('*', { kind: 'ok', simulate: true });
    // A provider that prints the key it refused (as some do).
    stack.fakes.openai.setDefault('echo', { kind: 'error', status: 401, echoKey: true });
  });

  it("a stored key is what the provider's calls carry, sealed in its row and never shown", async () => {
    const stored = await call(stack.operatorKey, 'PUT', `/admin/secrets/${NAME}`, { value: FIRST });
    expect(stored.status).toBe(200);
    expect(Object.keys(stored.body).sort()).toEqual(['createdAt', 'name', 'updatedAt']);
    expect(stored.body.name).toBe(NAME);

    expect(await sentKey()).toBe(`Bearer ${FIRST}`);

    const listed = await call(stack.operatorKey, 'GET', '/admin/secrets');
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([
      { name: NAME, createdAt: stored.body.createdAt, updatedAt: stored.body.updatedAt },
    ]);

    // The row holds ciphertext only: it opens under the master key for this name, and no other.
    const row = (
      await stack.db.query<{ key_id: string; iv: string; ciphertext: string }>(
        'select key_id, iv, ciphertext from provider_secrets where name = $1',
        [NAME],
      )
    ).rows[0]!;
    expect(leaked(JSON.stringify(row), FIRST)).toBeUndefined();
    const sealed = { keyId: row.key_id, iv: row.iv, ciphertext: row.ciphertext };
    const box = new SecretBox(TEST_MASTER_KEY);
    expect(box.open(NAME, sealed)).toBe(FIRST);
    expect(() => box.open('another-name', sealed)).toThrow(SecretOpenError);
    // Copied onto another name's row, it resolves to no key there.
    await stack.db.query(
      `insert into provider_secrets (name, key_id, iv, ciphertext) select 'moved', key_id, iv, ciphertext
       from provider_secrets where name = $1`,
      [NAME],
    );
    expect(await new SecretStore(stack.db, TEST_MASTER_KEY).get('moved')).toBeUndefined();
    await stack.db.query(`delete from provider_secrets where name = 'moved'`);
  }, 60_000);

  it('only an operator key reaches the routes: members and admins get 403, no key 401', async () => {
    for (const key of [stack.apiKey, stack.adminKey]) {
      expect((await call(key, 'PUT', `/admin/secrets/${NAME}`, { value: 'sk-not-stored-0000000000' })).status).toBe(
        403,
      );
      expect((await call(key, 'GET', '/admin/secrets')).status).toBe(403);
      expect((await call(key, 'DELETE', `/admin/secrets/${NAME}`)).status).toBe(403);
    }
    const anonymous = await fetch(`${stack.baseURL}/admin/secrets`);
    expect(anonymous.status).toBe(401);
    // Nothing a refused caller sent was stored: the provider still gets the operator's key.
    expect(await sentKey()).toBe(`Bearer ${FIRST}`);
    // A bad name or value is refused, naming the field and never the value.
    const tooLong = await call(stack.operatorKey, 'PUT', `/admin/secrets/${NAME}`, { value: 'x'.repeat(8 * 1024 + 1) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.param).toBe('value');
    expect((await call(stack.operatorKey, 'PUT', `/admin/secrets/${NAME}`, { value: '' })).status).toBe(400);
    expect((await call(stack.operatorKey, 'PUT', '/admin/secrets/Not_A_Name!', { value: SECOND })).status).toBe(400);
  }, 60_000);

  it('a rotated key (PUT again) is what the calls carry once the workers read it again', async () => {
    const before = (await call(stack.operatorKey, 'GET', '/admin/secrets')).body.data[0];
    const rotated = await call(stack.operatorKey, 'PUT', `/admin/secrets/${NAME}`, { value: SECOND });
    expect(rotated.status).toBe(200);
    expect(rotated.body.createdAt).toBe(before.createdAt);
    expect(Date.parse(rotated.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(before.updatedAt));
    // The workers' store is not the API's: they see the new key after their cache time, not at once.
    await until(10_000, 'calls carrying the rotated key', async () => (await sentKey()) === `Bearer ${SECOND}`);
    expect(await sentKey()).toBe(`Bearer ${SECOND}`);
  }, 60_000);

  it('a provider echoing the stored key: the client sees it redacted', async () => {
    const res = await call(stack.apiKey, 'POST', '/chat/completions', {
      model: 'vault/echo',
      messages: [{ role: 'user', content: 'hello' }],
    });
    // The fake did receive it (so the check below could fail).
    expect(stack.fakes.openai.callsFor('echo').at(-1)!.headers.authorization).toBe(`Bearer ${SECOND}`);
    expect(leaked(JSON.stringify(res.body), SECOND)).toBeUndefined();
  }, 60_000);

  it('the values are in no response, no row but their ciphertext, no configuration version, no audit row, no history', async () => {
    const audit = await call(stack.operatorKey, 'GET', '/audit?limit=100');
    const secretAudit = audit.body.data.filter((e: { target: string }) => e.target === NAME);
    expect(secretAudit.map((e: { action: string }) => e.action)).toEqual(['secret.rotate', 'secret.create']);
    const configs = await stack.db.query('select * from config_versions');
    expect(JSON.stringify(configs.rows)).toContain(`"secret":"${NAME}"`);
    const rows = await allRows(stack.db);
    const histories = await Promise.all([...workflows].map(async (id) => (await historyText(stack.env, id)).text));
    expect(histories.length).toBeGreaterThan(3);
    for (const value of [FIRST, SECOND]) {
      for (const text of seen) expect(leaked(text, value)).toBeUndefined();
      expect(leaked(JSON.stringify(configs.rows), value)).toBeUndefined();
      expect(leaked(rows, value)).toBeUndefined();
      for (const h of histories) expect(leaked(h, value)).toBeUndefined();
    }
  }, 60_000);

  it('a secret an instance refers to is not deleted: 409 secret_in_use naming the instance, the key still in use', async () => {
    const refused = await call(stack.operatorKey, 'DELETE', `/admin/secrets/${NAME}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('secret_in_use');
    expect(refused.body.error.message).toContain("'vault'");
    expect(leaked(JSON.stringify(refused.body), SECOND)).toBeUndefined();
    expect(
      (await call(stack.operatorKey, 'GET', '/admin/secrets')).body.data.map((s: { name: string }) => s.name),
    ).toEqual([NAME]);
    expect((await stack.db.query('select name from provider_secrets where name = $1', [NAME])).rows).toHaveLength(1);
    expect(await sentKey()).toBe(`Bearer ${SECOND}`);
    // Two instances naming it: both are named.
    await stack.configStore.update((c) => ({
      ...c,
      catalog: {
        ...c.catalog,
        providers: [
          ...c.catalog.providers,
          { id: 'vault-2', kind: 'openai', baseUrl: stack.fakes.openai.url, apiKey: { secret: NAME } },
        ],
      },
    }));
    const both = await call(stack.operatorKey, 'DELETE', `/admin/secrets/${NAME}`);
    expect(both.status).toBe(409);
    expect(both.body.error.message).toMatch(/'vault', 'vault-2'/);
    // Neither refers to it any more: it can go (the case below).
    await stack.configStore.update((c) => ({
      ...c,
      catalog: {
        ...c.catalog,
        providers: c.catalog.providers
          .filter((p) => p.id !== 'vault-2')
          .map((p) => (p.id === 'vault' ? { ...p, apiKey: { env: 'VAULT_UNSET_API_KEY' } } : p)),
      },
    }));
  }, 60_000);

  it('a deleted secret is gone: 404 the second time, and the calls carry no stored key', async () => {
    expect((await call(stack.operatorKey, 'DELETE', `/admin/secrets/${NAME}`)).status).toBe(200);
    expect((await call(stack.operatorKey, 'DELETE', `/admin/secrets/${NAME}`)).status).toBe(404);
    expect((await call(stack.operatorKey, 'GET', '/admin/secrets')).body.data).toEqual([]);
    await until(10_000, 'calls carrying no stored key', async () => (await sentKey()) !== `Bearer ${SECOND}`);
    expect(await sentKey()).not.toContain(FIRST);
  }, 60_000);

  describe('without a master key', () => {
    let server: http.Server;
    let origin: string;
    beforeAll(async () => {
      // The routes as the API mounts them, in a process started without SWITCHYARD_MASTER_KEY.
      const app = express()
        .use('/v1', requireApiKey(stack.db))
        .use(express.json())
        .use(
          mountRoutes(express.Router(), secretRoutes, { db: stack.db, secrets: new SecretStore(stack.db, undefined) }),
        )
        .use(errorHandler(() => undefined));
      server = await new Promise((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    it('storing answers 503 saying to set SWITCHYARD_MASTER_KEY; a stored reference resolves to no key', async () => {
      const res = await fetch(`${origin}/v1/admin/secrets/${NAME}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ value: FIRST }),
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status).toBe(503);
      expect(body.error.code).toBe('master_key_missing');
      expect(body.error.message).toMatch(/SWITCHYARD_MASTER_KEY is not set/);
      expect(leaked(JSON.stringify(body), FIRST)).toBeUndefined();
      // Names are still listed (they are not encrypted).
      await new SecretStore(stack.db, TEST_MASTER_KEY).put('kept', SECOND);
      const listed = await fetch(`${origin}/v1/admin/secrets`, {
        headers: { authorization: `Bearer ${stack.operatorKey}` },
      });
      expect(((await listed.json()) as { data: Array<{ name: string }> }).data.map((s) => s.name)).toEqual(['kept']);
      // No master key, or another one: the stored reference resolves to no key (and says why, without the value).
      const warnings: string[] = [];
      const logger = { warn: (obj: object, msg: string) => void warnings.push(JSON.stringify(obj) + msg) } as any;
      expect(await new SecretStore(stack.db, undefined, { logger }).get('kept')).toBeUndefined();
      expect(await new SecretStore(stack.db, randomBytes(32), { logger }).get('kept')).toBeUndefined();
      expect(await new SecretStore(stack.db, TEST_MASTER_KEY).get('kept')).toBe(SECOND);
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toMatch(/SWITCHYARD_MASTER_KEY is not set/);
      expect(warnings[1]).toMatch(/another master key/);
      for (const w of warnings) expect(leaked(w, SECOND)).toBeUndefined();
    });
  });
});

const procs = useProcesses({ dataDirPrefix: 'sy-secrets-' });

it('as `npm start` runs, with debug logging: the stored keys reach the provider and appear in no log line', async () => {
  const fake = await startFakeProvider('openai');
  const operator = 'sk-sy-secrets-test-operator-0123456789';
  const refused = 'sk-refused-member-value-4c2e9a71';
  const unrouted = 'sk-unrouted-value-9b3d5e20';
  fake.setDefault('team-model', { kind: 'ok' });
  fake.setDefault('team-echo', { kind: 'error', status: 401, echoKey: true });
  const { stack, ports } = await procs.startOnFreePorts((p) => ({
    PORT: String(p.api),
    TEMPORAL_DEV_PORT: String(p.temporal),
    TEMPORAL_UI: 'false',
    SWITCHYARD_DATA_DIR: procs.dataDir,
    SWITCHYARD_BOOTSTRAP_KEY: operator,
    SWITCHYARD_MASTER_KEY: randomBytes(32).toString('base64'),
    // The provider below is set through the API at 127.0.0.1.
    SWITCHYARD_URL_ALLOWLIST: '127.0.0.1',
    OPENAI_API_KEY: '',
    ANTHROPIC_API_KEY: '',
    LOG_LEVEL: 'debug',
    DATABASE_URL: '',
  }));
  try {
    const base = `http://127.0.0.1:${ports.api}/v1`;
    const send = async (key: string, method: string, p: string, body?: unknown) => {
      const res = await fetch(`${base}${p}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect((await send(operator, 'PUT', '/admin/secrets/team', { value: FIRST })).status).toBe(200);
    const member = (await send(operator, 'POST', '/keys', { name: 'member' })).body.key as string;
    expect((await send(member, 'PUT', '/admin/secrets/team', { value: refused })).status).toBe(403);
    // A method or path no route takes under the prefix: logged on its way to the 404, without the value.
    for (const [method, p] of [
      ['POST', '/admin/secrets/x'],
      ['PATCH', '/admin/secrets/team'],
      ['PUT', '/admin/secrets/a/b'],
    ] as const)
      expect((await send(operator, method, p, { value: unrouted })).status).toBe(404);
    const { config } = (await send(operator, 'GET', '/admin/config')).body;
    config.catalog.providers.push({ id: 'team', kind: 'openai', baseUrl: fake.url, apiKey: { secret: 'team' } });
    for (const model of ['team-model', 'team-echo'])
      config.catalog.models.push({ ...fakeModel('team', model), id: `team/${model}` });
    expect((await send(operator, 'PUT', '/admin/config', config)).status).toBe(200);
    const chat = (model: string) =>
      send(operator, 'POST', '/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }] });
    expect((await chat('team/team-model')).status).toBe(200);
    expect(fake.callsFor('team-model').at(-1)!.headers.authorization).toBe(`Bearer ${FIRST}`);
    await chat('team/team-echo'); // the provider prints the key it refused
    expect(fake.callsFor('team-echo').at(-1)!.headers.authorization).toBe(`Bearer ${FIRST}`);
    expect((await send(operator, 'PUT', '/admin/secrets/team', { value: SECOND })).status).toBe(200);
    await until(15_000, 'the rotated key in use', async () => {
      await chat('team/team-model');
      return fake.callsFor('team-model').at(-1)!.headers.authorization === `Bearer ${SECOND}`;
    });
  } finally {
    expect(await stopStack(stack)).toBe(0);
    await fake.close();
  }
  const output = stack.output();
  expect(output).toContain('"value":"[redacted]"'); // the debug log printed the PUT bodies, without the value
  for (const value of [FIRST, SECOND, refused, unrouted]) expect(leaked(output, value)).toBeUndefined();
}, 180_000);
