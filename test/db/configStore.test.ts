import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSource } from '../../src/services/configFile';
import { ConfigStore, ConfigValidationError } from '../../src/services/configStore';
import { localProviders } from '../../src/services/localProviders';
import type { Db } from '../../src/db';
import { defaultCatalog } from '../../src/domain/catalog';
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
