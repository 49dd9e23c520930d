/**
 * Runs Switchyard as a separate process, exactly as `npm start` runs it (`tsx src/main.ts all`),
 * in its own process group: SIGINT to the group is what Ctrl-C in a terminal does, SIGKILL is a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { portInUse } from '../../src/temporal/devServer';

const ROOT = path.resolve(__dirname, '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something listens on the port (the dev server's own check). */
export const listening = portInUse;

export interface Stack {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * What would enable a real provider (or let the AWS SDK look for credentials), blanked unless a
 * test sets it: a test stack calls only its fakes, whatever the machine's environment holds.
 */
const NO_REAL_PROVIDERS: NodeJS.ProcessEnv = Object.fromEntries(
  [
    'OPENAI_API_KEY',
    'ANTHROPIC_API_KEY',
    'GEMINI_API_KEY',
    'GOOGLE_API_KEY',
    'AZURE_OPENAI_API_KEY',
    'AZURE_OPENAI_ENDPOINT',
    'HF_TOKEN',
    ...Object.keys(process.env).filter((k) => k.startsWith('AWS_')),
  ].map((k) => [k, '']),
);

/** `all` as `npm start` runs it; `worker` and `api` as `npm run worker` / `npm run api` do. */
export function startStack(env: NodeJS.ProcessEnv, role: 'all' | 'worker' | 'api' = 'all'): Promise<Stack> {
  // As `npm start` runs it: one node process with tsx as a loader (no tsx parent process relaying
  // signals: it SIGKILLs a child that is slow to acknowledge one, which breaks graceful shutdown).
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', role], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...NO_REAL_PROVIDERS, ...env },
    detached: true, // own process group, so SIGINT to the group is what Ctrl-C in a terminal does
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack did not start in 90 s:\n${out}`)), 90_000);
    const check = setInterval(() => {
      if (out.includes('Press Ctrl-C to stop.')) {
        clearInterval(check);
        clearTimeout(timer);
        resolve({ proc, output: () => out, exited });
      }
    }, 100);
    void exited.then((code) => {
      clearInterval(check);
      clearTimeout(timer);
      reject(new Error(`stack exited with ${code} before starting:\n${out}`));
    });
  });
}

export async function stopStack(stack: Stack): Promise<number | null> {
  process.kill(-stack.proc.pid!, 'SIGINT');
  return stack.exited;
}

/** A crash: SIGKILL to the whole process group, nothing gets to clean up. */
export async function killStack(stack: Stack): Promise<void> {
  process.kill(-stack.proc.pid!, 'SIGKILL');
  await stack.exited;
}

export interface StackPorts {
  api: number;
  temporal: number;
  ui: number;
}

/**
 * Starts a stack on free ports, retrying with new ones when a port was taken between choosing
 * and binding it (tests run in parallel, and dev servers pick random ports of their own).
 */
export async function startStackOnFreePorts(
  env: (ports: StackPorts) => NodeJS.ProcessEnv,
  tries = 3,
): Promise<{ stack: Stack; ports: StackPorts }> {
  for (let i = 1; ; i++) {
    const ports = { api: await freePort(), temporal: await freePort(), ui: await freePort() };
    try {
      return { stack: await startStack(env(ports)), ports };
    } catch (err) {
      if (i >= tries || !/exited early|already in use|EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

export interface ProcessFixture {
  /** A temporary directory for the processes (SWITCHYARD_DATA_DIR…), removed when they are cleaned up. */
  readonly dataDir: string;
  /** `startStack`, and the process is ended at clean-up if it is still running then. */
  start(env: NodeJS.ProcessEnv, role?: 'all' | 'worker' | 'api'): Promise<Stack>;
  /** `startStackOnFreePorts`, likewise ended at clean-up if still running. */
  startOnFreePorts(env: (ports: StackPorts) => NodeJS.ProcessEnv): Promise<{ stack: Stack; ports: StackPorts }>;
  /** SIGINT to the process group; its output's end is printed when it exits other than with 0. */
  stop(stack: Stack): Promise<number | null>;
  /**
   * A crash: SIGKILL to the process group, or with `{ group: false }` to the process alone (its
   * children, the dev server among them, are left to notice). Resolves once it has exited.
   */
  kill(stack: Stack, opts?: { group?: boolean }): Promise<void>;
}

export interface UseProcessesOptions {
  dataDirPrefix?: string;
  /**
   * `file` (the default): clean-up in afterAll. `test`: after each test, so the next test starts
   * with no process of the last one running and a fresh data directory.
   */
  scope?: 'file' | 'test';
  /**
   * How clean-up ends a process still running: `stop` (SIGINT, the default) or `kill` (SIGKILL
   * to its group), for files whose failed test may leave a process that would not stop cleanly.
   */
  leftover?: 'stop' | 'kill';
}

const running = (s: Stack) => s.proc.exitCode === null && s.proc.signalCode === null;

/**
 * The processes of one test file or `describe` (or of each test, `scope: 'test'`): a temporary data
 * directory (made when first used); at clean-up every process it started that still runs is ended
 * and the directory removed. Declare it before the hooks of what the processes use: afterAll and
 * afterEach hooks run in declaration order.
 */
export function useProcesses(opts: UseProcessesOptions = {}): ProcessFixture {
  let dir: string | undefined;
  const started: Stack[] = [];
  const track = (s: Stack) => (started.push(s), s);
  const cleanUp = async () => {
    for (const s of started.splice(0).filter(running)) {
      if (opts.leftover === 'kill') await killStack(s);
      else await stopStack(s);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  };
  if (opts.scope === 'test') afterEach(cleanUp);
  else afterAll(cleanUp);
  return {
    // Made on first use: files whose processes keep their data elsewhere get no directory.
    get dataDir() {
      return (dir ??= fs.mkdtempSync(path.join(os.tmpdir(), opts.dataDirPrefix ?? 'sy-proc-')));
    },
    start: async (env, role) => track(await startStack(env, role)),
    startOnFreePorts: async (env) => {
      const result = await startStackOnFreePorts(env);
      track(result.stack);
      return result;
    },
    async stop(stack) {
      const code = await stopStack(stack);
      if (code !== 0) console.log(stack.output().slice(-3000));
      return code;
    },
    async kill(stack, { group = true } = {}) {
      if (group) return killStack(stack);
      stack.proc.kill('SIGKILL');
      await stack.exited;
    },
  };
}
