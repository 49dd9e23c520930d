/**
 * Issue 28: "N processes allow N times the limit" is what an attacker uses first. Two API apps
 * (createApp twice: each its own Limits and its own Redis connection, as two API processes have)
 * share one database, one Temporal and the Redis at REDIS_URL (127.0.0.1:6379 here), and requests
 * alternate between them over real HTTP:
 *  - requestsPerMinute 5: 10 requests of one key get at most 5 answers, the rest 429;
 *  - maxConcurrent 2: with one request in flight on each app, a third on either gets 429;
 *  - a process that crashes holding slots leaks them for one lease, not forever;
 *  - Redis unavailable: the API keeps answering (no 500), its limits counted per process.
 */
import { spawn } from 'node:child_process';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { createApp } from '../../src/api/app';
import { CatalogSchema } from '../../src/domain/catalog';
import { RedisLimitStore, type LimitStore } from '../../src/services/limitStore';
import { dbKinds, type DbKind } from '../support/db';
import { freePort } from '../support/process';
import { fakeCatalogProviders, fakeModel, testRedisUrl, useTestStack } from '../support/stack';

interface Api {
  url: string;
  close(): Promise<void>;
}

describe.each(dbKinds())('request limits across API processes (%s)', (kind: DbKind) => {
  const apis: Api[] = [];
  const stopping = new AbortController();
  // Declared before the stack's: the other apps' requests stop waiting before its connection closes.
  afterAll(() => stopping.abort());
  const stack = useTestStack(
    {
      db: kind,
      catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
    },
    { timeout: 120_000 },
  );

  /** Another API process in effect: its own app, Limits and Redis connection; the same database and Temporal. */
  async function startApi(limitStore: LimitStore): Promise<Api> {
    const app = createApp({
      db: stack.db,
      client: stack.env.client,
      taskQueue: stack.taskQueue,
      requestTimeoutMs: 60_000,
      stopping: stopping.signal,
      configStore: stack.configStore,
      logger: pino({ level: 'silent' }),
      limitStore,
    });
    const server = await new Promise<http.Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const api = {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
      async close() {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
        await limitStore.close();
      },
    };
    apis.push(api);
    return api;
  }
  const redisStore = async (url = testRedisUrl(), leaseMs?: number) => {
    const store = new RedisLimitStore(url, { leaseMs });
    await store.connect();
    return store;
  };

  afterEach(async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'ok' });
    expect((await setLimits({})).status).toBe(200);
    for (const api of apis.splice(0)) await api.close();
  });

  const setLimits = (limits: object) =>
    fetch(`${stack.baseURL}/admin/tenants/${stack.tenantId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ limits }),
    });
  const models = (api: Api) => fetch(`${api.url}/models`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
  const chat = async (api: Api, content: string) => {
    const res = await fetch(`${api.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }),
    });
    return { status: res.status, body: (await res.json()) as { error?: { code?: string } } };
  };
  const hold = () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    stack.fakes.openai.reset();
    stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'held', waitFor: held });
    return release;
  };
  async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000) {
    for (const end = Date.now() + ms; !(await cond());) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('requestsPerMinute 5: 10 requests alternating between two processes get at most 5 answers', async () => {
    const [a, b] = [await startApi(await redisStore()), await startApi(await redisStore())];
    expect((await setLimits({ requestsPerMinute: 5 })).status).toBe(200);
    const results: Array<{ via: string; status: number; code?: string; retryAfter: string | null }> = [];
    for (let i = 0; i < 10; i++) {
      const [via, api] = i % 2 === 0 ? ['a', a] : ['b', b];
      const res = await models(api);
      const body = (await res.json()) as { error?: { code?: string } };
      results.push({ via, status: res.status, code: body.error?.code, retryAfter: res.headers.get('retry-after') });
    }
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(5);
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect(r).toMatchObject({ status: 429, code: 'key_rate_limited' });
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(r.retryAfter)).toBeLessThanOrEqual(60);
    }
    // Each process refused some: the count is one across both.
    expect(new Set(results.filter((r) => r.status === 429).map((r) => r.via))).toEqual(new Set(['a', 'b']));
  });

  it('maxConcurrent 2: one request in flight on each process, a third on either gets 429 until one ends', async () => {
    const [a, b] = [await startApi(await redisStore()), await startApi(await redisStore())];
    expect((await setLimits({ maxConcurrent: 2 })).status).toBe(200);
    const release = hold();
    const first = [chat(a, 'one'), chat(b, 'two')];
    await until('both calls at the provider', () => stack.fakes.openai.callsFor('primary').length === 2);
    for (const api of [a, b]) {
      const third = await chat(api, 'three');
      expect(third.status).toBe(429);
      expect(third.body.error?.code).toBe('tenant_concurrency');
    }
    release();
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200]);
    // Both slots are free again, whichever process took them.
    stack.fakes.openai.setDefault('primary', { kind: 'ok' });
    expect((await Promise.all([chat(b, 'four'), chat(a, 'five')])).map((r) => r.status)).toEqual([200, 200]);
  });

  it('a process that crashes holding slots leaks them for one lease, not forever', async () => {
    const a = await startApi(await redisStore());
    expect((await setLimits({ maxConcurrent: 2 })).status).toBe(200);
    // A real process takes both of the tenant's slots (as two requests in flight would) and is killed.
    // Its own spawn: a script holding Redis slots, not a Switchyard (what useProcesses runs).
    const leaseMs = 3_000;
    const crashed = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { RedisLimitStore } = require(${JSON.stringify(path.resolve(__dirname, '../../src/services/limitStore'))});
         (async () => {
           const store = new RedisLimitStore(${JSON.stringify(testRedisUrl())}, { leaseMs: ${leaseMs} });
           await store.connect();
           for (let i = 0; i < 2; i++) if (!(await store.acquire(${JSON.stringify(`tenant:${stack.tenantId}`)}, 2))) process.exit(3);
           process.stdout.write('held\\n');
         })();`,
      ],
      { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    crashed.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => crashed.once('exit', r));
    await until(
      'the other process holding both slots',
      () => out.includes('held') || crashed.exitCode !== null,
      60_000,
    );
    expect(out).toContain('held');
    crashed.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();

    expect((await chat(a, 'refused')).status).toBe(429); // its slots outlive it…
    // …for one lease: then the tenant's requests are served again (a generous margin: a busy machine).
    let status = 0;
    await until('a slot freed by the lease expiring', async () => (status = (await chat(a, 'again')).status) === 200);
    expect(status).toBe(200);
    expect(Date.now() - killedAt).toBeLessThan(leaseMs + 10_000);
  }, 120_000);

  it('Redis unavailable: requests are still answered, the limits counted per process (fail open to local counts)', async () => {
    const closedPort = await freePort(); // nothing listens there
    const a = await startApi(await redisStore(`redis://127.0.0.1:${closedPort}`));
    expect((await setLimits({ requestsPerMinute: 5, maxConcurrent: 2 })).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await models(a)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
  });
});
