/**
 * The official `openai` Python client for the tests that drive Switchyard from Python: installed
 * once into `.tools/` (git-ignored, as the Temporal binaries are) and run in a subprocess with
 * `test/support/py/responses_client.py`.
 *
 * `pip install --target` rather than a venv: the folder is relocatable, so it is installed under a
 * temporary name and published with one `rename`. A folder under the final name is therefore
 * complete, and two Jest workers installing at once both succeed (the loser deletes its copy).
 * Only binary wheels, so nothing is compiled; pip reaches PyPI (or the machine's index) only.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { pythonOnPath, TOOLS_DIR } from '../../src/temporal/binaries';

export const PY_OPENAI_VERSION = '3.51.0';

export interface PythonClient {
  /** The interpreter (its real path, not a shim). */
  python: string;
  /** What the driver runs with: the installed client first on its path, nothing of the user's site. */
  env: NodeJS.ProcessEnv;
  /** Where the client is installed. */
  dir: string;
}

const run = promisify(execFile);

/** The Python the Temporal binaries are fetched with, its real executable and its tag (`311` for 3.11). */
async function findPython(): Promise<{ python: string; tag: string }> {
  const { stdout } = await run(pythonOnPath(process.env.PATH), [
    '-c',
    'import sys; print(sys.executable); print(f"{sys.version_info[0]}{sys.version_info[1]}")',
  ]);
  const [python, tag] = stdout.trim().split('\n');
  if (!python || !tag?.startsWith('3'))
    throw new Error(`The Python client tests need Python 3 (found ${stdout.trim()}).`);
  return { python, tag };
}

/** A set of pinned packages installed together into `.tools/<name>-cp<tag>` (binary wheels only). */
export interface PythonPackages {
  /** The folder's name (with the versions, so a new pin installs anew). */
  name: string;
  requirements: string[];
  /** A file the installed folder must hold (relative to it): the install is complete. */
  marker: string;
}

export const OPENAI_PACKAGES: PythonPackages = {
  name: `py-openai-${PY_OPENAI_VERSION}`,
  requirements: [`openai==${PY_OPENAI_VERSION}`],
  marker: 'openai/__init__.py',
};

const ensured = new Map<string, Promise<PythonClient>>();

/**
 * The installed client, installing it first when `.tools/` has none for this interpreter. Safe to
 * call from several test files at once (in one process the install runs once; across processes the
 * rename decides). Slow only the first time (pip: seconds to a minute): call it in a beforeAll with
 * a generous timeout.
 */
export function ensurePythonClient(toolsDir = TOOLS_DIR): Promise<PythonClient> {
  return ensurePythonPackages(OPENAI_PACKAGES, toolsDir);
}

/** Any pinned set of packages, as `ensurePythonClient` installs the openai client. */
export function ensurePythonPackages(pkgs: PythonPackages, toolsDir = TOOLS_DIR): Promise<PythonClient> {
  const key = `${toolsDir}|${pkgs.name}`;
  let p = ensured.get(key);
  if (!p) {
    p = install(pkgs, toolsDir).catch((err: unknown) => {
      ensured.delete(key); // a later call tries again
      throw err;
    });
    ensured.set(key, p);
  }
  return p;
}

async function install(pkgs: PythonPackages, toolsDir: string): Promise<PythonClient> {
  const installed = (dir: string) => fs.existsSync(path.join(dir, pkgs.marker));
  const { python, tag } = await findPython();
  const dir = path.join(toolsDir, `${pkgs.name}-cp${tag}`);
  const client = { python, dir, env: { PYTHONPATH: dir, PYTHONNOUSERSITE: '1', PYTHONUNBUFFERED: '1' } };
  if (installed(dir)) return client;
  fs.mkdirSync(toolsDir, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    await run(
      python,
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-input',
        '--quiet',
        '--only-binary=:all:',
        '--target',
        tmp,
        ...pkgs.requirements,
      ],
      { maxBuffer: 16 * 1024 * 1024, timeout: 280_000 },
    );
    if (!installed(tmp)) throw new Error(`pip finished but ${tmp} holds no ${pkgs.marker}`);
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // Another worker published it first: theirs is as good as ours.
      if (!installed(dir)) throw err;
    }
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(
      `Could not install ${pkgs.requirements.join(' ')} for ${python} into ${dir} ` +
        `(pip install --only-binary=:all: --target …): ${stderr || (err instanceof Error ? err.message : String(err))}`,
      { cause: err },
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return client;
}

/** The driver script (`<scenario> <base_url> <api_key> <model> [options as JSON]`). */
export const DRIVER = path.join(__dirname, 'py', 'responses_client.py');

export interface DriverRun {
  /** The JSON lines printed so far (the driver prints one per step). */
  lines: Array<Record<string, unknown>>;
  /** Resolves with the exit code and everything printed, once the driver exits. */
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves with the first line that `match` accepts (rejects if the driver exits first). */
  line(match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/**
 * Starts the driver in a subprocess (asynchronously: the in-process API under test keeps serving).
 * Only 127.0.0.1 is reached: `base_url` is the stack's, and no proxy applies to it.
 */
export function startDriver(
  client: PythonClient,
  scenario: string,
  target: { baseURL: string; apiKey: string },
  model: string,
  options: Record<string, unknown> = {},
): DriverRun {
  const proc = spawn(client.python, [DRIVER, scenario, target.baseURL, target.apiKey, model, JSON.stringify(options)], {
    env: { ...process.env, ...client.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiting: Array<{
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }> = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    partial += d.toString();
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    for (const text of complete) {
      if (!text.trim()) continue;
      // A line that is not JSON (a stray print, a warning) is kept as text rather than thrown
      // out of the stream handler, where it would be an uncaught exception.
      let l: Record<string, unknown>;
      try {
        l = JSON.parse(text) as Record<string, unknown>;
      } catch {
        l = { text };
      }
      lines.push(l);
      for (const w of waiting.filter((x) => x.match(l))) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    lines,
    exited,
    line(match) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiting.push({ match, resolve });
        exited.then(
          ({ code }) =>
            reject(new Error(`the driver exited (${code}) before printing the line awaited:\n${stdout}\n${stderr}`)),
          reject,
        );
      });
    },
  };
}

/** Runs one scenario to its end; throws with the driver's output when it exits other than with 0. */
export async function runDriver(
  client: PythonClient,
  scenario: string,
  target: { baseURL: string; apiKey: string },
  model: string,
  options: Record<string, unknown> = {},
): Promise<Array<Record<string, unknown>>> {
  const d = startDriver(client, scenario, target, model, options);
  const { code, stdout, stderr } = await d.exited;
  if (code !== 0) throw new Error(`responses_client.py ${scenario} exited with ${code}:\n${stdout}\n${stderr}`);
  return d.lines;
}
