/**
 * Issue 28, finding 15: with a client stuck in a request, Ctrl-C hung at "stopping…", and a forced
 * exit left the Temporal dev server running. Switchyard runs here as `npm start` runs it (its own
 * process group, a dev server of its own on free ports, a fresh data folder or database), with
 * clients that never finish: an upload fed a byte at a time, a chat body half sent, a keep-alive
 * connection left open after its answer, a stream whose provider (a fake, on 127.0.0.1) has stalled
 * with its call in flight on the worker. Then:
 *  - Ctrl-C (SIGINT to the group): the process exits within the stop's bound (10 s by default,
 *    SWITCHYARD_SHUTDOWN_TIMEOUT_MS), saying whether it stopped or abandoned a stuck step, and none
 *    of its descendants (the dev server above all) is left;
 *  - a bound no stop can meet (1 ms): exit 1 naming the step it abandoned, and still nothing left
 *    (the exit path itself kills the dev server);
 *  - SIGKILL of the Switchyard process alone (its group is not signalled, so nothing but our own
 *    design can stop the dev server): the dev server goes within seconds.
 * Descendants are found by pid in /proc (Linux), before the signal, and checked by pid after it.
 */
import fs from 'node:fs';
import net from 'node:net';
import { dbKinds, isolatedDatabaseUrl, type DbKind } from '../support/db';
import { startFakeProvider, type FakeProvider } from '../support/fakeProvider';
import { listening, useProcesses, type Stack, type StackPorts } from '../support/process';

const KEY = 'sk-sy-shutdown-test-key-0123456789';
/** The default bound of a stop (config.ts), and what a busy machine may add to it. */
const BOUND_MS = 10_000;
const MODEL = 'gpt-4o-mini';
const CHAT = JSON.stringify({ model: `openai/${MODEL}`, messages: [{ role: 'user', content: 'Hello' }] });
const MARGIN_MS = 10_000;

interface Proc {
  pid: number;
  cmdline: string;
}

const readProc = (pid: number, file: string): string | undefined => {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
};

/** Every process below `root`, by parent pid in /proc. */
function descendants(root: number): Proc[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readProc(pid, 'stat');
    // "pid (comm) state ppid …": comm may hold spaces, so read after its closing parenthesis.
    if (stat) parentOf.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const found: Proc[] = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const [pid, ppid] of parentOf)
      if (ppid === parent) {
        found.push({ pid, cmdline: (readProc(pid, 'cmdline') ?? '').replaceAll('\0', ' ') });
        queue.push(pid);
      }
  }
  return found;
}

/** Still running: present, not a zombie, and the same program (a pid is not reused in seconds, but check). */
function alive(p: Proc): boolean {
  const stat = readProc(p.pid, 'stat');
  if (!stat || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
  return (readProc(p.pid, 'cmdline') ?? '').replaceAll('\0', ' ') === p.cmdline;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !(await cond());) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The process's exit code, or a failure if it has not exited by `ms`. */
function exitWithin(stack: Stack, ms: number): Promise<number | null> {
  return Promise.race([
    stack.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still running ${ms} ms after the signal:\n${stack.output()}`)), ms).unref(),
    ),
  ]);
}

describe.each(dbKinds())('stopping with stuck clients (%s)', (kind: DbKind) => {
  let fake: FakeProvider;
  let below: Proc[] = [];
  const sockets: net.Socket[] = [];
  const timers: NodeJS.Timeout[] = [];

  beforeAll(async () => {
    fake = await startFakeProvider('openai');
  });
  afterAll(async () => {
    await fake?.close();
  });
  afterEach(() => {
    timers.splice(0).forEach(clearInterval);
    sockets.splice(0).forEach((s) => s.destroy());
    // Whatever a failed test left: anything of its group that escaped (the group itself is the fixture's).
    for (const p of below.filter(alive)) process.kill(p.pid, 'SIGKILL');
    below = [];
  });
  // After the hook above: each test's process, SIGKILLed with its group if a failed test left it, and its data folder.
  const procs = useProcesses({ scope: 'test', leftover: 'kill', dataDirPrefix: 'sy-shutdown-' });

  async function start(extraEnv: NodeJS.ProcessEnv = {}): Promise<{ stack: Stack; ports: StackPorts; base: string }> {
    const databaseUrl = kind === 'postgres' ? await isolatedDatabaseUrl() : undefined;
    const started = await procs.startOnFreePorts((p) => ({
      PORT: String(p.api),
      TEMPORAL_DEV_PORT: String(p.temporal),
      TEMPORAL_UI_PORT: String(p.ui),
      TEMPORAL_UI: 'false',
      SWITCHYARD_DATA_DIR: procs.dataDir,
      SWITCHYARD_BOOTSTRAP_KEY: KEY,
      SWITCHYARD_SIMULATED_PROVIDER: 'off',
      OPENAI_API_KEY: 'sk-fake',
      OPENAI_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: '',
      LOG_LEVEL: 'warn',
      DATABASE_URL: databaseUrl ?? '',
      ...extraEnv,
    }));
    below = descendants(started.stack.proc.pid!);
    // The dev server is among them (else this test would prove nothing about it).
    expect(
      below.some((p) => p.cmdline.includes('server start-dev') && p.cmdline.includes(`${started.ports.temporal}`)),
    ).toBe(true);
    return { ...started, base: `http://127.0.0.1:${started.ports.api}` };
  }

  /** A raw HTTP request that sends its head and part of its body, then never finishes. */
  async function stuck(port: number, head: string, body: string, trickle: boolean): Promise<net.Socket> {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    socket.write(`${head}\r\n\r\n${body}`);
    // Fed a byte at a time: a slow client, not an idle one.
    if (trickle) timers.push(setInterval(() => socket.writable && socket.write('x'), 300));
    return socket;
  }

  async function holdClients(ports: StackPorts, base: string) {
    const boundary = 'sy-shutdown-boundary';
    await stuck(
      ports.api,
      [
        'POST /v1/files HTTP/1.1',
        'Host: 127.0.0.1',
        `Authorization: Bearer ${KEY}`,
        `Content-Type: multipart/form-data; boundary=${boundary}`,
        'Content-Length: 50000000',
      ].join('\r\n'),
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${boundary}\r\n` +
        'Content-Disposition: form-data; name="file"; filename="slow.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n' +
        '{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"model":"auto","messages":[{"role":"user","content":"',
      true,
    );
    await stuck(
      ports.api,
      [
        'POST /v1/chat/completions HTTP/1.1',
        'Host: 127.0.0.1',
        `Authorization: Bearer ${KEY}`,
        'Content-Type: application/json',
        'Content-Length: 100000',
      ].join('\r\n'),
      '{"model":"auto","messages":[{"role":"user","content":"',
      false,
    );
    // A keep-alive connection left open after a routed request's answer (through the worker).
    const idle = await stuck(
      ports.api,
      [
        'POST /v1/chat/completions HTTP/1.1',
        'Host: 127.0.0.1',
        `Authorization: Bearer ${KEY}`,
        'Content-Type: application/json',
        'Connection: keep-alive',
        `Content-Length: ${Buffer.byteLength(CHAT)}`,
      ].join('\r\n'),
      CHAT,
      false,
    );
    let answer = '';
    idle.on('data', (d: Buffer) => (answer += d.toString()));
    await until('the keep-alive request answered', () => /"chat\.completion"/.test(answer), 60_000);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    // A stream whose provider sends its opening and then nothing: its call stays in flight.
    fake.reset();
    fake.setDefault(MODEL, { kind: 'ok', content: 'never finished', stallAfter: 1 });
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: `openai/${MODEL}`, stream: true, messages: [{ role: 'user', content: 'hold' }] }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false); // the stream is open
    await until('the provider call in flight', () => fake.callsFor(MODEL).length > 0, 30_000);
    // Meanwhile the service answers (the stuck clients hold nothing others need).
    expect((await fetch(`${base}/health`, { signal: AbortSignal.timeout(5_000) })).status).toBe(200);
    return reader;
  }

  it('Ctrl-C exits within the bound, and leaves no process behind', async () => {
    const { stack: s, ports, base } = await start();
    const reader = await holdClients(ports, base);

    const sent = Date.now();
    // Ctrl-C sent here, not through procs.stop: how long the exit takes is what is tested.
    process.kill(-s.proc.pid!, 'SIGINT');
    const code = await exitWithin(s, BOUND_MS + MARGIN_MS);
    const took = Date.now() - sent;
    void reader.cancel().catch(() => undefined);

    // Either it stopped, or it abandoned what was stuck at the bound and said so with code 1.
    const out = s.output();
    if (code === 0) expect(out).toContain('Stopped.');
    else {
      expect(code).toBe(1);
      expect(out).toMatch(/Stopping did not finish within 10 s \(still [^)]+\): exiting without it\./);
      expect(took).toBeGreaterThanOrEqual(BOUND_MS - 500);
    }
    // Nothing of it is left: the dev server and its watchdog, by pid, and their ports.
    await until('no descendant left', () => below.every((p) => !alive(p)), 5_000);
    for (const port of [ports.api, ports.temporal]) expect(await listening(port)).toBe(false);
  }, 240_000);

  it('a stop that overruns its bound is abandoned: exit 1 naming the stuck step, and still no process behind', async () => {
    // A bound no stop can meet: the deadline's exit path, taken for sure.
    const { stack: s, ports, base } = await start({ SWITCHYARD_SHUTDOWN_TIMEOUT_MS: '1' });
    await holdClients(ports, base);

    process.kill(-s.proc.pid!, 'SIGINT');
    expect(await exitWithin(s, MARGIN_MS)).toBe(1);
    expect(s.output()).toMatch(/Stopping did not finish within 0\.001 s \(still [^)]+\): exiting without it\./);
    // The exit itself kills the dev server's group: nothing is left, by pid.
    await until('no descendant left', () => below.every((p) => !alive(p)), 5_000);
    expect(await listening(ports.temporal)).toBe(false);
  }, 240_000);

  it('SIGKILL of the process alone: its dev server goes within seconds', async () => {
    const { stack: s, ports, base } = await start();
    await holdClients(ports, base);

    await procs.kill(s, { group: false }); // the process only, not its group: a crash, an OOM kill
    await until(
      `the dev server gone (${below.map((p) => `${p.pid}: ${p.cmdline.slice(0, 60)}`).join('; ')})`,
      () => below.every((p) => !alive(p)),
      15_000,
    );
    expect(await listening(ports.temporal)).toBe(false);
  }, 240_000);
});
