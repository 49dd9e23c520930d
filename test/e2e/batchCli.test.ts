/**
 * `npm run batch` as a user runs it, against a Switchyard over real HTTP: JSONL and folder input,
 * progress lines (`--no-tty`) and the bar (under a pseudo-terminal), the results file, Ctrl-C
 * leaving the batch running, `--attach` and `--cancel`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { until } from '../support/chaos';
import { fakeCatalog, fakeModel, useTestStack } from '../support/stack';

const ROOT = path.join(__dirname, '..', '..');
const stack = useTestStack({ catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'sum')]) }, { timeout: 120_000 });
let dir: string;

beforeAll(() => {
  stack.fakes.openai.setDefault('sum', { kind: 'ok', simulate: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-cli-'));
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const env = () => ({
  ...process.env,
  NODE_OPTIONS: '',
  SWITCHYARD_URL: stack.baseURL.replace(/\/v1$/, ''),
  SWITCHYARD_KEY: stack.apiKey,
});

/**
 * Runs a command to its end (asynchronously: the stack it talks to runs in this process). Its own
 * spawn: the CLI under test runs to its end, not a Switchyard process for useProcesses.
 */
function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawn(cmd, args, { cwd: ROOT, env: env() });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, out })));
}

const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'src/cli/batch.ts', ...args]);

const docsFile = (n: number, name = 'docs.jsonl') => {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({ id: `doc-${i}`, text: `Document ${i} begins here. It has a middle. It ends well.` }),
    ).join('\n') + '\n',
  );
  return file;
};

const lines = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

it('submits JSONL, prints progress lines without a terminal, and writes the results file', async () => {
  const out = path.join(dir, 'results.jsonl');
  const r = await cli([docsFile(12), '--no-tty', '--out', out, '--max-words', '20']);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^Submitted batch (batch_\w+): 12 documents\.$/m);
  expect(r.out).toMatch(/^progress: 12\/12 done, 0 failed, \$[\d.]+, completed, [\d.]+ docs\/min$/m);
  expect(r.out).toMatch(/^Batch batch_\w+ completed: 12\/12 done, 0 failed/m);
  expect(r.out).toMatch(
    /^Results: GET http:\/\/127\.0\.0\.1:\d+\/v1\/operations\/summarize\/batches\/batch_\w+\/results$/m,
  );
  expect(r.out).toContain(`Wrote 12 results to ${out}`);
  const results = lines(out);
  expect(results.map((l) => l.id)).toEqual(Array.from({ length: 12 }, (_, i) => `doc-${i}`));
  expect(results[3].summary).toMatch(/^Document 3 begins here\./);
}, 120_000);

it('takes a folder: one document per .txt/.md file, named by its path', async () => {
  const folder = path.join(dir, 'notes');
  fs.mkdirSync(path.join(folder, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(folder, 'a.md'), 'Alpha is first. It leads.');
  fs.writeFileSync(path.join(folder, 'sub', 'b c.txt'), 'Beta is second. It follows.');
  fs.writeFileSync(path.join(folder, 'ignored.pdf'), 'not text');
  const out = path.join(dir, 'folder.jsonl');
  const r = await cli([folder, '--no-tty', '--out', out]);
  expect(r.code).toBe(0);
  expect(lines(out).map((l) => [l.id, l.summary])).toEqual([
    ['a.md', 'Alpha is first. It leads.'],
    ['sub_b_c.txt', 'Beta is second. It follows.'],
  ]);
}, 120_000);

it('draws a progress bar in a terminal', async () => {
  // `script` gives the CLI a pseudo-terminal, as a user's shell does.
  const cmd = `${process.execPath} --import tsx src/cli/batch.ts ${docsFile(5, 'tty.jsonl')}`;
  const r = await run('script', ['-qfec', cmd, '/dev/null']);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/█{40} 100% \| 5\/5 done \| 0 failed \| [\d.]+\/min \| \$[\d.]+ \| completed/);
}, 120_000);

it('Ctrl-C leaves the batch running and says how to re-attach; --attach follows it to the end; --cancel stops one', async () => {
  stack.fakes.openai.setDefault('sum', { kind: 'ok', simulate: true, delayMs: 400 });
  try {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/batch.ts', docsFile(10, 'slow.jsonl'), '--no-tty', '--concurrency', '1'],
      { cwd: ROOT, env: env() },
    );
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    await until(() => /progress: [1-9]\/10 done/.test(out));
    proc.kill('SIGINT');
    expect(await exited).toBe(130);
    const id = /Re-attach: {2}npm run batch -- --attach (batch_\w+)/.exec(out)?.[1];
    expect(id).toBeDefined();
    expect(out).toContain(`Cancel:     npm run batch -- --cancel ${id}`);

    const attached = path.join(dir, 'attached.jsonl');
    const r = await cli(['--attach', id!, '--no-tty', '--out', attached]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Attached to batch ${id}: `);
    expect(r.out).toMatch(/completed: 10\/10 done/);
    expect(lines(attached)).toHaveLength(10);
    const missing = await cli(['--attach', 'batch_nope', '--no-tty']);
    expect(missing.code).toBe(1);
    expect(missing.out).toBe("error: 404: No batch with id 'batch_nope'.\n");

    const sub = await fetch(`${stack.baseURL}/operations/summarize/batches?concurrency=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/x-ndjson' },
      body: fs.readFileSync(path.join(dir, 'slow.jsonl')),
    });
    const other = ((await sub.json()) as { id: string }).id;
    const c = await cli(['--cancel', other]);
    expect(c.code).toBe(0);
    expect(c.out).toContain(`Cancelled batch ${other}: no new call starts;`);
    await until(async () => {
      const b = await fetch(`${stack.baseURL}/operations/summarize/batches/${other}`, {
        headers: { authorization: `Bearer ${stack.apiKey}` },
      });
      return ((await b.json()) as { status: string }).status === 'cancelled';
    });
  } finally {
    stack.fakes.openai.setDefault('sum', { kind: 'ok', simulate: true });
  }
}, 180_000);
