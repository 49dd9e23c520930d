/**
 * Starts `temporal server start-dev` as a child process for the all-in-one `npm start`:
 * history persisted in SQLite under the data folder (a restart keeps every workflow), the Web UI,
 * and Switchyard's search attributes registered. Stopped with SIGTERM; killed if it lingers.
 *
 * It never outlives us. The CLI has no parent-death option, so it runs under a small Node
 * watchdog (WATCHDOG below) in a process group of its own: Ctrl-C reaches only us, and we stop
 * the server last, after the workers that need it. The watchdog reads a pipe from us and stops the
 * server when that pipe closes, which the kernel does however we end (SIGKILL included); on our
 * own exit, whatever the path, we also SIGKILL the group synchronously.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { devServerSearchAttributeArgs } from './searchAttributes';

/**
 * The dev server asks version-info.temporal.io for updates unless told not to: a call out of the
 * machine that no test or offline deployment should make (seen as DNS queries in a capture of CI).
 */
export const NO_VERSION_CHECK = ['--dynamic-config-value', 'frontend.enableServerVersionCheck=false'];

export interface DevServerOptions {
  cliPath: string;
  dataDir: string;
  port: number;
  uiPort: number;
  ui: boolean;
  namespace: string;
  /** Where the server's own log goes (it is chatty); defaults to `<dataDir>/temporal.log`. */
  logFile?: string;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  /** The watchdog (see WATCHDOG); the server is its only child. */
  process: ChildProcess;
  /** The server's own pid (CPU figures in the benchmarks, checks that nothing is left). */
  serverPid: number;
  stop(): Promise<void>;
}

/** Whether something listens on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** How long the server gets to stop on SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

/**
 * The watchdog (`node -e WATCHDOG <cli> <args…>`), plain JavaScript so it starts in milliseconds
 * without a loader: runs the CLI as its child, passes its exit code on, and stops it on SIGTERM,
 * SIGINT or SIGHUP, or when its stdin (our pipe) closes, i.e. when we are gone; SIGKILL if it lingers.
 */
export const WATCHDOG = `
const { spawn } = require('node:child_process');
const [cli, ...args] = process.argv.slice(1);
const child = spawn(cli, args, { stdio: ['ignore', 'inherit', 'inherit'] });
if (child.pid !== undefined) require('node:fs').writeSync(3, String(child.pid) + '\\n');
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), ${STOP_GRACE_MS - 1_000}).unref();
};
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
child.on('error', (err) => {
  process.stderr.write(String(err) + '\\n');
  process.exit(127);
});
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
`;

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  fs.mkdirSync(opts.dataDir, { recursive: true });
  for (const [name, port] of [
    ['TEMPORAL_DEV_PORT', opts.port],
    ...(opts.ui ? [['TEMPORAL_UI_PORT', opts.uiPort]] : []),
  ] as const) {
    if (await portInUse(port as number)) {
      throw new Error(
        `Port ${port} is already in use (${name}). Stop the other process or set ${name} to a free port.`,
      );
    }
  }
  const args = [
    ...['server', 'start-dev', ...NO_VERSION_CHECK],
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--db-filename',
    path.join(opts.dataDir, 'temporal.sqlite'),
    '--namespace',
    opts.namespace,
    '--log-level',
    'warn',
    // Write-ahead log, fsync at checkpoints: several times the throughput of SQLite's defaults
    // (BENCHMARKS.md). A process crash loses nothing; a power cut may lose the last transactions.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    ...devServerSearchAttributeArgs(),
    ...(opts.ui ? ['--ui-port', String(opts.uiPort), '--ui-disable-news-fetch'] : ['--headless']),
  ];
  const log = fs.openSync(opts.logFile ?? path.join(opts.dataDir, 'temporal.log'), 'a');
  const child = spawn(process.execPath, ['-e', WATCHDOG, opts.cliPath, ...args], {
    // stdin is the pipe the watchdog watches; NODE_OPTIONS (a test runner's loader) is not for it.
    stdio: ['pipe', log, log, 'pipe'],
    detached: true,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  fs.closeSync(log);
  let exited = false;
  // The group (watchdog and server): every exit path of ours kills it, synchronously. By group, so
  // a server whose watchdog died alone goes too.
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  let stopped = false;
  process.on('exit', () => stopped || killGroup('SIGKILL'));
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  // Our end of the pipe must not keep the event loop alive; the watchdog never writes to it.
  child.stdin!.on('error', () => undefined);
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  // The watchdog writes the server's pid on fd 3 once it has spawned it.
  let serverPid: number | undefined;
  const pidPipe = child.stdio[3] as NodeJS.ReadableStream;
  pidPipe.setEncoding('utf8');
  (pidPipe as unknown as { unref?: () => void }).unref?.();
  pidPipe.on('data', (d: string) => (serverPid ??= Number.parseInt(d, 10) || undefined));
  const address = `127.0.0.1:${opts.port}`;

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      const logFile = opts.logFile ?? path.join(opts.dataDir, 'temporal.log');
      const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new Error(`temporal server start-dev exited early (log: ${logFile}):\n${tail}`);
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        killGroup('SIGKILL');
        throw new Error(`Temporal dev server did not become ready on ${address}: ${String(err)}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  return {
    address,
    uiUrl: opts.ui ? `http://127.0.0.1:${opts.uiPort}` : undefined,
    process: child,
    serverPid: serverPid ?? child.pid!,
    async stop() {
      if (stopped) return;
      if (!exited) {
        killGroup('SIGTERM');
        const timer = setTimeout(() => killGroup('SIGKILL'), STOP_GRACE_MS);
        await exit;
        clearTimeout(timer);
      }
      killGroup('SIGKILL'); // nothing of the group outlives the watchdog
      stopped = true;
    },
  };
}
