/**
 * The deployable image and compose file, checked without a Docker engine: the Dockerfile and
 * docker-compose.yml are parsed and checked against the code (every service, port, command and
 * variable they name), and the image's own commands are run here: `npm run build`, then
 * `node dist/src/main.js` as the image starts it, all in one and (on PostgreSQL, as compose
 * runs it) as a worker and an API with compose's variables. The image is on Node 22 while these
 * tests run on the machine's Node 20: the lockfile's production packages must admit both.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { parse } from 'yaml';
import { EnvSchema } from '../../src/config';
import { defaultCatalog } from '../../src/domain/catalog';
import { parseConfigText } from '../../src/services/configFile';
import { ensureBinary, TEMPORAL_CLI } from '../../src/temporal/binaries';
import { SEARCH_ATTRIBUTES } from '../../src/temporal/searchAttributes';
import { dbKinds, isolatedDatabaseUrl } from '../support/db';
import { freePort, stopStack, type Stack } from '../support/process';
import { testRedisUrl } from '../support/stack';
import { NO_VERSION_CHECK } from '../../src/temporal/devServer';

const ROOT = path.resolve(__dirname, '..', '..');
/** Where an API without SWITCHYARD_BOOTSTRAP_KEY keeps the key it generates, in its data folder. */
const KEY_FILE = 'bootstrap-api-key';

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

/**
 * Compose's variable interpolation, the forms this file uses (`${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:+alternative}`, `${VAR+alternative}`, `$VAR`, `$$`), as
 * `docker compose config` resolves them with `vars` set.
 */
function interpolate(value: string, vars: Record<string, string> = {}): string {
  const out = value.replace(
    /\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_]\w*)/g,
    (m, braced?: string, op?: string, word?: string, bare?: string) => {
      if (m === '$$') return '$';
      const v = vars[(braced ?? bare)!];
      if (op === ':-') return v ? v : word!;
      if (op === '-') return v ?? word!;
      // The alternative when set (`:+`: and not empty), else nothing.
      if (op === ':+') return v ? word! : '';
      if (op === '+') return v !== undefined ? word! : '';
      return v ?? '';
    },
  );
  // A form this helper does not know (`:?`) would be left as it is: then the test is wrong.
  expect(out).not.toContain('${');
  return out;
}

/** A published port in compose's short syntax, `[[ip:]host:]container[/protocol]`; no ip: every interface. */
function published(spec: string): { ip: string; host?: string; container: string } {
  const parts = spec.split('/')[0]!.split(':');
  if (parts.length === 3) return { ip: parts[0]!, host: parts[1], container: parts[2]! };
  if (parts.length === 2) return { ip: '0.0.0.0', host: parts[0], container: parts[1]! };
  return { ip: '0.0.0.0', container: parts[0]! };
}

/** Whether `version` satisfies an `engines.node` range: `||` of comparator sets (`>=x`, `^x`, `~x`, `x.*`, `*`…). */
function nodeSatisfies(version: string, range: string): boolean {
  const num = (v: string) => v.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : undefined));
  const [M, m, p] = num(version) as [number, number, number];
  const cmp = (v: (number | undefined)[]) => {
    const [a = 0, b = 0, c = 0] = v;
    return M !== a ? M - a : m !== b ? m - b : p - c;
  };
  const one = (c: string): boolean => {
    const match = /^(>=|<=|>|<|\^|~|=)?v?(.*)$/.exec(c)!;
    const op = match[1] ?? '=';
    const v = num(match[2]!);
    if (['*', 'x', ''].includes(match[2]!)) return true;
    switch (op) {
      case '>=':
        return cmp(v) >= 0;
      case '>':
        return cmp(v) > 0;
      case '<=':
        return cmp(v) <= 0;
      case '<':
        return cmp(v) < 0;
      case '^':
        return cmp(v) >= 0 && M === v[0] && (M !== 0 || m === v[1]);
      case '~':
        return cmp(v) >= 0 && M === v[0] && (v[1] === undefined || m === v[1]);
      default:
        // `20`, `20.x`, `20.3.*`: every given number matches.
        return v.every((n, i) => n === undefined || n === [M, m, p][i]);
    }
  };
  return range.split('||').some((set) =>
    set
      .trim()
      .replace(/(>=|<=|>|<|\^|~|=)\s+/g, '$1')
      .split(/\s+/)
      .every((c) => one(c)),
  );
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
      volumes?: string[];
      healthcheck?: { test: string[] };
      depends_on?: Record<string, unknown> | string[];
    }
  >;
};

type Service = (typeof compose.services)[string];
/** What compose sets SWITCHYARD_CONFIG to, with `vars` in the host's environment. */
const configVariable = (svc: Service, vars: Record<string, string> = {}) =>
  interpolate(String(svc.environment!.SWITCHYARD_CONFIG), vars);
/** A service's mount of the configuration file: the volume whose target SWITCHYARD_CONFIG names when a file is. */
function configMount(svc: Service): { mounts: string[]; source: (vars?: Record<string, string>) => string } {
  const target = configVariable(svc, { SWITCHYARD_CONFIG_FILE: './any.yaml' });
  const mounts = (svc.volumes ?? []).filter((v) => interpolate(v).split(':')[1] === target);
  // Relative to the compose file's folder, as compose resolves it.
  return { mounts, source: (vars = {}) => path.resolve(ROOT, interpolate(mounts[0]!, vars).split(':')[0]!) };
}

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
    expect(fromBuild).toEqual(['/app/package.json', '/app/node_modules', '/app/dist', '/app/models']);
  });

  it("ships the classifier weights the worker loads (models/classifier beside the image's package.json)", () => {
    const copied = (stage: typeof build) => stage!.filter((x) => x.op === 'COPY').map((x) => x.args);
    expect(copied(build)).toContain('models ./models');
    expect(copied(run)).toContain('--from=build /app/models ./models');
    const current = fs.readFileSync(path.join(ROOT, 'models', 'classifier', 'CURRENT'), 'utf8').trim();
    expect(fs.existsSync(path.join(ROOT, 'models', 'classifier', `${current}.json`))).toBe(true);
  });

  it('is on Node 22 (LTS) in every stage', () => {
    const froms = dockerStages().map((stage) => stage.find((i) => i.op === 'FROM')!.args.split(/\s+/)[0]!);
    expect(froms).toHaveLength(2);
    for (const image of froms) expect(image).toMatch(/^node:22(\.\d+){0,2}(-[a-z]+)?$/);
  });

  it("installs only packages whose `engines` admit the image's Node 22 and the tests' Node 20", () => {
    // What `npm ci` installs and `npm prune --omit=dev` keeps: the lockfile's packages that are not dev-only.
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; engines?: { node?: string } | string[] }>;
    };
    const own = (lock.packages[''] as { engines: { node: string } }).engines.node;
    // The oldest Node 22 LTS release, and the Node these tests run on.
    const versions = ['22.11.0', process.versions.node];
    expect(process.versions.node).toMatch(/^20\./);
    const refused: string[] = [];
    let checked = 0;
    for (const [where, pkg] of Object.entries(lock.packages)) {
      const range = where === '' ? own : !pkg.dev && !Array.isArray(pkg.engines) ? pkg.engines?.node : undefined;
      if (range === undefined) continue;
      checked++;
      for (const v of versions)
        if (!nodeSatisfies(v, range)) refused.push(`${where || 'switchyard'} (${range}) on ${v}`);
    }
    expect(checked).toBeGreaterThan(100);
    expect(refused).toEqual([]);
    // The checker itself says no where it should.
    expect(nodeSatisfies('20.20.2', '>= 20.3.0')).toBe(true);
    expect(nodeSatisfies('20.1.0', '>= 20.3.0')).toBe(false);
    expect(nodeSatisfies('22.11.0', '^16 || ^18 || >=20')).toBe(true);
    expect(nodeSatisfies('22.11.0', '^18.17.0 || ^20.3.0')).toBe(false);
    expect(nodeSatisfies('22.11.0', '6.* || 8.* || >= 10.*')).toBe(true);
    expect(nodeSatisfies('22.11.0', '>=14 <22')).toBe(false);
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

  it("publishes Temporal's gRPC port and its UI on 127.0.0.1 only, unless TEMPORAL_BIND says otherwise", () => {
    // Neither asks for authentication; only the API (which checks API keys) is on every interface.
    for (const [name, svc] of Object.entries(s))
      if (name !== 'api')
        for (const port of svc.ports ?? [])
          expect({ name, ...published(interpolate(port)) }).toMatchObject({ name, ip: '127.0.0.1' });
    expect(s.temporal!.ports!.map((p) => interpolate(p))).toEqual(['127.0.0.1:7233:7233']);
    expect(s['temporal-ui']!.ports!.map((p) => interpolate(p))).toEqual(['127.0.0.1:8233:8080']);
    // Asked otherwise:
    for (const name of ['temporal', 'temporal-ui'])
      for (const port of s[name]!.ports!)
        expect(published(interpolate(port, { TEMPORAL_BIND: '0.0.0.0' })).ip).toBe('0.0.0.0');
  });

  it('mounts a configuration file read-only where SWITCHYARD_CONFIG points, and points at it only when SWITCHYARD_CONFIG_FILE names one', () => {
    const named = { SWITCHYARD_CONFIG_FILE: '/etc/switchyard/prod.yaml' };
    for (const svc of [s.worker!, s.api!]) {
      const { mounts, source } = configMount(svc);
      expect(mounts).toHaveLength(1);
      expect(interpolate(mounts[0]!).split(':')[2]).toBe('ro');
      expect(configVariable(svc, named)).toBe('/app/config/switchyard.yaml');
      expect(interpolate(mounts[0]!, named).split(':')[1]).toBe(configVariable(svc, named));
      expect(source(named)).toBe('/etc/switchyard/prod.yaml');
      // Unset (or empty): SWITCHYARD_CONFIG is empty, which the app reads as unset: no file, so an
      // upgrade does not store the placeholder as the newest configuration over the admin's edits.
      for (const vars of [{}, { SWITCHYARD_CONFIG_FILE: '' }] as Record<string, string>[]) {
        expect(configVariable(svc, vars)).toBe('');
        expect(EnvSchema.parse({ SWITCHYARD_CONFIG: configVariable(svc, vars) }).SWITCHYARD_CONFIG).toBeUndefined();
      }
      // The placeholder mounted meanwhile: a file of this repository (a missing one would be
      // mounted as an empty folder), and one that means the shipped defaults.
      expect(fs.statSync(source()).isFile()).toBe(true);
      const shipped = () => defaultCatalog({ simulated: true });
      expect(parseConfigText(fs.readFileSync(source(), 'utf8'), source(), shipped)).toEqual({ catalog: shipped() });
    }
  });

  it('keeps a generated API key in the API’s volume, and says where', () => {
    const dataDir = String(s.api!.environment!.SWITCHYARD_DATA_DIR);
    expect(s.api!.volumes).toContain(`api-data:${dataDir}`);
    expect(s.api!.environment!.SWITCHYARD_BOOTSTRAP_KEY).toBe('${SWITCHYARD_BOOTSTRAP_KEY:-}');
    // The file the API writes it to (checked on a real start below) and the log that shows it.
    const text = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    expect(text).toContain(`docker compose exec api cat ${dataDir}/${KEY_FILE}`);
    expect(text).toContain(`docker compose logs api | grep 'API key'`);
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

  it('`npm run build` leaves what the image copies: compiled code, migrations, the workflow bundle, the console', () => {
    for (const f of [
      'dist/src/main.js',
      'dist/workflow-bundle.js',
      'dist/src/db/migrations/001_init.sql',
      'dist/src/console/web/index.html',
      'dist/src/console/web/app.js',
    ])
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
    return { ...stack, dataDir: dir };
  }

  async function answers(apiPort: number, key = 'sk-deploy-test-0000000000') {
    const base = `http://127.0.0.1:${apiPort}`;
    const ready = await fetch(`${base}/health/ready`);
    expect({ status: ready.status, body: await ready.json() }).toMatchObject({ status: 200 });
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'Hello' }] }),
    });
    const body = (await res.json()) as { object: string };
    expect({ status: res.status, body }).toMatchObject({ status: 200, body: { object: 'chat.completion' } });
  }

  it('`node dist/src/main.js all` starts the API and the worker, and answers', async () => {
    const port = await freePort();
    const sdkMetrics = await freePort();
    // As compose starts it: no SWITCHYARD_BOOTSTRAP_KEY, and SWITCHYARD_CONFIG as compose sets it
    // when SWITCHYARD_CONFIG_FILE is unset (empty): no file is read.
    const all = await start('all', {
      PORT: String(port),
      SWITCHYARD_TEMPORAL_METRICS_PORT: String(sdkMetrics),
      SWITCHYARD_BOOTSTRAP_KEY: '',
      SWITCHYARD_CONFIG: configVariable(compose.services.api!),
    });
    expect(all.output()).toMatch(/\(config version \d+\)/);
    // The generated key: printed once, with the file it is kept in (the one compose's comments name).
    const keyFile = path.join(all.dataDir, KEY_FILE);
    const escaped = keyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const printed = new RegExp(`API key: +(sk-\\S+) +\\(an operator key, generated now and kept in ${escaped};`).exec(
      all.output(),
    );
    expect(printed).not.toBeNull();
    expect(fs.readFileSync(keyFile, 'utf8').trim()).toBe(printed![1]);
    await answers(port, printed![1]);
    // The console, from the compiled code: its page and Chart.js, from the image's own files.
    const page = await fetch(`http://127.0.0.1:${port}/console`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/console/assets/app.js');
    expect((await fetch(`http://127.0.0.1:${port}/console/assets/vendor/chart.umd.js`)).status).toBe(200);
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
    const shared = {
      DATABASE_URL: await isolatedDatabaseUrl(),
      REDIS_URL: testRedisUrl(),
      SWITCHYARD_CONFIG: configMount(compose.services.worker!).source(),
    };
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
