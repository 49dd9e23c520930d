/**
 * The live routing configuration, shared by every worker and API process through Postgres.
 * Each change (file changed at start, reload, admin edit, import) is a new version; processes
 * poll the latest version every second, so an edit reaches every worker without a restart.
 *
 * Which source wins at start: an edit made through the admin API is kept across restarts; a
 * changed configuration file (or, without a file, changed defaults such as a new provider key)
 * becomes a new version, since it is what the operator just changed.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../db';
import { insertConfig, latestConfig, latestConfigFrom } from '../db/configVersions';
import { SwitchyardConfigSchema, type SwitchyardConfig, type SwitchyardConfigInput } from '../domain/config';

export interface VersionedConfig {
  version: number;
  config: SwitchyardConfig;
  source: string;
}

export class ConfigValidationError extends Error {
  override name = 'ConfigValidationError';
  constructor(readonly issues: Array<{ path: string; message: string }>) {
    super(`invalid configuration: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

export function validateConfig(raw: unknown): SwitchyardConfig {
  const parsed = SwitchyardConfigSchema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigValidationError(parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  return parsed.data;
}

const hash = (x: unknown) => createHash('sha256').update(JSON.stringify(x)).digest('hex');

export interface ConfigSource {
  kind: 'file' | 'default';
  /** Reads the source now (a file is re-read on reload). */
  read(): SwitchyardConfigInput;
}

export class ConfigStore {
  private cached: VersionedConfig | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(c: VersionedConfig) => void>();

  constructor(
    private readonly db: Db,
    private readonly source: ConfigSource,
  ) {}

  /** Makes sure a version exists and is current with the source; loads it. */
  async init(): Promise<VersionedConfig> {
    const raw = this.source.read();
    const config = validateConfig(raw);
    const sourceHash = hash(raw);
    const latest = await latestConfig(this.db);
    const lastFromSource = await latestConfigFrom(this.db, this.source.kind);
    // Unchanged source: keep whatever is latest (admin edits included). Changed source: it wins.
    if (!latest || lastFromSource?.source_hash !== sourceHash) {
      await insertConfig(this.db, config, this.source.kind, sourceHash);
    }
    return this.refresh();
  }

  /** The latest version this process has seen (refreshed every second once started). */
  current(): VersionedConfig {
    if (!this.cached) throw new Error('ConfigStore used before init()');
    return this.cached;
  }

  async refresh(): Promise<VersionedConfig> {
    const row = await latestConfig(this.db);
    if (!row) throw new Error('no configuration version in the database');
    if (this.cached?.version !== row.version) {
      this.cached = { version: row.version, config: validateConfig(row.config), source: row.source };
      for (const l of this.listeners) l(this.cached);
    }
    return this.cached;
  }

  /** Validates and stores a new version; returns it. */
  async save(raw: unknown, source: 'admin' | 'import' | 'file', sourceHash?: string): Promise<VersionedConfig> {
    const config = validateConfig(raw);
    await insertConfig(this.db, config, source, sourceHash);
    return this.refresh();
  }

  /** Applies a change to the current configuration and stores the result as a new version. */
  async update(change: (c: SwitchyardConfig) => SwitchyardConfigInput): Promise<VersionedConfig> {
    const current = await this.refresh();
    return this.save(change(structuredClone(current.config)), 'admin');
  }

  /** Whether there is a configuration file (reloading the shipped defaults would be a reset). */
  hasFile(): boolean {
    return this.source.kind === 'file';
  }

  /** Re-reads the source (the configuration file) and stores it as a new version. */
  async reload(): Promise<VersionedConfig> {
    const raw = this.source.read();
    return this.save(raw, this.source.kind === 'file' ? 'file' : 'admin', hash(raw));
  }

  onChange(listener: (c: VersionedConfig) => void): void {
    this.listeners.add(listener);
  }

  startPolling(everyMs = 1_000): void {
    this.timer ??= setInterval(() => void this.refresh().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
