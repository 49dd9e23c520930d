/**
 * The operator console in a real browser (issue 25): headless Chromium (Debian's package, driven
 * by playwright-core) over a running stack whose simulated provider fails some calls. An operator
 * signs in through the form, sends 30 chat requests and sees them in the overview's charts, finds
 * a request with a failed attempt in the Requests list and reads its candidates, rejections and
 * attempts, replays it, and forces a breaker open on the Providers page. A member of another
 * tenant sees no operator or admin page, is told the Providers page needs an operator key, and
 * gets "No request" for the operator's request. No key appears in any URL the browser visited.
 * Screenshots of every page go to test-artifacts/console/.
 *
 * Needs /usr/bin/chromium (or CHROMIUM_PATH); CI installs it, and without it (outside CI) the
 * file is reported as not run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { isolatedDatabaseUrl } from '../support/db';
import { killStack, startStackOnFreePorts, stopStack, type Stack } from '../support/process';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = fs.existsSync(CHROMIUM);
if (!available && process.env.CI === 'true')
  throw new Error(`CI needs Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`);
if (!available)
  process.stdout.write(
    `console.browser.test: no Chromium at ${CHROMIUM}; install Debian's chromium or set CHROMIUM_PATH to run it\n`,
  );

const KEY = 'sk-sy-console-browser-operator-0123456789';
const SHOTS = path.join(process.cwd(), 'test-artifacts', 'console');
const REQUESTS = 30;

/**
 * `read()` again every 250 ms until `ok` holds of its value or `ms` pass; returns the last value,
 * which the caller asserts on (so a timeout fails with the value it last saw).
 */
async function poll<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

(available ? describe : describe.skip)('the console in a browser', () => {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  let dataDir: string;
  let base: string;
  let memberKey: string;
  /** Every URL a page navigated to or requested: no key may be in any. */
  const visited: string[] = [];
  /** What the browser refused or threw: a CSP violation (an inline style or script) would land here. */
  const problems: string[] = [];

  const v1 = async (p: string, init: { method?: string; body?: unknown; key?: string } = {}) => {
    const res = await fetch(`${base}/v1${p}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${init.key ?? KEY}`, 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  const chat = (content: string, key = KEY) =>
    v1('/chat/completions', { key, body: { model: 'auto', messages: [{ role: 'user', content }] } });

  const newPage = async (ctx: BrowserContext): Promise<Page> => {
    const page = await ctx.newPage();
    page.on('framenavigated', (f) => visited.push(f.url()));
    page.on('request', (r) => visited.push(r.url()));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
    });
    return page;
  };
  const signIn = async (page: Page, key: string) => {
    await page.goto(`${base}/console`);
    await page.waitForSelector('[data-page=sign-in] form[data-testid=sign-in]');
    await page.fill('form[data-testid=sign-in] input[name=key]', key);
    await page.click('form[data-testid=sign-in] button[type=submit]');
    await page.waitForSelector('[data-testid=who]');
  };
  const shot = async (page: Page, name: string) => {
    await page.evaluate('window.scrollTo(0, 0)'); // the sticky header at the top, not mid-page
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };

  let operator: Page;
  let failedRequestId: string;
  let operatorRequestId: string;

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-console-'));
    const databaseUrl = process.env.DATABASE_URL ? await isolatedDatabaseUrl() : undefined;
    const started = await startStackOnFreePorts((p) => ({
      PORT: String(p.api),
      TEMPORAL_DEV_PORT: String(p.temporal),
      TEMPORAL_UI_PORT: String(p.ui),
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_BOOTSTRAP_KEY: KEY,
      // Some calls fail (503 or 429, then retried): attempts that failed, and provider errors to list.
      SWITCHYARD_SIMULATED_FAILURE_RATE: '0.15',
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
    operator = await newPage(await browser.newContext({ viewport: { width: 1400, height: 1000 } }));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (stack && stack.proc.exitCode === null) await killStack(stack);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('signs an operator in and shows 30 new requests in the overview, live', async () => {
    await operator.goto(`${base}/console`);
    await operator.waitForSelector('form[data-testid=sign-in]');
    await shot(operator, 'sign-in');
    await signIn(operator, KEY);
    await operator.waitForSelector('[data-page=overview] [data-testid=tile-requests]');
    expect(await operator.getAttribute('[data-testid=tile-requests]', 'data-value')).toBe('0');

    // Sent while the overview is open: the last hour refreshes itself.
    for (let i = 0; i < REQUESTS; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, j) => chat(`Console request ${i + j}: say something short.`)),
      );
      for (const r of batch) expect(r.status).toBe(200);
    }
    const requestsSum = () => operator.getAttribute('[data-testid=chart-requests]', 'data-sum').then(Number);
    expect(await poll(requestsSum, (n) => n >= REQUESTS, 30_000)).toBeGreaterThanOrEqual(REQUESTS);
    expect(Number(await operator.getAttribute('[data-testid=tile-requests]', 'data-value'))).toBeGreaterThanOrEqual(
      REQUESTS,
    );
    // Every chart was drawn with points, the cost chart with a positive sum.
    for (const id of ['chart-cost', 'chart-tokens', 'chart-latency', 'chart-rates'])
      expect(Number(await operator.getAttribute(`[data-testid=${id}]`, 'data-points'))).toBeGreaterThan(0);
    expect(Number(await operator.getAttribute('[data-testid=chart-cost]', 'data-sum'))).toBeGreaterThan(0);

    // By model: the selector re-renders with the model names as the series.
    await operator.selectOption('[data-testid=overview-filters] select[name=by]', 'model');
    await operator.waitForFunction('location.hash.includes("by=model")');
    await operator.waitForSelector('[data-testid=chart-requests]');
    expect(await poll(requestsSum, (n) => n >= REQUESTS)).toBeGreaterThanOrEqual(REQUESTS);
    await shot(operator, 'overview');
  });

  it('finds a request with a failed attempt in the list and shows its decision and attempts', async () => {
    const errors = await v1('/providers/errors?limit=5');
    expect(errors.status).toBe(200);
    expect(errors.json.data.length).toBeGreaterThan(0);
    failedRequestId = errors.json.data[0].request_id;

    await operator.goto(`${base}/console#/requests`);
    await operator.waitForSelector('[data-testid=requests-table]');
    const rows = () => operator.locator('[data-testid=request-row]').count();
    expect(await poll(rows, (n) => n >= REQUESTS)).toBeGreaterThanOrEqual(REQUESTS);
    operatorRequestId = (await v1('/requests?limit=1')).json.data[0].request_id;

    // The id search is kept in the hash, so the list can be shared.
    await operator.fill('[data-testid=request-filters] input[name=q]', failedRequestId.slice(0, 18));
    await operator.click('[data-testid=request-filters] button[type=submit]');
    await operator.waitForFunction('location.hash.startsWith("#/requests?q=")');
    expect(await poll(rows, (n) => n === 1)).toBe(1);
    await shot(operator, 'requests');

    await operator.click('[data-testid=request-row] a');
    await operator.waitForSelector('[data-page=request] [data-testid=candidates]');
    expect(operator.url()).toContain(`#/requests/${failedRequestId}`);
    // Candidates with their reasons, the model the capability filter rejected, the attempts.
    expect(await operator.locator('[data-testid=candidate]').count()).toBeGreaterThanOrEqual(2);
    expect(await operator.locator('[data-testid=candidates]').innerText()).toContain('simulated/sim-mini');
    const rejected = await operator.locator('[data-testid=rejected]').innerText();
    expect(rejected).toContain('simulated/sim-embed');
    expect(rejected).toContain('capability');
    const failed = operator.locator('[data-testid=attempt].failed');
    expect(await failed.count()).toBeGreaterThanOrEqual(1);
    expect(await failed.first().innerText()).toMatch(/Overloaded|RateLimited/);
    expect(await operator.locator('[data-testid=attempt][data-outcome=success]').count()).toBe(1);
    expect(await operator.locator('[data-testid=classification]').innerText()).toContain('Classifier version');
    expect(await operator.locator('[data-testid=timing]').innerText()).toContain('provider');
    expect(await operator.getAttribute('[data-testid=temporal-link]', 'href')).toContain(
      `/workflows/req-${failedRequestId}`,
    );

    // The replay puts the current configuration's choice next to the recorded one.
    await operator.click('[data-testid=replay]');
    const replay = operator.locator('[data-testid=replay-result]');
    await replay.waitFor();
    expect(await replay.getAttribute('data-changed')).toBe('false');
    expect(await replay.innerText()).toContain('makes the same choice');
    await shot(operator, 'request');
  });

  it('forces a breaker open with a reason on the Providers page and shows it at once', async () => {
    await operator.goto(`${base}/console#/providers`);
    const row = operator.locator('[data-testid="breaker-simulated/sim-large"]');
    await row.waitFor();
    expect(await row.locator('[data-testid=breaker-state]').getAttribute('data-state')).toBe('closed');
    // The provider errors of the failed calls are listed (redacted by the API).
    await operator.waitForSelector('[data-testid=provider-errors]');
    expect(await operator.locator('[data-testid=provider-errors]').innerText()).toMatch(
      /simulated\/sim-\S+\s+(Overloaded|RateLimited)/,
    );

    // Without a reason the API refuses, and the page says why.
    await row.locator('[data-testid=force-open]').click();
    const action = () => operator.locator('[data-testid=breaker-action]').innerText();
    expect(await poll(action, (t) => t.includes('reason'))).toContain('reason');

    await row.locator('[data-testid=breaker-reason]').fill('console test: maintenance window');
    await row.locator('[data-testid=force-open]').click();
    const state = () => row.locator('[data-testid=breaker-state]').getAttribute('data-state');
    expect(await poll(state, (v) => v === 'open')).toBe('open');
    expect(await row.innerText()).toContain('console test: maintenance window');
    const api = await v1('/providers');
    expect(api.json.data.find((b: { id: string }) => b.id === 'simulated/sim-large').breaker.status).toBe('open');
    // And it is an open provider_down alert (shown by the Alerts page and strip of branch i25-pagesB).
    const downAlerts = async () =>
      ((await v1('/alerts?kind=provider_down&status=open')).json.data as Array<{ subject: string }>).map(
        (a) => a.subject,
      );
    expect(await poll(downAlerts, (s) => s.includes('simulated/sim-large'), 45_000)).toContain('simulated/sim-large');
    await shot(operator, 'providers');
    // The console shows it as an alert: the strip on every page, and the Alerts page's open list.
    await operator.reload();
    await operator.locator('#alert-strip:not([hidden])').waitFor();
    await operator.goto(`${base}/console#/alerts?status=open`);
    const downRow = operator.locator('[data-testid=alert-provider_down]', { hasText: 'simulated/sim-large' });
    await downRow.first().waitFor();
    expect(await downRow.first().innerText()).toMatch(/critical|warning/);
  });

  it("lets a member of another tenant see only member pages, and not the operator's requests", async () => {
    expect((await v1('/tenants', { body: { id: 'console-member-co' } })).status).toBe(201);
    const key = await v1('/keys', { body: { name: 'console member', role: 'member', tenant_id: 'console-member-co' } });
    expect(key.status).toBe(201);
    memberKey = key.json.key as string;
    // Answered, or refused when the failing calls have tripped the breakers (the forced one aside):
    // either way the member's tenant has a request on record.
    const own = await chat('A member asks something.', memberKey);
    expect([200, 503]).toContain(own.status);
    const ownId = (await v1('/requests?limit=1', { key: memberKey })).json.data[0].request_id as string;

    const member = await newPage(await browser!.newContext({ viewport: { width: 1400, height: 900 } }));
    await signIn(member, memberKey);
    expect(await member.locator('[data-testid=who]').innerText()).toContain('console-member-co · member');
    const nav = await member.locator('#nav a').evaluateAll((as) => as.map((a) => a.getAttribute('data-page')));
    expect(nav).toEqual(expect.arrayContaining(['overview', 'requests']));
    for (const hidden of ['providers', 'config', 'keys']) expect(nav).not.toContain(hidden);

    await member.goto(`${base}/console#/providers`);
    await member.waitForSelector('[data-page=forbidden]');
    expect(await member.locator('[data-page=forbidden]').innerText()).toContain('needs an operator key');
    await shot(member, 'member-forbidden');

    await member.goto(`${base}/console#/requests/${operatorRequestId}`);
    await member.waitForSelector('[data-testid=request-missing]');
    expect(await member.locator('[data-testid=request-missing]').innerText()).toContain(
      `No request ${operatorRequestId}`,
    );

    // Its own request: shown, without the replay (an admin's action).
    await member.goto(`${base}/console#/requests/${ownId}`);
    await member.waitForSelector('[data-page=request] [data-testid=candidates]');
    expect(await member.locator('[data-testid=replay]').count()).toBe(0);
    // Its list holds its own request only.
    await member.goto(`${base}/console#/requests`);
    await member.waitForSelector('[data-testid=requests-table]');
    expect(await member.locator('[data-testid=request-row]').count()).toBe(1);
  });

  it('never put a key in a URL the browser visited, nor broke the CSP', async () => {
    expect(problems).toEqual([]);
    expect(visited.length).toBeGreaterThan(20);
    for (const url of visited) {
      expect(url).not.toContain(KEY);
      expect(url).not.toContain(memberKey);
      expect(url).not.toMatch(/sk-sy-/);
    }
    expect(await stopStack(stack!)).toBe(0);
  });
});
