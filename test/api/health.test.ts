/**
 * Health endpoints over HTTP: liveness, readiness (database, migrations, Temporal namespace,
 * this process's workers) and the detailed view with each dependency's latency; the old names
 * answer the same. A missing migration makes the process not ready (503), naming it.
 */
import { fakeCatalog, fakeModel, startTestStack, type TestStack } from '../support/stack';

let stack: TestStack;
let root: string;

beforeAll(async () => {
  stack = await startTestStack({ catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'm')]) });
  root = stack.baseURL.replace(/\/v1$/, '');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const get = async (path: string) => {
  const res = await fetch(`${root}${path}`);
  return { status: res.status, body: (await res.json()) as any };
};

it('answers liveness and readiness without a key, under both names', async () => {
  for (const path of ['/health', '/healthz']) expect(await get(path)).toEqual({ status: 200, body: { status: 'ok' } });
  for (const path of ['/health/ready', '/readyz'])
    expect(await get(path)).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: 'ok', migrations: 'ok', temporal: 'ok' } },
    });
});

it('details each dependency with its latency', async () => {
  const { status, body } = await get('/health/detailed');
  expect(status).toBe(200);
  expect(body.checks).toEqual({
    database: { ok: true, latencyMs: expect.any(Number) },
    migrations: { ok: true, latencyMs: expect.any(Number), applied: expect.any(Number) },
    temporal: { ok: true, latencyMs: expect.any(Number), namespace: 'default' },
  });
  expect(body.checks.migrations.applied).toBeGreaterThanOrEqual(8);
});

it('a migration not applied makes the process not ready, naming it', async () => {
  await stack.db.query(`delete from schema_migrations where version = '008_batches'`);
  try {
    const ready = await get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('not_ready');
    expect(ready.body.checks.migrations).toBe('error: not applied: 008_batches');
    expect((await get('/health/detailed')).body.checks.migrations).toMatchObject({ ok: false });
    // Liveness is not readiness: the process still answers.
    expect((await get('/health')).status).toBe(200);
  } finally {
    await stack.db.query(`insert into schema_migrations (version) values ('008_batches')`);
  }
  expect((await get('/health/ready')).status).toBe(200);
});
