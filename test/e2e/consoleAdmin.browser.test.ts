/**
 * The console's Budgets, Batches, Tenants-and-keys, Configuration and Alerts pages in a real
 * browser: headless Chromium (Debian's package, driven by playwright-core) over a running stack
 * with the simulated provider. Signed in as the operator (the bootstrap key) through the form, it
 * follows a batch to completion and cancels another, creates a key (its secret shown once, not after
 * a reload; the key works) and revokes it (the key then gets 401), sets a budget and sees its window
 * as bars once requests spent, diffs two configuration versions, runs the routing dry run, and sees
 * the budget alert. Screenshots: test-artifacts/console/{budgets,batches,keys,config,alerts}.png.
 *
 * Needs /usr/bin/chromium (or CHROMIUM_PATH); without it (outside CI) it is reported as not run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { isolatedDatabaseUrl } from '../support/db';
import { killStack, startStackOnFreePorts, stopStack, type Stack } from '../support/process';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = fs.existsSync(CHROMIUM);
if (!available && process.env.CI === 'true')
  throw new Error(`CI needs Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`);
if (!available)
  process.stdout.write(
    `consoleAdmin.browser.test: no Chromium at ${CHROMIUM}; install Debian's chromium or set CHROMIUM_PATH to run it\n`,
  );

const KEY = 'sk-sy-console-admin-test-key-0123456789';
const SHOTS = path.resolve(__dirname, '../../test-artifacts/console');

(available ? describe : describe.skip)('the console manages budgets, batches, keys, configuration and alerts', () => {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let dataDir: string;
  let base: string;
  const errors: string[] = [];

  const call = async (
    p: string,
    init: { method?: string; body?: unknown; key?: string; headers?: Record<string, string> } = {},
  ) => {
    const res = await fetch(`${base}${p}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        authorization: `Bearer ${init.key ?? KEY}`,
        ...(init.body !== undefined && { 'content-type': 'application/json' }),
        ...init.headers,
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json };
  };
  /** Polls `get` until `ok` holds or `ms` pass; returns the last value (the caller asserts on it). */
  const poll = async <T>(get: () => Promise<T>, ok: (v: T) => boolean, ms: number, every = 250): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await get();
      if (ok(v) || Date.now() > end) return v;
      await new Promise((r) => setTimeout(r, every));
    }
  };
  /**
   * Waits until the element's text matches. (A function, not source text: the console's CSP
   * forbids eval, which Playwright would use for a string; no DOM types in this Node program.)
   */
  type InPage = { document: { querySelector(s: string): { textContent: string | null } | null } };
  const textIs = (selector: string, re: RegExp, timeout: number) =>
    page.waitForFunction(
      ([sel, src]) => {
        const el = (globalThis as unknown as InPage).document.querySelector(sel);
        return !!el && new RegExp(src).test(el.textContent ?? '');
      },
      [selector, re.source] as const,
      { timeout },
    );
  /** Goes to a console address (the hash router) in a page. */
  const setHash = (p: Page, hash: string) => p.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  const shot = async (name: string) => {
    // At the top, so the sticky header is where it belongs in the full-page picture.
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  const go = async (hash: string, name: string) => {
    await setHash(page, hash);
    await page.waitForSelector(`#main [data-page="${name}"]`);
  };
  const startBatch = async (docs: number, concurrency: number) => {
    const documents = Array.from({ length: docs }, (_, i) => ({
      id: `doc-${i + 1}`,
      text: `Document ${i + 1}. The harbour opened at dawn and the ships left one by one. `.repeat(4),
    }));
    const r = await call('/v1/operations/summarize/batches', { body: { documents, concurrency, maxWords: 20 } });
    expect(r.status).toBe(201);
    return r.json.id as string;
  };

  /** An OpenAI-format batch: the input file uploaded as the SDKs do (multipart), then the batch. */
  const startOpenAIBatch = async (lines: number) => {
    const jsonl = Array.from({ length: lines }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i + 1}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'simulated/sim-mini', max_tokens: 30, messages: [{ role: 'user', content: `Line ${i + 1}` }] },
      }),
    ).join('\n');
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([jsonl], { type: 'application/jsonl' }), 'input.jsonl');
    const up = await fetch(`${base}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
      body: form,
    });
    expect(up.status).toBe(200);
    const file = (await up.json()) as { id: string };
    const r = await call('/v1/batches', {
      body: { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
    });
    expect(r.status).toBe(200);
    return r.json.id as string;
  };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-console-admin-'));
    fs.mkdirSync(SHOTS, { recursive: true });
    const databaseUrl = process.env.DATABASE_URL ? await isolatedDatabaseUrl() : undefined;
    const started = await startStackOnFreePorts((p) => ({
      PORT: String(p.api),
      TEMPORAL_DEV_PORT: String(p.temporal),
      TEMPORAL_UI_PORT: String(p.ui),
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_BOOTSTRAP_KEY: KEY,
      OPENAI_API_KEY: '',
      ANTHROPIC_API_KEY: '',
      LOG_LEVEL: 'warn',
      ...(databaseUrl && { DATABASE_URL: databaseUrl }),
    }));
    stack = started.stack;
    base = `http://127.0.0.1:${started.ports.api}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
      ],
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      // The CSP refusing something is a page bug; a 4xx the page shows is not.
      if (m.type() === 'error' && /Content Security Policy/.test(m.text())) errors.push(m.text());
    });

    // Signing in through the form, as a person does.
    await page.goto(`${base}/console`);
    await page.fill('[data-testid="sign-in"] input[name="key"]', KEY);
    await page.click('[data-testid="sign-in"] button[type="submit"]');
    await page.waitForSelector('[data-testid="who"]');
    expect(await page.textContent('[data-testid="who"]')).toContain('operator');
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (stack && stack.proc.exitCode === null) await killStack(stack);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('follows a running batch to completion, downloads its results, and cancels another', async () => {
    const followed = await startBatch(8, 1);
    const cancelled = await startBatch(400, 1);
    const openai = await startOpenAIBatch(3);
    await go('#/batches', 'batches');
    await page.waitForSelector(`[data-testid="batch-${followed}"]`);
    await page.waitForSelector(`[data-testid="batch-${cancelled}"]`);

    // The list redraws every 2 s while a batch runs: the followed one reaches 100 %, completed.
    await page.waitForSelector(`[data-testid="progress-${followed}"][data-fraction="1.000"]`, { timeout: 90_000 });
    await textIs(`[data-testid="status-${followed}"]`, /^completed$/, 30_000);
    const row = await page.textContent(`[data-testid="batch-${followed}"]`);
    expect(row).toContain('8 / 8 (100 %)');
    expect(row).toMatch(/\$\d/); // cost so far
    // The OpenAI-format batch is in the same list, and finishes too.
    await page.waitForSelector(`[data-testid="progress-${openai}"][data-fraction="1.000"]`, { timeout: 60_000 });
    expect(await page.textContent(`[data-testid="batch-${openai}"]`)).toContain('OpenAI format');
    // The other is still at work, with its progress below 100 %.
    expect(Number(await page.getAttribute(`[data-testid="progress-${cancelled}"]`, 'data-fraction'))).toBeLessThan(1);
    await shot('batches');

    // The finished batch's results, downloaded through the page (a Blob fetched with the CSRF header).
    await page.click(`[data-testid="batch-${followed}"] a`);
    await page.waitForSelector('[data-testid="batch-detail"] [data-testid="download-results"]');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-testid="download-results"]'),
    ]);
    const file = path.join(dataDir, 'results.jsonl');
    await download.saveAs(file);
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(8);
    expect(lines[0]).toHaveProperty('summary');

    // Cancelling the other from its page, after the confirm.
    await go(`#/batches/summarize/${cancelled}`, 'batches');
    await page.click('[data-testid="cancel-batch"]');
    await textIs('[data-testid="batch-status"]', /^(cancelling|cancelled)$/, 30_000);
    const status = await poll(
      async () => (await call(`/v1/operations/summarize/batches/${cancelled}`)).json.status,
      (s) => s === 'cancelled',
      30_000,
    );
    expect(status).toBe('cancelled');
  }, 200_000);

  it('creates a key whose secret is shown once, rotates it and revokes it', async () => {
    await go('#/keys', 'keys');
    await page.waitForSelector('[data-testid="keys"]');
    await page.waitForSelector('[data-testid="tenant-default"]');
    await page.fill('[data-testid="create-key"] input[name="name"]', 'browser-made');
    await page.selectOption('[data-testid="create-key"] select[name="role"]', 'member');
    await page.click('[data-testid="create-key"] button[type="submit"]');
    await page.waitForSelector('[data-testid="secret-box"]');
    const secret = await page.inputValue('[data-testid="secret"]');
    expect(secret).toMatch(/^sk-sy-/);
    await page.waitForSelector('[data-testid="key-browser-made"]');
    await shot('keys');

    // The key works with the API, as a member of the default tenant.
    const me = await call('/v1/budgets', { key: secret });
    expect(me.status).toBe(200);
    expect(me.json.tenant_id).toBe('default');

    // Reloading shows the key in the list, never its secret again.
    await page.reload();
    await page.waitForSelector('[data-testid="key-browser-made"]');
    expect(await page.$('[data-testid="secret-box"]')).toBeNull();
    expect(await page.content()).not.toContain(secret);

    // Rotated from the page: a new secret, shown once; the old one is refused within a second
    // (keys are cached that long), the new one works.
    await page.click('[data-testid="key-browser-made"] button:has-text("Rotate")');
    await page.waitForSelector('[data-testid="secret-box"]');
    const rotated = await page.inputValue('[data-testid="secret"]');
    expect(rotated).toMatch(/^sk-sy-/);
    expect(rotated).not.toBe(secret);
    await page.waitForSelector('[data-testid="key-browser-made-revoked"]');
    const status = (key: string, want: number) =>
      poll(
        async () => (await call('/v1/budgets', { key })).status,
        (st) => st === want,
        5000,
      );
    expect(await status(secret, 401)).toBe(401);
    expect(await status(rotated, 200)).toBe(200);

    // Revoked from the page (after the confirm): the API then refuses it.
    await page.click('[data-testid="key-browser-made"] button:has-text("Revoke")');
    await page.waitForSelector('[data-testid="key-browser-made"]', { state: 'detached', timeout: 15_000 });
    expect(await status(rotated, 401)).toBe(401);
  }, 60_000);

  it('diffs two configuration versions and runs the routing dry run', async () => {
    const before = (await call('/v1/admin/config/versions')).json.data[0].version as number;
    const rule = await call('/v1/admin/rules', {
      body: {
        id: 'mathematics',
        name: 'Mathematics to the large model',
        when: [{ field: 'subject', op: 'eq', value: 'mathematics' }],
        targets: [{ model: 'simulated/sim-large' }],
      },
    });
    expect(rule.status).toBe(201);
    const after = rule.json.config_version as number;

    await go('#/config', 'config');
    await page.waitForSelector('[data-testid="diff-form"]');
    await page.selectOption('[data-testid="diff-from"]', String(before));
    await page.selectOption('[data-testid="diff-to"]', String(after));
    await page.click('[data-testid="diff-form"] button[type="submit"]');
    await page.waitForSelector('[data-testid="diff"]');
    const added = await page.$$eval('[data-testid="diff"] .add', (els) => els.map((e) => e.textContent));
    expect(added.join('\n')).toContain('mathematics');

    // The rule is listed; a broken edit is refused before any call, an invalid one by the API.
    await page.waitForSelector('[data-testid="rules-mathematics"]');
    await page.fill('[data-testid="rules-editor"]', '{ "id": "x", ');
    await page.click('[data-testid="rules-save"]');
    expect(await page.textContent('[data-testid="rules-out"]')).toContain('Not valid JSON');
    await page.fill('[data-testid="rules-editor"]', JSON.stringify({ id: 'bad', when: [], targets: 'x' }));
    await page.click('[data-testid="rules-save"]');
    await page.waitForSelector('[data-testid="rules-out"] .notice.error');
    expect(await page.textContent('[data-testid="rules-out"]')).toMatch(/^400 .*\(targets/);

    // The dry run: the subject routes by the rule (every process sees a new version within a second).
    const routed = await poll(
      async () =>
        (
          await call('/v1/route', {
            body: { model: 'auto', messages: [{ role: 'user', content: 'What is 7 * 6?' }] },
            headers: { 'X-Switchyard-Subject': 'mathematics' },
          })
        ).json.decision?.candidates?.[0]?.modelId,
      (m) => m === 'simulated/sim-large',
      5000,
    );
    expect(routed).toBe('simulated/sim-large');
    await page.fill('[data-testid="dry-run"] textarea[name="prompt"]', 'What is 7 * 6?');
    await page.fill('[data-testid="dry-run"] input[name="subject"]', 'mathematics');
    await page.click('[data-testid="dry-run"] button[type="submit"]');
    await page.waitForSelector('[data-testid="decision"]');
    expect(await page.textContent('[data-testid="chosen-model"]')).toBe('simulated/sim-large');
    expect(await page.textContent('[data-testid="decision"]')).toContain('Mathematics to the large model');
    await page.waitForSelector('[data-testid="audit"]');
    expect(await page.textContent('[data-testid="audit"]')).toContain('rules.create');
    await shot('config');
  }, 60_000);

  it('sets a budget (a bad value shows the field), and shows its window as bars once requests spent', async () => {
    await go('#/budgets?tenant=default', 'budgets');
    await page.waitForSelector('[data-testid="budget-form"]');
    // A threshold over 1: the API's 400 names the field.
    await page.fill('[data-testid="budget-form"] input[name="dailyUsd"]', '0.01');
    await page.fill('[data-testid="budget-form"] input[name="alertThreshold"]', '2');
    await page.click('[data-testid="budget-form"] button[type="submit"]');
    await page.waitForSelector('[data-testid="budget-form"] .notice.error');
    expect(await page.textContent('[data-testid="budget-form"] .notice.error')).toContain('alertThreshold');

    await page.fill('[data-testid="budget-form"] input[name="alertThreshold"]', '0.3');
    await page.click('[data-testid="budget-form"] button[type="submit"]');
    await page.waitForSelector('[data-testid="budget-saved"] .notice.ok');
    expect((await call('/v1/budgets')).json.windows.map((w: { window: string }) => w.window)).toContain('daily');

    // Requests spend past the alert threshold (30 % of $0.01).
    for (let i = 0; i < 40; i++) {
      const r = await call('/v1/chat/completions', {
        body: {
          model: 'simulated/sim-large',
          max_tokens: 40,
          messages: [{ role: 'user', content: `Question ${i}: tell me about harbours.` }],
        },
      });
      if (r.status !== 200) break;
      const b = await call('/v1/budgets');
      if (b.json.windows[0].spent_usd >= 0.004) break;
    }
    // The same address: a reload draws the page anew.
    await page.reload();
    await page.waitForSelector('#main [data-page="budgets"]');
    const bar = '[data-testid="budget-bar-daily"]';
    await page.waitForSelector(bar);
    const width = (await page.getAttribute(`${bar} > div:first-child`, 'style')) ?? '';
    expect(width).toMatch(/^width: [\d.]+%;$/);
    expect(parseFloat(width.slice('width: '.length))).toBeGreaterThan(30);
    const windowRow = await page.textContent('[data-testid="window-tenant:default-daily"]');
    expect(windowRow).toContain('$0.01 limit');
    expect(windowRow).toMatch(/in \d+ (h|min)/);
  }, 90_000);

  it("an admin sees and manages only its own tenant's keys, budget and configuration; a member reads", async () => {
    // The operator creates the tenant on the page; its admin key through the API.
    await go('#/keys', 'keys');
    await page.fill('[data-testid="create-tenant"] input[name="id"]', 'acme');
    await page.click('[data-testid="create-tenant"] button[type="submit"]');
    await page.waitForSelector('[data-testid="tenant-acme"]');
    const admin = await call('/v1/keys', { body: { name: 'acme-admin', role: 'admin', tenant_id: 'acme' } });
    expect(admin.status).toBe(201);

    const other = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
    try {
      const p = await other.newPage();
      p.on('dialog', (d) => void d.accept());
      await p.goto(`${base}/console`);
      await p.fill('[data-testid="sign-in"] input[name="key"]', admin.json.key);
      await p.click('[data-testid="sign-in"] button[type="submit"]');
      await p.waitForSelector('[data-testid="who"]');
      expect(await p.textContent('[data-testid="who"]')).toContain('acme · admin');

      // Keys: no tenants section, only acme's keys, and no operator role to give.
      await setHash(p, '#/keys');
      await p.waitForSelector('[data-testid="keys"]');
      expect(await p.$('[data-testid="tenants"]')).toBeNull();
      const tenantsShown = await p.$$eval('[data-testid="keys"] tbody tr td:nth-child(4)', (tds) =>
        tds.map((td) => td.textContent),
      );
      expect(new Set(tenantsShown)).toEqual(new Set(['acme']));
      const roles = await p.$$eval('[data-testid="create-key"] select[name="role"] option', (os) =>
        os.map((o) => o.getAttribute('value')),
      );
      expect(roles).toEqual(['member', 'admin']);

      // Configuration: rules, overrides, audit and the dry run; no versions (the operator's).
      await setHash(p, '#/config');
      await p.waitForSelector('[data-testid="dry-run"]');
      await p.waitForSelector('[data-testid="audit"]');
      expect(await p.$('[data-testid="diff-form"]')).toBeNull();
      expect(await p.textContent('[data-testid="rules"]')).not.toContain('mathematics');

      // Budgets: its own tenant, no chooser, and the form to set it.
      await setHash(p, '#/budgets');
      await p.waitForSelector('[data-testid="budget-form"]');
      expect(await p.$('[data-testid="budget-tenant"]')).toBeNull();
      expect(await p.textContent('#main [data-page="budgets"]')).toContain('Tenant acme');
    } finally {
      await other.close();
    }

    // A member of acme: budgets and batches to read, no form, no keys or configuration.
    const member = await call('/v1/keys', { body: { name: 'acme-member', role: 'member', tenant_id: 'acme' } });
    expect(member.status).toBe(201);
    const third = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
    try {
      const p = await third.newPage();
      await p.goto(`${base}/console`);
      await p.fill('[data-testid="sign-in"] input[name="key"]', member.json.key);
      await p.click('[data-testid="sign-in"] button[type="submit"]');
      await p.waitForSelector('[data-testid="who"]');
      const nav = await p.$$eval('#nav a', (as) => as.map((a) => a.getAttribute('data-page')));
      expect(nav).toEqual(expect.arrayContaining(['budgets', 'batches', 'alerts']));
      expect(nav).not.toContain('keys');
      expect(nav).not.toContain('config');
      await setHash(p, '#/budgets');
      await p.waitForSelector('[data-testid="budget-windows-acme"]');
      expect(await p.$('[data-testid="budget-form"]')).toBeNull();
      await setHash(p, '#/batches');
      await p.waitForSelector('[data-testid="batches"]');
      // The default tenant's batches are not acme's.
      expect(await p.textContent('[data-testid="batches"]')).toContain('No batches yet.');
      await setHash(p, '#/keys');
      await p.waitForSelector('#main [data-page="forbidden"]');
    } finally {
      await third.close();
    }
  }, 60_000);

  it('shows the budget alert on the Alerts page and in the strip', async () => {
    await go('#/alerts', 'alerts');
    // The alert monitor evaluates every 15 s; the page refreshes every 10 s.
    const listed = await poll(
      async () => {
        await page.reload();
        await page.waitForSelector('[data-testid="alerts"]');
        return (await page.textContent('[data-testid="alerts"]')) ?? '';
      },
      (t) => t.includes('budget_threshold'),
      60_000,
      2000,
    );
    expect(listed).toContain('budget_threshold');
    const row = await page.textContent('[data-testid="alert-budget_threshold"]');
    expect(row).toContain('default');
    await page.waitForSelector('#alert-strip:not([hidden]) [data-testid="alert-strip-link"]', { timeout: 15_000 });
    expect(await page.textContent('[data-testid="alert-strip-link"]')).toMatch(/\d+\+? open alerts?/);
    await shot('alerts');

    // The Budgets page lists it as sent for its window.
    await go('#/budgets?tenant=default', 'budgets');
    await textIs('[data-testid="window-tenant:default-daily"]', /budget_threshold/, 15_000);
    await shot('budgets');
    expect(errors).toEqual([]);
    expect(await stopStack(stack!)).toBe(0);
  }, 90_000);
});
