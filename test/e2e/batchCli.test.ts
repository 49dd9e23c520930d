/**
 * `npm run batch` as a user runs it, against a Switchyard over real HTTP: JSONL and folder input,
 * progress lines (`--no-tty`) and the bar (under a pseudo-terminal), the results file, Ctrl-C
 * leaving the batch running with re-attach and cancel commands that work as printed, `--attach`,
 * `--cancel` (of a running and of a finished batch), and a Switchyard it cannot reach.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
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
function run(
  cmd: string,
  args: string[],
  environment: NodeJS.ProcessEnv = env(),
): Promise<{ code: number | null; out: string }> {
  const proc = spawn(cmd, args, { cwd: ROOT, env: environment });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, out })));
}

const cli = (args: string[], environment?: NodeJS.ProcessEnv) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli/batch.ts', ...args], environment);

/**
 * A printed command run as a user pastes it into a new shell: SWITCHYARD_URL is not set there (the
 * command must carry it), SWITCHYARD_KEY is a shell variable the command names, not a value it holds.
 */
const asPrinted = (line: string) => {
  const { SWITCHYARD_URL: _url, ...rest } = env();
  return run('sh', ['-c', line], { ...rest, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` });
};

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

it('Ctrl-C leaves the batch running and prints re-attach and cancel commands that work as pasted; --cancel of a finished batch says so', async () => {
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
    // The commands carry the URL they need, and the key's variable, never the key.
    const url = env().SWITCHYARD_URL;
    const reattach = /^Re-attach: {2}(.*)$/m.exec(out)?.[1];
    const id = /--attach (batch_\w+)$/.exec(reattach ?? '')?.[1];
    expect(id).toBeDefined();
    expect(reattach).toBe(`SWITCHYARD_URL=${url} SWITCHYARD_KEY="$SWITCHYARD_KEY" npm run batch -- --attach ${id}`);
    const cancelLine = /^Cancel: {5}(.*)$/m.exec(out)?.[1];
    expect(cancelLine).toBe(`SWITCHYARD_URL=${url} SWITCHYARD_KEY="$SWITCHYARD_KEY" npm run batch -- --cancel ${id}`);
    expect(out).not.toContain(stack.apiKey);

    // Run as printed (plus --out), in a shell without SWITCHYARD_URL: it follows the batch to its end.
    const attached = path.join(dir, 'attached.jsonl');
    const r = await asPrinted(`${reattach} --out ${attached}`);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Attached to batch ${id}: `);
    expect(r.out).toMatch(/completed: 10\/10 done/);
    expect(lines(attached)).toHaveLength(10);
    const missing = await cli(['--attach', 'batch_nope', '--no-tty']);
    expect(missing.code).toBe(1);
    expect(missing.out).toBe("error: 404: No batch with id 'batch_nope'.\n");

    // Cancelling the finished batch says it had finished, with its final status (exit 0: nothing runs).
    const late = await cli(['--cancel', id!]);
    expect(late.code).toBe(0);
    expect(late.out).not.toContain('Cancelled');
    expect(late.out).toMatch(
      new RegExp(
        `^Batch ${id} had already finished \\(completed\\): 10/10 done, 0 failed, \\$[\\d.]+; nothing to cancel\\.$`,
        'm',
      ),
    );

    const sub = await fetch(`${stack.baseURL}/operations/summarize/batches?concurrency=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/x-ndjson' },
      body: fs.readFileSync(path.join(dir, 'slow.jsonl')),
    });
    const other = ((await sub.json()) as { id: string }).id;
    // The printed cancel command, for that batch, as pasted.
    const c = await asPrinted(cancelLine!.replace(id!, other));
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

it('names the URL it cannot reach and why, and where the URL came from', async () => {
  // A port nothing listens on: bound, then closed.
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const r = await cli(['--attach', 'batch_x', '--no-tty'], { ...env(), SWITCHYARD_URL: `http://127.0.0.1:${port}` });
  expect(r.code).toBe(1);
  expect(r.out).toBe(
    `error: cannot reach Switchyard at http://127.0.0.1:${port}/v1/operations/summarize/batches/batch_x ` +
      `(connect ECONNREFUSED 127.0.0.1:${port}). Is it running? SWITCHYARD_URL is http://127.0.0.1:${port}.\n`,
  );
  const c = await cli(['--cancel', 'batch_x'], { ...env(), SWITCHYARD_URL: `http://127.0.0.1:${port}/` });
  expect(c.code).toBe(1);
  expect(c.out).toContain(
    `cannot reach Switchyard at http://127.0.0.1:${port}/v1/operations/summarize/batches/batch_x/cancel`,
  );
  expect(c.out).toContain('ECONNREFUSED');
}, 60_000);
