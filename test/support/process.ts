/**
 * Runs Switchyard as a separate process, exactly as `npm start` runs it (`tsx src/main.ts all`),
 * in its own process group: SIGINT to the group is what Ctrl-C in a terminal does, SIGKILL is a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

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

export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Stack {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function startStack(env: NodeJS.ProcessEnv): Promise<Stack> {
  // As `npm start` runs it: one node process with tsx as a loader (no tsx parent process relaying
  // signals: it SIGKILLs a child that is slow to acknowledge one, which breaks graceful shutdown).
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'all'], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
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
