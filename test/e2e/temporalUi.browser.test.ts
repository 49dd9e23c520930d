/**
 * How an operator inspects a decision: headless Chromium (Debian's package, driven by
 * playwright-core) opens the Temporal UI page of a routed request and finds its summary — the
 * chosen model and why — and its search attributes.
 *
 * Needs /usr/bin/chromium (or CHROMIUM_PATH). CI installs it (`.ci/run`) and this test then
 * always runs; on a machine without it, it is reported as not run rather than failing `npm test`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { isolatedDatabaseUrl } from '../support/db';
import { killStack, startStackOnFreePorts, stopStack, type Stack } from '../support/process';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = fs.existsSync(CHROMIUM);
if (!available && process.env.CI === 'true')
  throw new Error(`CI needs Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`);
if (!available)
  process.stdout.write(
    `temporalUi.browser.test: no Chromium at ${CHROMIUM}; install Debian's chromium or set CHROMIUM_PATH to run it\n`,
  );

const KEY = 'sk-sy-browser-test-key-0123456789';

(available ? describe : describe.skip)('the Temporal UI shows why a request went where it went', () => {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  let dataDir: string;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-ui-'));
  });
  afterAll(async () => {
    await browser?.close();
    if (stack && stack.proc.exitCode === null) await killStack(stack);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds the route summary and the search attributes on the workflow page', async () => {
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
    const { api, ui } = started.ports;
    const call = (p: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${api}/v1${p}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    // An operator's rule, added through the admin API, decides the route.
    const rule = await call('/admin/rules', {
      id: 'mathematics',
      name: 'Mathematics to the large model',
      when: [{ field: 'subject', op: 'eq', value: 'mathematics' }],
      targets: [{ model: 'simulated/sim-large' }],
    });
    expect(rule.status).toBe(201);
    const res = await call(
      '/chat/completions',
      { model: 'auto', messages: [{ role: 'user', content: 'What is 7 * 6?' }] },
      { 'X-Switchyard-Subject': 'mathematics' },
    );
    expect(res.status).toBe(200);
    const workflowId = res.headers.get('x-switchyard-workflow-id')!;

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
        // Sign-in, updates and autofill still look Google's hosts up (seen in a capture of CI):
        // no name but the UI's address resolves, so nothing leaves the machine, not even DNS.
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1600 } });
    await page.goto(`http://127.0.0.1:${ui}/namespaces/default/workflows/${workflowId}`);
    await page.getByText(workflowId).first().waitFor({ timeout: 30_000 });

    await page.getByRole('tab', { name: /User Metadata/ }).click();
    // The UI renders the markdown details in a sandboxed iframe: read every frame's text.
    let metadata = '';
    for (let i = 0; i < 60 && !metadata.includes('Decided by:'); i++) {
      await page.waitForTimeout(250);
      const texts = await Promise.all(
        page.frames().map((f) =>
          f
            .locator('body')
            .innerText()
            .catch(() => ''),
        ),
      );
      metadata = texts.join('\n');
    }
    expect(metadata).toContain('simulated/sim-large (rule Mathematics to the large model)');
    expect(metadata).toContain('rule:mathematics');
    expect(metadata).toMatch(/simulated\/sim-large attempt 1: success/);

    await page.getByRole('tab', { name: /Search Attributes/ }).click();
    await page.getByText('"SwitchyardRoute"').waitFor({ timeout: 15_000 });
    const attributes = await page.locator('main').innerText();
    expect(attributes).toContain('"SwitchyardRoute": "rule:mathematics"');
    expect(attributes).toContain('"SwitchyardModel": "simulated/sim-large"');
    expect(attributes).toContain('"SwitchyardStatus": "succeeded"');
    expect(attributes).toContain('"SwitchyardTenant": "default"');

    expect(await stopStack(stack)).toBe(0);
  });
});
