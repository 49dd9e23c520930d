/**
 * The console's sign-in over real HTTP: a key becomes an HttpOnly, SameSite=Strict session
 * cookie; the session acts as its key on /v1 (same tenant and role) only with its CSRF header;
 * it ends when its key is revoked or when it signs out; a wrong key gets 401; the pages are served
 * with a content security policy that allows nothing from elsewhere.
 */
import { createApiKey, ensureTenant, revokeApiKey } from '../../src/db/apiKeys';
import type { Db } from '../../src/db';
import { openTestDb, uniqueId } from '../support/db';
import pino from 'pino';
import { startOfflineApp, type OfflineApp } from '../support/offlineApp';

let db: Db;
let app: OfflineApp;
let tenant: string;
let adminKey: string;
let adminKeyId: string;

beforeAll(async () => {
  db = await openTestDb();
  app = await startOfflineApp(db);
  tenant = uniqueId('console');
  await ensureTenant(db, tenant);
  const created = await createApiKey(db, { tenantId: tenant, name: 'console admin', role: 'admin' });
  adminKey = created.key;
  adminKeyId = created.row.id;
}, 60_000);
afterAll(async () => {
  await app.stop();
  await db.close();
});

async function signIn(key: string) {
  const res = await fetch(`${app.base}/console/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key }),
  });
  return { res, body: (await res.json()) as any, cookie: res.headers.get('set-cookie') };
}

const withSession = (cookie: string, csrf?: string) => ({
  cookie: cookie.split(';')[0]!,
  ...(csrf !== undefined && { 'x-switchyard-csrf': csrf }),
});

describe('console sessions', () => {
  it('trades a key for an HttpOnly SameSite=Strict cookie that acts as the key with its CSRF header', async () => {
    const { res, body, cookie } = await signIn(adminKey);
    expect(res.status).toBe(201);
    expect(body).toMatchObject({ signed_in: true, tenant_id: tenant, role: 'admin', key_id: adminKeyId });
    expect(typeof body.csrf_token).toBe('string');
    expect(cookie).toMatch(/^sy_console=[A-Za-z0-9_-]{40,};/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).not.toContain(adminKey);
    expect(JSON.stringify(body)).not.toContain(adminKey);

    // With the header: the admin's own keys, as with the key itself.
    const ok = await fetch(`${app.base}/v1/keys`, { headers: withSession(cookie!, body.csrf_token) });
    expect(ok.status).toBe(200);
    const keys = (await ok.json()) as any;
    expect(keys.data.map((k: any) => k.id)).toContain(adminKeyId);
    // Without it, or with another token: refused, even for a read.
    const bare = await fetch(`${app.base}/v1/keys`, { headers: withSession(cookie!) });
    expect(bare.status).toBe(403);
    expect(((await bare.json()) as any).error.code).toBe('csrf_token_mismatch');
    const wrong = await fetch(`${app.base}/v1/keys`, { headers: withSession(cookie!, 'x'.repeat(32)) });
    expect(wrong.status).toBe(403);
    // The session's role is the key's: an admin is not an operator.
    const config = await fetch(`${app.base}/v1/admin/config`, { headers: withSession(cookie!, body.csrf_token) });
    expect(config.status).toBe(403);

    const who = await fetch(`${app.base}/console/session`, { headers: withSession(cookie!) });
    expect(who.status).toBe(200);
    expect(await who.json()).toMatchObject({ signed_in: true, csrf_token: body.csrf_token, role: 'admin' });
  });

  it('refuses a wrong key with 401 and a malformed sign-in with 400', async () => {
    const wrong = await signIn('sk-sy-not-a-key-at-all-0000000000');
    expect(wrong.res.status).toBe(401);
    expect(wrong.cookie).toBeNull();
    const bad = await fetch(`${app.base}/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 42 }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.param).toBe('key');
  });

  it('ends with its key: a revoked key ends its sessions', async () => {
    const other = await createApiKey(db, { tenantId: tenant, name: 'short-lived', role: 'member' });
    const { body, cookie } = await signIn(other.key);
    const headers = withSession(cookie!, body.csrf_token);
    expect((await fetch(`${app.base}/v1/budgets`, { headers })).status).toBe(200);
    await revokeApiKey(db, other.row.id, undefined);
    // Keys and sessions are remembered for a second per process: wait for the refusal.
    let status = 0;
    for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      status = (await fetch(`${app.base}/v1/budgets`, { headers })).status;
      if (status === 401) break;
    }
    expect(status).toBe(401);
    expect(await (await fetch(`${app.base}/console/session`, { headers })).json()).toEqual({
      object: 'console.session',
      signed_in: false,
    });
  });

  it('signs out (with the CSRF header only) and the cookie stops working', async () => {
    const { body, cookie } = await signIn(adminKey);
    const noHeader = await fetch(`${app.base}/console/session`, { method: 'DELETE', headers: withSession(cookie!) });
    expect(noHeader.status).toBe(403);
    const out = await fetch(`${app.base}/console/session`, {
      method: 'DELETE',
      headers: withSession(cookie!, body.csrf_token),
    });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/sy_console=;/);
    const after = await fetch(`${app.base}/console/session`, { headers: withSession(cookie!) });
    expect([after.status, ((await after.json()) as any).signed_in]).toEqual([200, false]);
  });

  it('keeps the key and the session id out of the logs, even at debug level', async () => {
    const lines: string[] = [];
    const logged = await startOfflineApp(
      db,
      db,
      pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }),
    );
    try {
      const res = await fetch(`${logged.base}/console/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: adminKey }),
      });
      expect(res.status).toBe(201);
      const { csrf_token } = (await res.json()) as any;
      const cookie = res.headers.get('set-cookie')!;
      const id = cookie.split(';')[0]!.split('=')[1]!;
      const keys = await fetch(`${logged.base}/v1/keys`, { headers: withSession(cookie, csrf_token) });
      expect(keys.status).toBe(200);
      // A refused sign-in with a near-miss key is not logged either.
      await fetch(`${logged.base}/console/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: `${adminKey}x` }),
      });
      // The request line is written when the response finishes: wait for it.
      for (const end = Date.now() + 5_000; !lines.some((l) => l.includes('"path":"/v1/keys"')) && Date.now() < end;)
        await new Promise((r) => setTimeout(r, 20));
      const all = lines.join('');
      expect(all).toContain('"path":"/console/session"');
      expect(all).not.toContain(adminKey);
      expect(all).not.toContain(id);
      expect(all).not.toContain(csrf_token);
    } finally {
      await logged.stop();
    }
  });

  it('serves the pages and Chart.js itself, under a policy that loads nothing from elsewhere', async () => {
    const page = await fetch(`${app.base}/console`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('/console/assets/app.js');
    expect(html).not.toMatch(/https?:\/\//);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const chartJs = await fetch(`${app.base}/console/assets/vendor/chart.umd.js`);
    expect(chartJs.status).toBe(200);
    expect(await chartJs.text()).toContain('Chart');
    const app_ = await fetch(`${app.base}/console/assets/app.js`);
    expect(app_.status).toBe(200);
    expect(app_.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${app.base}/console/assets/nope.js`)).status).toBe(404);
    // The console's headers stay on the console: the API keeps its own.
    expect((await fetch(`${app.base}/openapi.json`)).headers.get('content-security-policy')).toBeNull();
  });
});
