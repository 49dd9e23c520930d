/**
 * The live routing configuration, shared by every worker and API process through Postgres.
 * Each change (file changed at start, reload, admin edit, import) is a new version; processes
 * poll the latest version every second, so an edit reaches every worker without a restart.
 *
 * Only an explicit operator action writes a version: the admin API, or the configuration file's
 * own text changing (a new version at the next start, or on reload). Without a file, the shipped
 * defaults are written once, into an empty history. A process never writes a version because its
 * environment differs: what differs per process (the providers it has keys for) is an overlay on
 * its own view (`local`), never stored. Every version written is one audit row.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../db';
import { recordAudit } from '../db/audit';
import { insertConfig, latestConfig, latestConfigFrom } from '../db/configVersions';
import { urlsOf, type UrlPolicy } from './urlPolicy';
import { SwitchyardConfigSchema, type SwitchyardConfig, type SwitchyardConfigInput } from '../domain/config';

export interface VersionedConfig {
  version: number;
  /** What this process routes with: the stored configuration and, over it, its local overlay. */
  config: SwitchyardConfig;
  source: string;
  /** Providers only this process's environment adds (not in the stored configuration). */
  localProviders?: string[];
}

/** A process's own additions to the stored configuration (providers its environment has keys for). */
export type LocalOverlay = (stored: SwitchyardConfig) => { config: SwitchyardConfig; added: string[] };

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
  /** What identifies the source's content (a file: its text), so the environment cannot change it. */
  fingerprint?(): string;
}

export class ConfigStore {
  private cached: VersionedConfig | undefined;
  private stored: VersionedConfig | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(c: VersionedConfig) => void>();

  constructor(
    private readonly db: Db,
    private readonly source: ConfigSource,
    private readonly local?: LocalOverlay,
    /** Where URLs set through the API may point (unset: anywhere). */
    private readonly urlPolicy?: UrlPolicy,
  ) {}

  /** Makes sure a version exists and is current with the source; loads it. */
  async init(): Promise<VersionedConfig> {
    const raw = this.source.read();
    const config = validateConfig(raw);
    const sourceHash = this.source.fingerprint?.() ?? hash(raw);
    const latest = await latestConfig(this.db);
    const lastFromSource = await latestConfigFrom(this.db, this.source.kind);
    // An empty history gets the source. A file whose text changed wins over what is stored (the
    // operator changed it); the shipped defaults never do (only the environment could change them).
    const fileChanged = this.source.kind === 'file' && lastFromSource?.source_hash !== sourceHash;
    if (!latest || fileChanged) {
      await insertConfig(this.db, config, this.source.kind, sourceHash);
      const v = await this.refresh();
      await recordAudit(this.db, {
        actor: { role: 'system' },
        action: latest ? 'config.file' : 'config.init',
        target: `version ${v.version}`,
        before: latest ? { config_version: latest.version, config: latest.config } : undefined,
        after: { config_version: v.version, config: this.stored!.config },
      });
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
      this.stored = { version: row.version, config: validateConfig(row.config), source: row.source };
      const overlaid = this.local?.(this.stored.config);
      this.cached = overlaid?.added.length
        ? { ...this.stored, config: overlaid.config, localProviders: overlaid.added }
        : this.stored;
      for (const l of this.listeners) l(this.cached);
    }
    return this.cached;
  }

  /** Validates and stores a new version; returns it. */
  async save(raw: unknown, source: 'admin' | 'import' | 'file', sourceHash?: string): Promise<VersionedConfig> {
    const config = validateConfig(raw);
    if (this.urlPolicy && source !== 'file') {
      // Only URLs this change introduces: one already stored (e.g. set by the operator's own
      // environment or file) does not block an unrelated edit.
      const stored = this.stored ? new Set(urlsOf(this.stored.config).map((u) => u.url)) : new Set<string>();
      const refused = urlsOf(config)
        .filter((u) => !stored.has(u.url))
        .map((u) => ({ path: u.path, message: this.urlPolicy!.check(u.url) }))
        .filter((u): u is { path: string; message: string } => u.message !== undefined);
      if (refused.length)
        throw new ConfigValidationError(
          refused.map((r) => ({ ...r, message: `${r.message}; not allowed (SWITCHYARD_URL_ALLOWLIST)` })),
        );
    }
    await insertConfig(this.db, config, source, sourceHash);
    return this.refresh();
  }

  /** The stored configuration, without this process's overlay: what every process shares. */
  async storedCurrent(): Promise<VersionedConfig> {
    await this.refresh();
    return this.stored!;
  }

  /** Applies a change to the stored configuration (never the local overlay) as a new version. */
  async update(change: (c: SwitchyardConfig) => SwitchyardConfigInput): Promise<VersionedConfig> {
    const current = await this.storedCurrent();
    return this.save(change(structuredClone(current.config)), 'admin');
  }

  /** Whether there is a configuration file (reloading the shipped defaults would be a reset). */
  hasFile(): boolean {
    return this.source.kind === 'file';
  }

  /** Re-reads the source (the configuration file) and stores it as a new version. */
  async reload(): Promise<VersionedConfig> {
    const raw = this.source.read();
    return this.save(raw, this.source.kind === 'file' ? 'file' : 'admin', this.source.fingerprint?.() ?? hash(raw));
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
