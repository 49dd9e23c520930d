/**
 * The operator console's endpoints at 100,000 stored requests: seeds a fresh database in SQL
 * (generate_series: requests over 7 days, ~1.3 attempts each, a few failed, several tenants,
 * providers, models, operations, end users and batches; audit entries; configuration versions),
 * then times each endpoint the console calls over real HTTP against the app (20 calls each) and
 * prints p50 / p95 / max and whether each stays under 1 s.
 *
 *   npm run bench:console                     (PGlite, in a temporary directory)
 *   DATABASE_URL=postgres://… npm run bench:console
 *                                             (PostgreSQL: a fresh database sy_bench_console_<pid>
 *                                              is created on that server and dropped after)
 *   REQUESTS=20000 npm run bench:console      (fewer rows)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../src/db';
import { createApiKey, ensureTenant } from '../src/db/apiKeys';
import { configAt, insertConfigIfLatest, latestConfigVersion } from '../src/db/configVersions';
import { migrate } from '../src/db/migrate';
import { chromium } from 'playwright-core';
import { startOfflineApp } from '../test/support/offlineApp';

const REQUESTS = Number(process.env.REQUESTS ?? 100_000);
const CALLS = 20;
const TENANTS = ['t1', 't2', 't3', 't4', 't5'];

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** A fresh database: a new PostgreSQL database on DATABASE_URL's server, or PGlite in a temporary folder. */
async function freshDb(): Promise<{ db: Db; label: string; drop: () => Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-console-'));
    const db = await openDb({ pgliteDir: dir });
    return {
      db,
      label: 'PGlite',
      drop: async () => {
        await db.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `sy_bench_console_${process.pid}`;
  const admin = await openDb({ databaseUrl: base });
  await admin.exec(`create database ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  const db = await openDb({ databaseUrl: url.toString() });
  const version = (await db.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]!.v;
  return {
    db,
    label: `PostgreSQL ${version}`,
    drop: async () => {
      await db.close();
      await admin.exec(`drop database ${name}`);
      await admin.close();
    },
  };
}

/** The rows, in SQL: a few statements whatever REQUESTS is. */
export async function seed(db: Db): Promise<void> {
  for (const t of [...TENANTS, 'ops']) await ensureTenant(db, t);
  await db.query(
    `insert into requests (request_id, workflow_id, tenant_id, operation, requested_model, body, body_hash, status,
                           provider, model, input_tokens, output_tokens, cost_usd, latency_ms, created_at, completed_at,
                           cache_hit, end_user, batch_id, decision)
     select 'req_' || md5(i::text), 'route-' || md5(i::text), 't' || (1 + i % 5),
            (array['chat', 'chat', 'chat', 'summarize', 'classify', 'extract', 'embed'])[1 + i % 7],
            case when i % 4 = 0 then 'auto' else p.provider || '/' || p.model end,
            jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user',
              'content', repeat('lorem ipsum ', 20) || i))),
            md5(i::text),
            case when i % 1000 = 0 then 'running' when i % 50 = 0 then 'failed' else 'succeeded' end,
            p.provider, p.provider || '/' || p.model,
            200 + i % 800, 50 + i % 400, (200 + i % 800) * 0.000002, 150 + (i * 7919) % 4000,
            c.at, c.at + (150 + (i * 7919) % 4000) * interval '1 ms',
            i % 20 = 0, 'user-' || (i % 500), case when i % 10 = 0 then 'batch_' || (i % 200) end,
            jsonb_build_object('strategy', 'quality', 'notes', jsonb_build_array('picked by quality'))
       from generate_series(1, $1::int) i,
            lateral (select (array['openai', 'anthropic', 'google', 'bedrock', 'groq'])[1 + (i / 3) % 5] as provider,
                            'model-' || (i % 4) as model) p,
            lateral (select now() - (i::float8 / $1::int) * interval '7 days' as at) c`,
    [REQUESTS],
  );
  // The first attempt of each; a second for 3 in 10 (a retry, or a fallback after an error).
  await db.query(
    `insert into request_attempts (request_id, candidate_index, attempt, provider, model, outcome, error_type,
                                   error_message, status, started_at, latency_ms, input_tokens, output_tokens, cost_usd)
     select r.request_id, 0, 1, r.provider, r.model,
            case when n % 10 < 3 or r.status = 'failed' then 'error' else 'success' end,
            case when n % 10 < 3 or r.status = 'failed' then (array['RateLimited', 'ServerError', 'Timeout'])[1 + n % 3] end,
            case when n % 10 < 3 or r.status = 'failed' then 'upstream said no (' || n || ')' end,
            case when n % 10 < 3 then 429 end, r.created_at, 100, r.input_tokens, r.output_tokens, r.cost_usd
       from (select *, row_number() over () as n from requests) r`,
  );
  await db.query(
    `insert into request_attempts (request_id, candidate_index, attempt, provider, model, outcome, started_at, latency_ms)
     select a.request_id, case when n % 2 = 0 then 1 else 0 end, case when n % 2 = 0 then 1 else 2 end,
            a.provider, a.model, 'success', a.started_at + interval '200 ms', 100
       from (select *, row_number() over () as n from request_attempts where error_type is not null) a`,
  );
  // As completeRequest records it: attempts of more than one candidate.
  await db.query(
    `update requests r set fell_back = true
      where exists (select 1 from request_attempts a where a.request_id = r.request_id and a.candidate_index = 1)`,
  );
  await db.query(
    `insert into batches (id, tenant_id, kind, status, options, total, workflow_id, input_file_id, created_at, started_at)
     select 'batch_' || i, 't' || (1 + i % 5), case when i % 2 = 0 then 'openai' else 'summarize' end,
            case when i % 10 = 0 then 'running' else 'completed' end, '{"model":"auto","concurrency":8}', 100,
            'batch-batch_' || i, 'file_' || i, now() - i * interval '30 minutes', now() - i * interval '30 minutes'
       from generate_series(0, 199) i`,
  );
  await db.query(
    `insert into audit_log (at, actor_key_id, actor_tenant, actor_role, tenant_id, action, target, after)
     select now() - i * interval '1 minute', 'key_x', 'ops', 'operator', 't' || (1 + i % 5), 'policy.update',
            'rule-' || i, jsonb_build_object('rule', i)
       from generate_series(1, 5000) i`,
  );
  const first = (await latestConfigVersion(db))!;
  const config = (await configAt(db, first))!.config as Record<string, unknown>;
  for (let v = first; v < first + 50; v++)
    await insertConfigIfLatest(db, { ...config, bench: { version: v } }, 'import', undefined, v);
  await db.exec('analyze');
}

interface Timing {
  name: string;
  sorted: number[];
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PAGE_LOADS = 10;

/**
 * Each console page loaded in Chromium as an operator would open it (a fresh navigation: HTML,
 * scripts, Chart.js, the session, then the page's API calls), timed until the shell marks the
 * page ready (`#main[data-ready]`, set once its first data is shown).
 */
async function pageLoads(base: string, operatorKey: string, requestId: string): Promise<Timing[]> {
  if (!fs.existsSync(CHROMIUM)) return [];
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${base}/console`);
    await page.fill('[data-testid=sign-in] input[name=key]', operatorKey);
    await page.click('[data-testid=sign-in] button[type=submit]');
    await page.waitForSelector('#main[data-ready=overview]');
    const cases: Array<[string, string, string]> = [
      ['overview (last hour)', '#/overview', 'overview'],
      ['overview (7 days, by model)', '#/overview?range=7d&by=model', 'overview'],
      ['requests (first page)', '#/requests', 'requests'],
      ['requests (status=failed)', '#/requests?status=failed', 'requests'],
      ['request detail', `#/requests/${encodeURIComponent(requestId)}`, 'requests'],
      ['providers', '#/providers', 'providers'],
      ['budgets', '#/budgets', 'budgets'],
      ['batches', '#/batches', 'batches'],
      ['tenants and keys', '#/keys', 'keys'],
      ['configuration', '#/config', 'config'],
      ['alerts', '#/alerts', 'alerts'],
    ];
    const out: Timing[] = [];
    for (const [name, hash, ready] of cases) {
      const ms: number[] = [];
      for (let i = 0; i <= PAGE_LOADS; i++) {
        await page.goto('about:blank');
        const t = performance.now();
        await page.goto(`${base}/console${hash}`);
        await page.waitForSelector(`#main[data-ready="${ready}"]`, { timeout: 30_000 });
        if (i > 0) ms.push(performance.now() - t); // the first load warms the server's plans
      }
      out.push({ name, sorted: ms.sort((a, b) => a - b) });
      if (process.env.VERBOSE)
        process.stdout.write(
          `${name}: ${out
            .at(-1)!
            .sorted.map((x) => x.toFixed(0))
            .join(' ')}\n`,
        );
    }
    return out;
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const { db, label, drop } = await freshDb();
  try {
    await migrate(db);
    const t0 = performance.now();
    // The app's own configuration store writes version 1; the seed's configuration versions follow it.
    const app = await startOfflineApp(db);
    await seed(db);
    // Statistics, as autovacuum's analyze gathers them within a minute of a bulk load: without them
    // the planner guesses at an empty table's row counts.
    await db.exec('analyze');
    const seeded = (performance.now() - t0) / 1000;
    const operator = (await createApiKey(db, { tenantId: 'ops', name: 'bench', role: 'operator' })).key;
    const member = (await createApiKey(db, { tenantId: 't1', name: 'bench', role: 'admin' })).key;

    const call = async (p: string, key: string) => {
      const res = await fetch(`${app.base}/v1${p}`, { headers: { authorization: `Bearer ${key}` } });
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200) throw new Error(`${p}: ${res.status} ${JSON.stringify(body)}`);
      return body;
    };
    // Page 50 of the request list: the cursor the first 49 pages lead to.
    let cursor = '';
    for (let page = 1; page < 50; page++)
      cursor = (await call(`/requests${cursor ? `?cursor=${cursor}` : ''}`, operator)).next_cursor as string;
    const someId = ((await call('/requests?limit=1&status=failed', operator)).data as Array<{ request_id: string }>)[0]!
      .request_id;
    const ago = (ms: number) => encodeURIComponent(new Date(Date.now() - ms).toISOString());
    const H = 3_600_000;

    const cases: Array<[string, string, string]> = [
      ['requests: first page (all tenants)', '/requests', operator],
      ['requests: page 50 (cursor)', `/requests?cursor=${cursor}`, operator],
      ['requests: tenant (member)', '/requests', member],
      ['requests: model', '/requests?model=google/model-2', operator],
      ['requests: status=failed', '/requests?status=failed', operator],
      ['requests: user', '/requests?user=user-42', operator],
      ['requests: q (id prefix)', `/requests?q=${someId.slice(0, 10)}`, operator],
      ['request detail', `/requests/${someId}`, operator],
      ['series: last hour by provider', '/analytics/series?by=provider', operator],
      ['series: last day by provider', `/analytics/series?from=${ago(24 * H)}&by=provider`, operator],
      ['series: 7 days by provider', `/analytics/series?from=${ago(168 * H)}&by=provider`, operator],
      ['series: 7 days by model', `/analytics/series?from=${ago(168 * H)}&by=model`, operator],
      ['series: 7 days, one tenant', `/analytics/series?from=${ago(168 * H)}`, member],
      ['analytics group_by (7 days)', '/analytics?group_by=day,provider,model', operator],
      ['analytics group_by operation', '/analytics?group_by=operation', operator],
      ['providers/errors', '/providers/errors', operator],
      ['budgets', '/budgets', member],
      ['batches (all kinds)', '/batches?kind=all', operator],
      ['audit', '/audit', operator],
      ['config versions', '/admin/config/versions', operator],
      ['config diff', '/admin/config/diff?from=2&to=40', operator],
    ];
    const timings: Timing[] = [];
    for (const [name, p, key] of cases) {
      await call(p, key); // warm: the first call plans and reads pages in
      const ms: number[] = [];
      for (let i = 0; i < CALLS; i++) {
        const t = performance.now();
        await call(p, key);
        ms.push(performance.now() - t);
      }
      timings.push({ name, sorted: ms.sort((a, b) => a - b) });
    }
    const pages = await pageLoads(app.base, operator, someId);
    await app.stop();

    const w = Math.max(...timings.map((t) => t.name.length));
    const f = (n: number) => n.toFixed(1).padStart(8);
    const lines = [
      `node ${process.version}, ${os.cpus().length} cores, ${label}, ${new Date().toISOString()}`,
      `${REQUESTS} requests over 7 days (seeded in ${seeded.toFixed(1)} s), ${CALLS} calls each after one warm-up, ms:`,
      `${'endpoint'.padEnd(w)}      p50      p95      max  under 1 s`,
      ...timings.map(
        (t) =>
          `${t.name.padEnd(w)} ${f(pct(t.sorted, 50))} ${f(pct(t.sorted, 95))} ${f(t.sorted.at(-1)!)}  ${t.sorted.at(-1)! < 1000 ? 'yes' : 'no'}`,
      ),
    ];
    if (pages.length)
      lines.push(
        '',
        `console pages in Chromium (${PAGE_LOADS} full loads each, from navigation to the page's first data shown), ms:`,
        `${'page'.padEnd(w)}      p50      p95      max  under 1 s`,
        ...pages.map(
          (t) =>
            `${t.name.padEnd(w)} ${f(pct(t.sorted, 50))} ${f(pct(t.sorted, 95))} ${f(t.sorted.at(-1)!)}  ${t.sorted.at(-1)! < 1000 ? 'yes' : 'no'}`,
        ),
      );
    else lines.push('', `(no Chromium at ${CHROMIUM}: page loads not measured)`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await drop();
  }
}

if (require.main === module)
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
