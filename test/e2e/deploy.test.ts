/**
 * The deployable image and compose file, checked without a Docker engine: the Dockerfile and
 * docker-compose.yml are parsed and checked against the code (every service, port, command and
 * variable they name), and the image's own commands are run here: `npm run build`, then
 * `node dist/src/main.js` as the image starts it, all in one and (on PostgreSQL, as compose
 * runs it) as a worker and an API with compose's variables.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { parse } from 'yaml';
import { EnvSchema } from '../../src/config';
import { ensureBinary, TEMPORAL_CLI } from '../../src/temporal/binaries';
import { SEARCH_ATTRIBUTES } from '../../src/temporal/searchAttributes';
import { dbKinds, isolatedDatabaseUrl } from '../support/db';
import { freePort, stopStack, type Stack } from '../support/process';
import { testRedisUrl } from '../support/stack';
import { NO_VERSION_CHECK } from '../../src/temporal/devServer';

const ROOT = path.resolve(__dirname, '..', '..');

interface Instruction {
  op: string;
  args: string;
}
/** The Dockerfile's stages, each a list of instructions (continuation lines joined). */
function dockerStages(): Instruction[][] {
  const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages: Instruction[][] = [];
  for (const line of text.split('\n')) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m || line.trim().startsWith('#')) continue;
    if (m[1] === 'FROM') stages.push([]);
    stages.at(-1)!.push({ op: m[1]!, args: m[2]! });
  }
  return stages;
}

const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      build?: string;
      image?: string;
      command?: string[];
      environment?: Record<string, string | number>;
      ports?: string[];
      healthcheck?: { test: string[] };
      depends_on?: Record<string, unknown> | string[];
    }
  >;
};

describe('Dockerfile', () => {
  const [build, run] = dockerStages();

  it('builds with the lockfile and `npm run build`, and runs compiled code as a non-root user', () => {
    expect(dockerStages()).toHaveLength(2);
    const runs = build!.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs[0]).toMatch(/^npm ci\b/);
    expect(runs[1]).toMatch(/^npm run build\b/);
    const user = run!.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    const cmd = JSON.parse(run!.find((i) => i.op === 'CMD')!.args) as string[];
    expect(cmd).toEqual(['node', 'dist/src/main.js', 'api']);
    expect(run!.map((i) => i.args).join('\n')).not.toMatch(/tsx/);
  });

  it('copies only what exists: the sources into the build, the build into the image', () => {
    for (const i of build!.filter((x) => x.op === 'COPY')) {
      const sources = i.args.split(/\s+/).slice(0, -1);
      for (const s of sources) expect(fs.existsSync(path.join(ROOT, s))).toBe(true);
    }
    // What the run stage copies from the build stage comes out of `npm run build` (checked below).
    const fromBuild = run!.filter((x) => x.op === 'COPY').map((x) => x.args.split(/\s+/)[1]!);
    expect(fromBuild).toEqual(['/app/package.json', '/app/node_modules', '/app/dist']);
  });
});

describe('docker-compose.yml', () => {
  const s = compose.services;
  const envNames = new Set(Object.keys(EnvSchema.shape));

  it('runs PostgreSQL, Temporal on it, its UI, Redis, a worker and the API, with health checks', () => {
    expect(Object.keys(s).sort()).toEqual(['api', 'postgres', 'redis', 'temporal', 'temporal-ui', 'worker']);
    for (const name of ['postgres', 'temporal', 'redis', 'worker', 'api']) expect(s[name]!.healthcheck).toBeDefined();
    expect(s.temporal!.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
    for (const svc of Object.values(s))
      for (const dep of Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {}))
        expect(Object.keys(s)).toContain(dep);
  });

  it('starts the worker and the API as the image does, with the variables `npm start` reads', () => {
    const cmd = JSON.parse(dockerStages()[1]!.find((i) => i.op === 'CMD')!.args) as string[];
    expect(s.worker!.command).toEqual([...cmd.slice(0, -1), 'worker']);
    expect(s.api!.command).toEqual(cmd);
    for (const svc of [s.worker!, s.api!]) {
      expect(svc.build).toBe('.');
      for (const name of Object.keys(svc.environment ?? {})) expect(envNames).toContain(name);
    }
    // The addresses name services of this file.
    const env = s.api!.environment!;
    expect(new URL(String(env.DATABASE_URL)).hostname).toBe('postgres');
    expect(new URL(String(env.REDIS_URL)).hostname).toBe('redis');
    expect(String(env.TEMPORAL_ADDRESS).split(':')[0]).toBe('temporal');
    // Ports and health checks agree with the variables.
    expect(s.api!.ports).toEqual([`${env.PORT}:${env.PORT}`]);
    expect(s.api!.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${env.PORT}/health/ready`);
    const workerPort = s.worker!.environment!.SWITCHYARD_WORKER_HEALTH_PORT;
    expect(s.worker!.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${workerPort}/health/ready`);
  });
});

describe('the image commands, run here', () => {
  let env: TestWorkflowEnvironment;
  const running: Stack[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    // The build stage's command, as the Dockerfile runs it.
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'pipe' });
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        extraArgs: NO_VERSION_CHECK,
        executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_CLI) },
        searchAttributes: SEARCH_ATTRIBUTES,
      },
    });
  }, 300_000);

  afterAll(async () => {
    for (const s of running) if (s.proc.exitCode === null && s.proc.signalCode === null) await stopStack(s);
    await env?.teardown();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('`npm run build` leaves what the image copies: compiled code, migrations, the workflow bundle', () => {
    for (const f of ['dist/src/main.js', 'dist/workflow-bundle.js', 'dist/src/db/migrations/001_init.sql'])
      expect(fs.existsSync(path.join(ROOT, f))).toBe(true);
  });

  /** `node dist/src/main.js <role>` with the image's environment (its paths under this checkout). */
  async function start(role: string, extra: Record<string, string>) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-deploy-'));
    dirs.push(dir);
    const imageEnv = Object.fromEntries(
      dockerStages()[1]!
        .filter((i) => i.op === 'ENV')
        .flatMap((i) => i.args.split(/\s+/).map((kv) => kv.split('=') as [string, string])),
    );
    const proc = spawn(process.execPath, ['dist/src/main.js', role], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        ...imageEnv,
        SWITCHYARD_WORKFLOW_BUNDLE: imageEnv.SWITCHYARD_WORKFLOW_BUNDLE!.replace('/app/', `${ROOT}/`),
        SWITCHYARD_DATA_DIR: dir,
        HOST: '127.0.0.1',
        TEMPORAL_ADDRESS: env.address,
        SWITCHYARD_SIMULATED_PROVIDER: 'on',
        SWITCHYARD_BOOTSTRAP_KEY: 'sk-deploy-test-0000000000',
        ...extra,
      },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const stack: Stack = { proc, output: () => out, exited };
    running.push(stack);
    const until = Date.now() + 90_000;
    while (!out.includes('Press Ctrl-C to stop.')) {
      if (proc.exitCode !== null || Date.now() > until) throw new Error(`${role} did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return stack;
  }

  async function answers(apiPort: number) {
    const base = `http://127.0.0.1:${apiPort}`;
    const ready = await fetch(`${base}/health/ready`);
    expect({ status: ready.status, body: await ready.json() }).toMatchObject({ status: 200 });
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-deploy-test-0000000000', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'Hello' }] }),
    });
    const body = (await res.json()) as { object: string };
    expect({ status: res.status, body }).toMatchObject({ status: 200, body: { object: 'chat.completion' } });
  }

  it('`node dist/src/main.js all` starts the API and the worker, and answers', async () => {
    const port = await freePort();
    const sdkMetrics = await freePort();
    const all = await start('all', { PORT: String(port), SWITCHYARD_TEMPORAL_METRICS_PORT: String(sdkMetrics) });
    await answers(port);
    // The Temporal SDK's own worker metrics, from its runtime's Prometheus exporter.
    const sdk = await (await fetch(`http://127.0.0.1:${sdkMetrics}/metrics`)).text();
    expect(sdk).toMatch(/^temporal_\w+/m);
    expect(sdk).toContain('temporal_worker_task_slots_available');
    // Stopped now: its worker must not take the next test's workflows (same task queue).
    await stopStack(all);
  });

  const postgres = dbKinds().includes('postgres');
  (postgres ? it : it.skip)('as compose runs them: a worker and an API process with compose variables', async () => {
    const apiPort = await freePort();
    const workerPort = await freePort();
    const shared = { DATABASE_URL: await isolatedDatabaseUrl(), REDIS_URL: testRedisUrl() };
    await start('worker', { ...shared, SWITCHYARD_WORKER_HEALTH_PORT: String(workerPort) });
    await start('api', { ...shared, PORT: String(apiPort) });
    const ready = await fetch(`http://127.0.0.1:${workerPort}/health/ready`);
    expect({ status: ready.status, body: await ready.json() }).toMatchObject({ status: 200 });
    await answers(apiPort);
    // The worker's own metrics on its internal port: the provider call it just made.
    const worker = await (await fetch(`http://127.0.0.1:${workerPort}/metrics`)).text();
    expect(worker).toMatch(/^switchyard_provider_call_duration_seconds_count\{.*outcome="success"\} 1$/m);
  });
});
