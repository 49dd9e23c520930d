/**
 * The console's data endpoints over HTTP (issue 25), against the API alone and stored records:
 * the request list (tenant scoping, filters, keyset paging that returns every row exactly once,
 * ties on created_at included), a request's detail for an operator with its Temporal UI link,
 * the analytics series (bucket arithmetic, top keys and `other`), provider errors (redacted) and
 * the configuration's versions and diff. Every bad query is a 400 naming its field.
 */
import type { Db } from '../../src/db';
import { createApiKey, ensureTenant } from '../../src/db/apiKeys';
import { insertFile } from '../../src/db/batches';
import { configAt, insertConfigIfLatest, latestConfigVersion } from '../../src/db/configVersions';
import { openTestDb } from '../support/db';
import { startOfflineApp, type OfflineApp } from '../support/offlineApp';

let db: Db;
let app: OfflineApp;
const keys: Record<'acme' | 'acmeAdmin' | 'globex' | 'operator', string> = {} as never;

/** 150 requests of acme and 30 of globex, three to each created_at (ties the cursor must break). */
const BASE = '2026-03-02T12:00:00.123456Z';
const KEY_LIKE = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789';

beforeAll(async () => {
  db = await openTestDb('pglite');
  for (const t of ['acme', 'globex', 'ops', 'series']) await ensureTenant(db, t);
  keys.acme = (await createApiKey(db, { tenantId: 'acme', name: 'm', role: 'member' })).key;
  keys.acmeAdmin = (await createApiKey(db, { tenantId: 'acme', name: 'a', role: 'admin' })).key;
  keys.globex = (await createApiKey(db, { tenantId: 'globex', name: 'g', role: 'member' })).key;
  keys.operator = (await createApiKey(db, { tenantId: 'ops', name: 'o', role: 'operator' })).key;
  await db.query(
    `insert into requests (request_id, workflow_id, tenant_id, operation, requested_model, body, body_hash, status,
                           provider, model, input_tokens, output_tokens, cost_usd, latency_ms, created_at, completed_at,
                           end_user, batch_id)
     select 'req-' || t || '-' || lpad(i::text, 4, '0'), 'wf-' || t || '-' || i, t,
            case when i % 3 = 0 then 'summarize' else 'chat' end, 'auto', '{}', 'h',
            case when i % 10 = 0 then 'failed' else 'succeeded' end,
            case when i % 2 = 0 then 'oa' else 'an' end, case when i % 2 = 0 then 'oa/a' else 'an/b' end,
            10, 5, 0.001, 100 + i, $1::timestamptz - (i / 3) * interval '1 second',
            $1::timestamptz - (i / 3) * interval '1 second' + interval '1 second',
            'user-' || (i % 5), case when i <= 4 then 'batch_1' end
       from (select 'acme' as t, generate_series(1, 150) as i
             union all select 'globex', generate_series(1, 30)) s`,
    [BASE],
  );
  // Attempts: a failed call whose provider message quotes a key, and one of globex's.
  await db.query(
    `insert into request_attempts (request_id, candidate_index, attempt, provider, model, outcome, error_type,
                                   error_message, status, started_at, latency_ms)
     values ('req-acme-0010', 0, 1, 'oa', 'oa/a', 'error', 'RateLimited', $1, 429, $2::timestamptz, 50),
            ('req-acme-0010', 1, 1, 'an', 'an/b', 'error', 'ServerError', 'upstream 500', 500, $2::timestamptz + interval '1 ms', 50),
            ('req-globex-0010', 0, 1, 'oa', 'oa/a', 'error', 'Timeout', 'no answer', null, $2::timestamptz - interval '1 s', 50),
            ('req-acme-0001', 0, 1, 'an', 'an/b', 'success', null, null, 200, $2::timestamptz, 50)`,
    [`Incorrect API key provided: ${KEY_LIKE}. You can find your key at https://platform.example`, BASE],
  );
  app = await startOfflineApp(db, db, undefined, {
    temporalUi: { url: 'http://127.0.0.1:8233/', namespace: 'default' },
  });
}, 60_000);

afterAll(async () => {
  await app.stop();
  await db.close();
});

const get = async (path: string, key = keys.acme) => {
  const res = await fetch(`${app.base}/v1${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as any };
};

/** Every page of a listing, following next_cursor. */
async function allPages(path: string, key: string) {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const { status, body }: { status: number; body: any } = await get(
      `${path}${cursor ? `${sep}cursor=${cursor}` : ''}`,
      key,
    );
    expect(status).toBe(200);
    ids.push(...body.data.map((r: any) => r.request_id));
    cursor = body.next_cursor;
    pages++;
  } while (cursor);
  return { ids, pages };
}

describe('GET /v1/requests', () => {
  it('pages a tenant newest first, every row exactly once, ties on created_at included', async () => {
    const { ids, pages } = await allPages('/requests?limit=7', keys.acme);
    expect(pages).toBe(Math.ceil(150 / 7));
    expect(new Set(ids).size).toBe(150);
    expect(ids.every((id) => id.startsWith('req-acme-'))).toBe(true);
    // Newest first: i / 3 seconds before BASE, so the smallest i first; ties by request id, descending.
    expect(ids.slice(0, 4)).toEqual(['req-acme-0002', 'req-acme-0001', 'req-acme-0005', 'req-acme-0004']);
  });

  it('shows a member only its own tenant; another tenant is 404; an operator sees all, or one', async () => {
    const own = await get('/requests?limit=200', keys.globex);
    expect(own.body.data).toHaveLength(30);
    expect(own.body.data.every((r: any) => r.tenant_id === 'globex')).toBe(true);
    expect((await get('/requests?tenant=acme', keys.globex)).status).toBe(404);
    expect((await get('/requests?tenant=acme', keys.acmeAdmin)).status).toBe(200);
    const all = await allPages('/requests?limit=200', keys.operator);
    expect(all.ids).toHaveLength(180);
    const one = await get('/requests?tenant=globex&limit=200', keys.operator);
    expect(one.body.data).toHaveLength(30);
  });

  it('returns the contract fields', async () => {
    const { body } = await get('/requests?limit=1');
    expect(body.object).toBe('list');
    expect(body.data[0]).toEqual({
      request_id: 'req-acme-0002',
      workflow_id: 'wf-acme-2',
      tenant_id: 'acme',
      status: 'succeeded',
      operation: 'chat',
      requested_model: 'auto',
      provider: 'oa',
      model: 'oa/a',
      user: 'user-2',
      batch_id: 'batch_1',
      input_tokens: 10,
      output_tokens: 5,
      cost_usd: 0.001,
      latency_ms: 102,
      cache_hit: false,
      created_at: expect.any(String),
      completed_at: expect.any(String),
    });
  });

  it('filters by model, provider, status, operation, user, batch, window and id prefix', async () => {
    const count = async (qs: string) => (await allPages(`/requests?limit=50&${qs}`, keys.acme)).ids;
    expect(await count('model=oa/a')).toHaveLength(75);
    expect(await count('provider=an')).toHaveLength(75);
    expect(await count('status=failed')).toHaveLength(15);
    expect(await count('operation=summarize')).toHaveLength(50);
    const user = await count('user=user-3');
    expect(user).toHaveLength(30);
    expect(await count('user=user-3&status=failed')).toHaveLength(0); // i % 5 = 3 is never i % 10 = 0
    expect(await count('batch=batch_1')).toEqual(['req-acme-0002', 'req-acme-0001', 'req-acme-0004', 'req-acme-0003']);
    // [BASE - 10 s, BASE - 5 s): i / 3 in 6..10, i in 18..32.
    const t = (s: number) => encodeURIComponent(new Date(Date.parse(BASE) - s * 1000).toISOString());
    expect(await count(`from=${t(10.5)}&to=${t(5.5)}`)).toHaveLength(15);
    expect(await count('q=req-acme-001')).toHaveLength(10);
    expect(await count('q=wf-acme-14')).toHaveLength(11); // 14, 140..149
    expect(await count('q=req_acme')).toHaveLength(0); // `_` is no wildcard
  });

  it('refuses bad queries with the field named', async () => {
    for (const [qs, param] of [
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['status=done', 'status'],
      ['from=yesterday', 'from'],
      ['cursor=!!', 'cursor'],
      [`cursor=${Buffer.from('nonsense').toString('base64url')}`, 'cursor'],
      ['colour=red', 'colour'],
    ] as Array<[string, string]>) {
      const { status, body } = await get(`/requests?${qs}`);
      expect([qs, status, body.error.param]).toEqual([qs, 400, param]);
    }
  });
});

describe('GET /v1/requests/:id', () => {
  it("lets an operator read any tenant's request, with its Temporal UI link; others' stay 404", async () => {
    const asOperator = await get('/requests/req-globex-0010', keys.operator);
    expect(asOperator.status).toBe(200);
    expect(asOperator.body).toMatchObject({
      request_id: 'req-globex-0010',
      tenant_id: 'globex',
      status: 'failed',
      user: 'user-0',
      links: { temporal_ui: 'http://127.0.0.1:8233/namespaces/default/workflows/wf-globex-10' },
    });
    expect(asOperator.body.attempts).toHaveLength(1);
    expect((await get('/requests/req-globex-0010', keys.acme)).status).toBe(404);
    expect((await get('/requests/req-globex-0010', keys.acmeAdmin)).status).toBe(404);
    expect((await get('/requests/req-globex-0010', keys.globex)).status).toBe(200);
  });
});

describe('GET /v1/providers/errors', () => {
  it('lists the last failed calls newest first, for operators only, with key-like text redacted', async () => {
    const { status, body } = await get('/providers/errors', keys.operator);
    expect(status).toBe(200);
    expect(body.data.map((e: any) => [e.request_id, e.error_type, e.tenant_id])).toEqual([
      ['req-acme-0010', 'ServerError', 'acme'],
      ['req-acme-0010', 'RateLimited', 'acme'],
      ['req-globex-0010', 'Timeout', 'globex'],
    ]);
    const limited = body.data[1];
    expect(limited).toMatchObject({ provider: 'oa', model: 'oa/a', status: 429 });
    expect(limited.message).toContain('Incorrect API key provided');
    expect(JSON.stringify(body)).not.toContain('abcdefghijklmnopqrstuvwxyz');
    const filtered = await get('/providers/errors?provider=oa&limit=1', keys.operator);
    expect(filtered.body.data.map((e: any) => e.error_type)).toEqual(['RateLimited']);
    expect((await get('/providers/errors?model=an/b', keys.operator)).body.data).toHaveLength(1);
    expect((await get('/providers/errors', keys.acmeAdmin)).status).toBe(403);
    const bad = await get('/providers/errors?limit=101', keys.operator);
    expect([bad.status, bad.body.error.param]).toEqual([400, 'limit']);
  });
});

describe('GET /v1/analytics/series', () => {
  const T0 = Date.parse('2026-01-01T10:00:00Z');
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();

  beforeAll(async () => {
    // Five requests at known times and latencies, and 55 over ten models (10, 9, … 1 requests) an hour later.
    const rows: Array<[number, number, string, string]> = [
      [10, 100, 'm1', 'succeeded'],
      [50, 300, 'm1', 'failed'],
      [90, 500, 'm2', 'succeeded'],
      [3599, 700, 'm2', 'succeeded'],
      [3600, 900, 'm3', 'succeeded'],
    ];
    for (let m = 1; m <= 10; m++)
      for (let j = 0; j < 11 - m; j++) rows.push([7200 + j, 1000, `k${String(m).padStart(2, '0')}`, 'succeeded']);
    await db.query(
      `insert into requests (request_id, workflow_id, tenant_id, operation, requested_model, body, body_hash, status,
                             provider, model, input_tokens, output_tokens, cost_usd, latency_ms, created_at, completed_at)
       select 's-' || n, 'wf-s-' || n, 'series', 'chat', 'auto', '{}', 'h', x.status, 'p', x.model, 1, 2, 0.5,
              x.latency, x.at, x.at
         from jsonb_to_recordset($1::jsonb) as x(n int, at timestamptz, latency int, model text, status text)`,
      [JSON.stringify(rows.map(([s, latency, model, status], n) => ({ n, at: at(s), latency, model, status })))],
    );
    // s-0 fell back (as completeRequest records it when two candidates were tried).
    await db.query(`update requests set fell_back = true where request_id = 's-0'`);
  });

  const series = (qs: string, key = keys.operator) => get(`/analytics/series?tenant=series&${qs}`, key);

  it('buckets by minute: each request in the UTC minute it started in, with its counts and percentiles', async () => {
    const { status, body } = await series(`from=${at(0)}&to=${at(3630)}&bucket=minute`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ object: 'analytics.series', bucket: 'minute', by: null, from: at(0), to: at(3630) });
    expect(body.data.map((r: any) => [r.t, r.requests])).toEqual([
      [at(0), 2],
      [at(60), 1],
      [at(3540), 1],
      [at(3600), 1],
    ]);
    expect(body.data[0]).toMatchObject({
      key: null,
      succeeded: 1,
      failed: 1,
      error_rate: 0.5,
      input_tokens: 2,
      output_tokens: 4,
      cost_usd: 1,
      latency_ms: { p50: 200, p95: 290, p99: 298 },
      fallback_rate: 0.5,
      cache_hit_rate: 0,
    });
  });

  it('buckets by hour, and bucket=auto picks the finest bucket with at most 120 buckets', async () => {
    const hour = await series(`from=${at(0)}&to=${at(3630)}&bucket=hour`);
    expect(hour.body.data.map((r: any) => [r.t, r.requests])).toEqual([
      [at(0), 4],
      [at(3600), 1],
    ]);
    expect((await series(`from=${at(0)}&to=${at(3630)}`)).body.bucket).toBe('minute'); // 61 minutes
    expect((await series(`from=${at(0)}&to=${at(3 * 3600)}`)).body.bucket).toBe('hour'); // 180 minutes
    expect((await series(`from=${at(0)}&to=${at(10 * 86400)}`)).body.bucket).toBe('day'); // 240 hours
  });

  it('with by, keeps the top 8 keys and sums the rest under other', async () => {
    const { body } = await series(`from=${at(7200)}&to=${at(7260)}&bucket=minute&by=model`);
    expect(body.by).toBe('model');
    const byKey = Object.fromEntries(body.data.map((r: any) => [r.key, r.requests]));
    expect(byKey).toEqual({ k01: 10, k02: 9, k03: 8, k04: 7, k05: 6, k06: 5, k07: 4, k08: 3, other: 3 });
  });

  it('with totals, adds each bucket over every key and the whole window, as /v1/analytics counts them', async () => {
    const span = `from=${at(0)}&to=${at(3630)}`;
    const { body } = await series(`${span}&bucket=minute&by=model&totals=true`);
    // Each bucket's total is its keys' sum; its percentiles are over its requests (not an average).
    expect(body.totals.series.map((r: any) => [r.t, r.requests])).toEqual([
      [at(0), 2],
      [at(60), 1],
      [at(3540), 1],
      [at(3600), 1],
    ]);
    expect(body.totals.series[0]).toMatchObject({ failed: 1, latency_ms: { p50: 200, p95: 290, p99: 298 } });
    expect(body.totals.series[0].key).toBeUndefined();
    expect(body.data.map((r: any) => [r.t, r.key, r.requests])).toEqual([
      [at(0), 'm1', 2],
      [at(60), 'm2', 1],
      [at(3540), 'm2', 1],
      [at(3600), 'm3', 1],
    ]);
    const whole = (await get(`/analytics?tenant=series&${span}&group_by=none`, keys.operator)).body.data[0];
    expect(body.totals.window).toMatchObject({
      requests: 5,
      failed: 1,
      cost_usd: whole.cost_usd,
      latency_ms: whole.latency_ms,
      fallback_rate: whole.fallback_rate,
    });
    expect(body.totals.window.latency_ms.p50).toBe(500);
    // A window with no request still has its (empty) total; without totals there is none.
    const empty = await series(`from=${at(-7200)}&to=${at(-3600)}&by=model&totals=true`);
    expect(empty.body.data).toEqual([]);
    expect(empty.body.totals.window).toMatchObject({ requests: 0, latency_ms: { p50: null } });
    expect((await series(`${span}&by=model`)).body.totals).toBeUndefined();
  });

  it('scopes to the tenant: a member sees its own only, another tenant is 404', async () => {
    expect((await series('', keys.acme)).status).toBe(404);
    const own = await get(`/analytics/series?from=${at(0)}&to=${at(3630)}`, keys.acme);
    expect(own.status).toBe(200);
    expect(own.body.data).toEqual([]);
  });

  it('refuses bad queries with the field named', async () => {
    for (const [qs, param] of [
      ['bucket=week', 'bucket'],
      ['by=colour', 'by'],
      ['from=2026-13-01', 'from'],
      [`from=${at(10)}&to=${at(0)}`, 'from'],
      [`from=${at(0)}&to=${at(30 * 86400)}&bucket=minute`, 'bucket'],
    ] as Array<[string, string]>) {
      const { status, body } = await series(qs);
      expect([qs, status, body.error?.param]).toEqual([qs, 400, param]);
    }
  });

  it('adds operation to /v1/analytics group_by', async () => {
    const { status, body } = await get(`/analytics?group_by=operation&from=2026-03-01&to=2026-03-03`);
    expect(status).toBe(200);
    expect(Object.fromEntries(body.data.map((r: any) => [r.operation, r.requests]))).toEqual({
      chat: 100,
      summarize: 50,
    });
  });
});

describe('configuration versions', () => {
  beforeAll(async () => {
    const latest = (await latestConfigVersion(db))!;
    const current = (await configAt(db, latest))!.config as Record<string, any>;
    const changed = { ...current, routing: { ...current.routing, defaultStrategy: 'cost' } };
    expect(await insertConfigIfLatest(db, changed, 'import', undefined, latest)).toBe(latest + 1);
  });

  it('lists versions newest first, pages with before, reads one and diffs two (operators only)', async () => {
    const { status, body } = await get('/admin/config/versions', keys.operator);
    expect(status).toBe(200);
    const versions = body.data.map((v: any) => v.version);
    expect(versions.length).toBeGreaterThanOrEqual(2);
    expect(versions).toEqual([...versions].sort((a, b) => b - a));
    expect(body.data[0]).toEqual({ version: versions[0], source: 'import', created_at: expect.any(String) });
    const [newest, previous] = versions as [number, number];
    const paged = await get(`/admin/config/versions?before=${newest}&limit=1`, keys.operator);
    expect(paged.body.data.map((v: any) => v.version)).toEqual([previous]);

    const one = await get(`/admin/config/versions/${newest}`, keys.operator);
    expect(one.body).toMatchObject({ version: newest, source: 'import' });
    expect(one.body.config.routing.defaultStrategy).toBe('cost');

    const diff = await get(`/admin/config/diff?from=${previous}&to=${newest}`, keys.operator);
    expect(diff.status).toBe(200);
    expect(diff.body).toMatchObject({ from: previous, to: newest });
    expect(diff.body.diff).toContain(`--- config@v${previous}.yaml`);
    expect(diff.body.diff).toMatch(/^\+ {2}defaultStrategy: cost$/m);
    expect(diff.body.diff.split('\n').filter((l: string) => /^[+-] /.test(l))).toHaveLength(2);
  });

  it('answers 404 for an unknown version, 400 for a malformed one, 403 to a non-operator', async () => {
    const missing = await get('/admin/config/versions/9999', keys.operator);
    expect([missing.status, missing.body.error.param]).toEqual([404, 'id']);
    const diff = await get('/admin/config/diff?from=1&to=9999', keys.operator);
    expect([diff.status, diff.body.error.param]).toEqual([404, 'to']);
    const bad = await get('/admin/config/diff?from=x&to=1', keys.operator);
    expect([bad.status, bad.body.error.param]).toEqual([400, 'from']);
    expect((await get('/admin/config/versions/abc', keys.operator)).status).toBe(400);
    expect((await get('/admin/config/versions', keys.acmeAdmin)).status).toBe(403);
  });
});

describe('batches', () => {
  beforeAll(async () => {
    // 7 summarize and 5 OpenAI batches of acme, 3 of globex, created in pairs at the same instant.
    await db.query(
      `insert into batches (id, tenant_id, kind, status, status_reason, options, total, workflow_id, input_file_id,
                            created_at, started_at)
       select 'b_' || t || '_' || lpad(i::text, 2, '0'), t, k, 'completed', null, '{"model":"auto","concurrency":1}', 1,
              'batch-' || i, case when k = 'openai' then 'file_x' end, $1::timestamptz - (i / 2) * interval '1 minute', null
         from (select 'acme' as t, 'summarize' as k, generate_series(1, 7) as i
               union all select 'acme', 'openai', generate_series(8, 12)
               union all select 'globex', 'openai', generate_series(13, 15)) s`,
      [BASE],
    );
    // One waiting for its budget: started two minutes ago, 4 done and 1 failed of 10, 0.003 USD spent.
    await db.query(
      `update batches set status = 'waiting', status_reason = 'budget exhausted (tenant day)', total = 10,
              started_at = now() - interval '2 minutes' where id = 'b_acme_09'`,
    );
    await db.query(
      `insert into batch_items (batch_id, seq, item_id, input)
       select 'b_acme_09', i, 'item' || i, '{}' from generate_series(1, 10) i`,
    );
    await db.query(
      `insert into batch_results (batch_id, item_id, ok) select 'b_acme_09', 'item' || i, i <= 4 from generate_series(1, 5) i`,
    );
    await db.query(
      `update requests set batch_id = 'b_acme_09' where request_id in ('req-acme-0021', 'req-acme-0022', 'req-acme-0023')`,
    );
  });

  const pagesOf = async (path: string, key: string) => {
    const ids: string[] = [];
    let after: string | undefined;
    for (;;) {
      const { status, body } = await get(
        `${path}${path.includes('?') ? '&' : '?'}limit=2${after ? `&after=${after}` : ''}`,
        key,
      );
      expect(status).toBe(200);
      ids.push(...body.data.map((b: any) => b.id));
      if (!body.has_more) return { ids, body };
      after = body.data.at(-1).id;
    }
  };

  it("lists a tenant's batches of a kind, every one once across pages; an operator every tenant's", async () => {
    const own = await pagesOf('/operations/summarize/batches', keys.acme);
    expect(own.ids).toEqual([
      'b_acme_01',
      'b_acme_03',
      'b_acme_02',
      'b_acme_05',
      'b_acme_04',
      'b_acme_07',
      'b_acme_06',
    ]);
    const openai = await pagesOf('/batches', keys.acme);
    expect(openai.ids).toEqual(['b_acme_09', 'b_acme_08', 'b_acme_11', 'b_acme_10', 'b_acme_12']);
    const all = await pagesOf('/batches?kind=all', keys.operator);
    expect(all.ids).toHaveLength(15);
    expect(new Set(all.ids).size).toBe(15);
    const globex = await pagesOf('/batches?kind=all&tenant=globex', keys.operator);
    expect(globex.ids).toEqual(['b_globex_13', 'b_globex_15', 'b_globex_14']);
    expect((await get('/batches?tenant=acme', keys.globex)).status).toBe(404);
    expect((await get('/batches?kind=some', keys.globex)).body.error.param).toBe('kind');
    // A page after another tenant's batch reads as after an unknown one: empty.
    expect((await get('/batches?after=b_globex_13', keys.acme)).body.data).toEqual([]);
  });

  it('shows progress, rate, time left, cost so far and why it waits, in both shapes', async () => {
    const { body } = await get('/batches/b_acme_09');
    expect(body).toMatchObject({
      object: 'batch',
      status: 'in_progress',
      progress: { total: 10, completed: 4, failed: 1 },
      waiting_reason: 'budget exhausted (tenant day)',
      tenant_id: 'acme',
      cost_usd: 0.003,
    });
    expect(body.rate_per_minute).toBeGreaterThan(2.4);
    expect(body.rate_per_minute).toBeLessThanOrEqual(2.5);
    expect(body.eta_seconds).toBeGreaterThanOrEqual(120);
    expect(body.eta_seconds).toBeLessThan(130);
    const done = (await get('/operations/summarize/batches/b_acme_01')).body;
    expect(done).toMatchObject({ progress: { total: 1, completed: 0, failed: 0 }, rate_per_minute: null });
    expect(done.eta_seconds).toBeNull();
    expect(done.waiting_reason).toBeNull();
  });

  it("lets an operator read any tenant's batch, its results and its files; a member not another's", async () => {
    expect((await get('/batches/b_globex_13', keys.operator)).status).toBe(200);
    expect((await get('/batches/b_globex_13', keys.acme)).status).toBe(404);
    expect((await get('/batches/b_globex_13', keys.globex)).status).toBe(200);
    // The console downloads results from any tenant's batch for an operator, from its own for others.
    const results = (key: string) =>
      fetch(`${app.base}/v1/operations/summarize/batches/b_acme_01/results`, {
        headers: { authorization: `Bearer ${key}` },
      }).then((r) => r.status);
    expect(await results(keys.operator)).toBe(200);
    expect(await results(keys.acme)).toBe(200);
    expect(await results(keys.globex)).toBe(404);
    await insertFile(db, {
      id: 'file_globex_out',
      tenant_id: 'globex',
      purpose: 'batch_output',
      filename: 'out.jsonl',
      bytes: 0,
      source: 'batch_output',
    });
    expect((await get('/files/file_globex_out', keys.operator)).status).toBe(200);
    expect((await get('/files/file_globex_out', keys.globex)).status).toBe(200);
    expect((await get('/files/file_globex_out', keys.acme)).status).toBe(404);
  });
});
