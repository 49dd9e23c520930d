import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSource } from '../../src/services/configFile';
import { ConfigConflictError, ConfigStore, ConfigValidationError } from '../../src/services/configStore';
import { localProviders } from '../../src/services/localProviders';
import type { Db } from '../../src/db';
import { configAt, insertConfigIfLatest, latestConfigVersion } from '../../src/db/configVersions';
import { defaultCatalog } from '../../src/domain/catalog';
import type { SwitchyardConfig } from '../../src/domain/config';
import { CONFIG_BOUNDS } from '../../src/domain/configBounds';
import { dbKinds, openTestDb } from '../support/db';

// Each case needs an empty config history: PGlite in memory gives one per case.
describe('configuration versions', () => {
  let db: Db;
  let dir: string;
  let file: string;
  const shipped = () => defaultCatalog({ simulated: true });

  beforeEach(async () => {
    db = await openTestDb('pglite');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-cfg-'));
    file = path.join(dir, 'switchyard.yaml');
    fs.writeFileSync(file, 'routing:\n  defaultStrategy: cost\n');
  });
  afterEach(async () => {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores the file as version 1, and a restart with the same file adds nothing', async () => {
    const first = await new ConfigStore(db, configSource(file, shipped)).init();
    expect(first).toMatchObject({ version: 1, source: 'file' });
    expect(first.config.routing.defaultStrategy).toBe('cost');
    // A file without a catalog gets the shipped one.
    expect(first.config.catalog.providers.map((p) => p.id)).toEqual(['simulated']);
    expect((await new ConfigStore(db, configSource(file, shipped)).init()).version).toBe(1);
  });

  it('keeps admin edits across a restart, until the file itself changes', async () => {
    const store = new ConfigStore(db, configSource(file, shipped));
    await store.init();
    const edited = await store.update((c) => ({ ...c, routing: { ...c.routing, defaultStrategy: 'quality' } }));
    expect(edited).toMatchObject({ version: 2, source: 'admin' });
    expect((await new ConfigStore(db, configSource(file, shipped)).init()).config.routing.defaultStrategy).toBe(
      'quality',
    );
    fs.writeFileSync(file, 'routing:\n  defaultStrategy: latency\n');
    const restarted = await new ConfigStore(db, configSource(file, shipped)).init();
    expect(restarted).toMatchObject({ version: 3, source: 'file' });
    expect(restarted.config.routing.defaultStrategy).toBe('latency');
  });

  it('without a file a restart keeps admin edits; a file named for the first time wins over them, as documented', async () => {
    // The compose upgrade case: SWITCHYARD_CONFIG unset (the shipped defaults), then an admin's edit.
    const defaults = () => configSource(undefined, shipped);
    const store = new ConfigStore(db, defaults());
    expect(await store.init()).toMatchObject({ version: 1, source: 'default' });
    const edited = await store.update((c) => ({ ...c, routing: { ...c.routing, defaultStrategy: 'quality' } }));
    expect(edited).toMatchObject({ version: 2, source: 'admin' });
    // Restarted still without a file (compose with SWITCHYARD_CONFIG_FILE unset): the edit stays.
    expect(await new ConfigStore(db, defaults()).init()).toMatchObject({ version: 2, source: 'admin' });
    // A file named for the first time is the operator's word (configStore.ts): its text becomes the
    // newest version, over the edit, which stays in the history.
    const named = await new ConfigStore(db, configSource(file, shipped)).init();
    expect(named).toMatchObject({ version: 3, source: 'file' });
    expect(named.config.routing.defaultStrategy).toBe('cost');
    expect(((await configAt(db, 2))!.config as SwitchyardConfig).routing.defaultStrategy).toBe('quality');
  });

  it('reloads the file without a restart, and another process sees the new version', async () => {
    const api = new ConfigStore(db, configSource(file, shipped));
    const worker = new ConfigStore(db, configSource(file, shipped));
    await api.init();
    await worker.init();
    fs.writeFileSync(file, 'routing:\n  defaultStrategy: round-robin\n');
    await api.reload();
    expect(worker.current().config.routing.defaultStrategy).toBe('cost');
    expect((await worker.refresh()).config.routing.defaultStrategy).toBe('round-robin');
  });

  it('a process whose environment differs writes no version: its providers are a local overlay', async () => {
    const withKey = () => defaultCatalog({ openai: {}, simulated: false });
    const first = await new ConfigStore(db, { kind: 'default', read: () => ({ catalog: shipped() }) }).init();
    expect(first.version).toBe(1);
    // A second process, with an OpenAI key and no simulator: nothing written, OpenAI only in its own view.
    const local = localProviders(withKey(), { openai: 'sk-x', anthropic: undefined }, false);
    const other = new ConfigStore(db, { kind: 'default', read: () => ({ catalog: withKey() }) }, local.overlay);
    const seen = await other.init();
    expect(seen.version).toBe(1);
    expect(seen.localProviders).toEqual(['openai']);
    expect(seen.config.catalog.providers.map((p) => p.id)).toEqual(['simulated', 'openai']);
    expect(local.canReach({ id: 'simulated', simulated: true })).toBe(false);
    expect(local.canReach({ id: 'openai' })).toBe(true);
    expect(local.canReach({ id: 'anthropic' })).toBe(false);
    expect(local.canReach({ id: 'my-local-llm' })).toBe(true);
    // Its admin edit is stored without its overlay.
    const edited = await other.update((c) => ({ ...c, routing: { ...c.routing, defaultStrategy: 'cost' } }));
    expect(edited.version).toBe(2);
    expect((await other.storedCurrent()).config.catalog.providers.map((p) => p.id)).toEqual(['simulated']);
    const rows = await db.query<{ action: string }>('select action from audit_log order by id');
    expect(rows.rows.map((r) => r.action)).toEqual(['config.init']);
  });

  it("a file without a catalog is the same file whatever the process's environment", async () => {
    expect((await new ConfigStore(db, configSource(file, shipped)).init()).version).toBe(1);
    const withKey = () => defaultCatalog({ openai: {}, simulated: false });
    expect((await new ConfigStore(db, configSource(file, withKey)).init()).version).toBe(1);
    fs.writeFileSync(file, 'routing:\n  defaultStrategy: quality\n');
    expect((await new ConfigStore(db, configSource(file, withKey)).init()).version).toBe(2);
    const rows = await db.query<{ action: string; actor_role: string }>(
      'select action, actor_role from audit_log order by id',
    );
    expect(rows.rows).toEqual([
      { action: 'config.init', actor_role: 'system' },
      { action: 'config.file', actor_role: 'system' },
    ]);
  });

  it('refuses an invalid configuration with every problem and its path, keeping the current version', async () => {
    const store = new ConfigStore(db, configSource(file, shipped));
    await store.init();
    const err = await store
      .save({ catalog: shipped(), rules: [{ id: 'r', targets: [{ model: 'nope/x' }] }] }, 'import')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigValidationError);
    expect((err as ConfigValidationError).issues).toEqual([
      { path: 'rules.0.targets.0.model', message: "unknown model 'nope/x'" },
    ]);
    expect((await store.refresh()).version).toBe(1);
  });
});

it.each(dbKinds())('config versions table works on %s', async (kind) => {
  const db = await openTestDb(kind);
  try {
    const store = new ConfigStore(db, {
      kind: 'default',
      read: () => ({ catalog: defaultCatalog({ simulated: true }) }),
    });
    const v = await store.init();
    expect(v.config.catalog.models.length).toBeGreaterThan(0);
  } finally {
    await db.close();
  }
});

describe.each(dbKinds())('configuration writes are compare-and-swap on %s', (kind) => {
  let db: Db;
  const source = { kind: 'default' as const, read: () => ({ catalog: defaultCatalog({ simulated: true }) }) };
  const withTenant = (id: string, budgetUsd: number) => (c: SwitchyardConfig) => ({
    ...c,
    tenants: { ...c.tenants, [id]: { ...(c.tenants[id] ?? {}), budget: { dailyUsd: budgetUsd } } },
  });

  beforeEach(async () => {
    db = await openTestDb(kind);
  });
  afterEach(async () => {
    await db.close();
  });

  it('stores a version only while the one it was computed from is the latest', async () => {
    const config = { catalog: defaultCatalog({ simulated: true }) };
    expect(await insertConfigIfLatest(db, config, 'admin', undefined, 0)).toBe(1);
    // Computed from version 0 again (behind), or from version 1 twice at once: one write only.
    expect(await insertConfigIfLatest(db, config, 'admin', undefined, 0)).toBeUndefined();
    const both = await Promise.all([
      insertConfigIfLatest(db, config, 'admin', undefined, 1),
      insertConfigIfLatest(db, config, 'admin', undefined, 1),
    ]);
    expect(both.filter((v) => v === 2)).toHaveLength(1);
    expect(both.filter((v) => v === undefined)).toHaveLength(1);
    expect(await latestConfigVersion(db)).toBe(2);
  });

  it('a change that lost the race is computed again on the newer version: both edits land', async () => {
    const a = new ConfigStore(db, source);
    await a.init();
    // Process B's insert is preceded by process A's write: B computed its change from version 1.
    let raced = false;
    const racing: Db = {
      ...db,
      query: async (sql, params) => {
        if (!raced && sql.includes('insert into config_versions')) {
          raced = true;
          await a.update(withTenant('from-a', 1));
        }
        return db.query(sql, params);
      },
    };
    const b = new ConfigStore(racing, source);
    await b.refresh();
    let runs = 0;
    const written = await b.update((c) => {
      runs++;
      return withTenant('from-b', 2)(c);
    });
    expect(runs).toBe(2);
    expect(written.version).toBe(3);
    expect(written.config.tenants).toMatchObject({
      'from-a': { budget: { dailyUsd: 1 } },
      'from-b': { budget: { dailyUsd: 2 } },
    });
    expect((await a.refresh()).config.tenants).toEqual(written.config.tenants);
  });

  it('a write naming a version that is no longer the latest is refused, storing nothing', async () => {
    const a = new ConfigStore(db, source);
    const b = new ConfigStore(db, source);
    const v1 = (await a.init()).version;
    await b.init();
    await a.update(withTenant('x', 1));
    const err = await b.update(withTenant('y', 2), { expectedVersion: v1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigConflictError);
    expect(err).toMatchObject({ expected: v1, current: v1 + 1 });
    expect(await latestConfigVersion(db)).toBe(v1 + 1);
    expect((await b.update(withTenant('y', 2), { expectedVersion: v1 + 1 })).version).toBe(v1 + 2);
  });

  it('many writes from two processes at once: every one lands, each on the one before', async () => {
    const a = new ConfigStore(db, source);
    const b = new ConfigStore(db, source);
    await a.init();
    await b.init();
    const written = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).update(withTenant(`t${i}`, i + 1))),
    );
    expect(new Set(written.map((w) => w.version)).size).toBe(20);
    const final = (await a.refresh()).config.tenants;
    for (let i = 0; i < 20; i++) expect(final[`t${i}`]?.budget?.dailyUsd).toBe(i + 1);
  });

  it('keeps the last versions and the latest of each source; a restart with the same file writes nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-cfg-'));
    const file = path.join(dir, 'switchyard.yaml');
    fs.writeFileSync(file, 'routing:\n  defaultStrategy: cost\n');
    try {
      const bounds = { ...CONFIG_BOUNDS, keepVersions: 3 };
      const store = new ConfigStore(
        db,
        configSource(file, () => defaultCatalog({ simulated: true })),
        undefined,
        undefined,
        {
          bounds,
        },
      );
      await store.init();
      for (let i = 0; i < 6; i++) await store.update(withTenant('t', i + 1));
      const kept = await db.query<{ version: number; source: string }>(
        'select version, source from config_versions order by version',
      );
      expect(kept.rows).toEqual([
        { version: 1, source: 'file' },
        { version: 5, source: 'admin' },
        { version: 6, source: 'admin' },
        { version: 7, source: 'admin' },
      ]);
      const restarted = await new ConfigStore(
        db,
        configSource(file, () => defaultCatalog({ simulated: true })),
      ).init();
      expect(restarted.version).toBe(7);
      expect(restarted.config.tenants.t?.budget?.dailyUsd).toBe(6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a write past a bound with the path and code, and a stored excess does not block other edits', async () => {
    const bounds = { ...CONFIG_BOUNDS, itemBytes: 2_000, rulesPerTenant: 2 };
    const store = new ConfigStore(db, source, undefined, undefined, { bounds });
    const v1 = (await store.init()).version;
    const model = store.current().config.catalog.models[0]!.id;
    const rule = (id: string, tenantId: string, pad = 0) => ({
      id,
      tenantId,
      name: 'x'.repeat(Math.min(pad, 200)),
      when:
        pad > 200
          ? [
              {
                field: 'userId',
                op: 'in' as const,
                value: Array.from({ length: pad / 20 }, (_, i) => `user-${i}-abcdefgh`),
              },
            ]
          : [],
      targets: [{ model }],
    });
    const err = await store
      .update((c) => ({ ...c, rules: [...c.rules, rule('big', 'a', 4_000)] }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigValidationError);
    expect((err as ConfigValidationError).status).toBe(413);
    expect((err as ConfigValidationError).issues[0]).toMatchObject({ path: 'rules.0', code: 'rule_too_large' });
    await store.update((c) => ({ ...c, rules: [rule('r1', 'a'), rule('r2', 'a')] }));
    const tooMany = await store
      .update((c) => ({ ...c, rules: [...c.rules, rule('r3', 'a')] }))
      .catch((e: unknown) => e);
    expect((tooMany as ConfigValidationError).issues).toEqual([
      { path: 'rules', code: 'too_many_rules', message: "tenant 'a' would have 3 rules; at most 2" },
    ]);
    expect((tooMany as ConfigValidationError).status).toBe(400);
    expect(await latestConfigVersion(db)).toBe(v1 + 1);
    // A configuration stored before the bounds (three rules, one oversized): unrelated edits still land.
    const legacy = { ...store.current().config, rules: [rule('r1', 'a'), rule('r2', 'a'), rule('big', 'a', 4_000)] };
    expect(await insertConfigIfLatest(db, legacy, 'import', undefined, v1 + 1)).toBe(v1 + 2);
    expect((await store.update(withTenant('b', 1))).version).toBe(v1 + 3);
  });
});
