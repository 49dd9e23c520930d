/**
 * Starts `temporal server start-dev` as a child process for the all-in-one `npm start`:
 * history persisted in SQLite under the data folder (a restart keeps every workflow), the Web UI,
 * and Switchyard's search attributes registered. Stopped with SIGTERM; killed if it lingers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { devServerSearchAttributeArgs } from './searchAttributes';

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
  process: ChildProcess;
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
    'server',
    'start-dev',
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
  const child = spawn(opts.cliPath, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
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
        child.kill('SIGKILL');
        throw new Error(`Temporal dev server did not become ready on ${address}: ${String(err)}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  return {
    address,
    uiUrl: opts.ui ? `http://127.0.0.1:${opts.uiPort}` : undefined,
    process: child,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
