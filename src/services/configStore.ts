/**
 * The live routing configuration, shared by every worker and API process through Postgres.
 * Each change (file changed at start, reload, admin edit, import) is a new version; processes
 * poll the latest version number every second and read a version only when it changed, so an
 * edit reaches every worker without a restart.
 *
 * Writes are compare-and-swap on the version: a change is computed from the latest version and
 * stored only while that is still the latest; otherwise it is computed again from the new latest
 * (two admins' independent edits both land), or, when the caller named the version it read
 * (`expectedVersion`, a client's If-Match), refused with a ConfigConflictError. Writes from one
 * process go one at a time (they would only conflict with one another). The history keeps the
 * last `keepVersions` versions (and each source's latest), and every version is within the
 * bounds of src/domain/configBounds.ts.
 *
 * Only an explicit operator action writes a version: the admin API, or the configuration file's
 * own text changing (a new version at the next start, or on reload); a file named for the first
 * time counts as changed, so it wins over the admin edits before it (which stay in the history). Without a file, the shipped
 * defaults are written once, into an empty history. A process never writes a version because its
 * environment differs: what differs per process (the providers it has keys for) is an overlay on
 * its own view (`local`), never stored. Every version written is one audit row.
 */
import { createHash } from 'node:crypto';
import { noteSwallowed } from './metrics';
import type { Db } from '../db';
import { recordAudit } from '../db/audit';
import {
  configAt,
  insertConfigIfLatest,
  latestConfigFrom,
  latestConfigVersion,
  pruneConfigVersions,
} from '../db/configVersions';
import { refusedUrls, type UrlPolicy } from './urlPolicy';
import { implicitKeyIssues } from '../domain/credentials';
import { kindIssues } from '../providers/kinds';
import { boundIssues, CONFIG_BOUNDS, type ConfigBounds } from '../domain/configBounds';
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

export interface ConfigIssue {
  path: string;
  message: string;
  /** A stable reason when it is more specific than an invalid value (`rule_too_large`, …). */
  code?: string;
}

/** Codes of a configuration too large (HTTP 413), rather than wrong (400). */
const TOO_LARGE = new Set(['rule_too_large', 'override_too_large', 'tenant_config_too_large', 'config_too_large']);

export class ConfigValidationError extends Error {
  override name = 'ConfigValidationError';
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }

  /** The HTTP status: 413 when the first problem is a size, else 400. */
  get status(): 400 | 413 {
    return TOO_LARGE.has(this.issues[0]?.code ?? '') ? 413 : 400;
  }
}

/** A write that lost the race: the configuration is no longer at the version the change was computed from. */
export class ConfigConflictError extends Error {
  override name = 'ConfigConflictError';
  constructor(
    /** The version the caller said it read (undefined: the store retried and gave up). */
    readonly expected: number | undefined,
    readonly current: number,
  ) {
    super(
      expected !== undefined
        ? `The configuration is at version ${current}, not ${expected}: it changed since it was read. Read it again, reapply the change, and retry.`
        : `The configuration kept changing while this change was applied (now version ${current}); retry.`,
    );
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

export interface WriteOptions {
  /**
   * The version the change was computed from (a client's If-Match). Without it the change is
   * recomputed on the latest version after a conflict; with it, a conflict is a ConfigConflictError.
   */
  expectedVersion?: number;
}

export interface ConfigStoreOptions {
  bounds?: ConfigBounds;
  /** Attempts of one change when other processes keep writing (default 10). */
  maxAttempts?: number;
}

/** A version to write, computed from the latest (undefined: nothing to write). */
interface Planned {
  raw: unknown;
  source: string;
  sourceHash?: string;
}

export class ConfigStore {
  private cached: VersionedConfig | undefined;
  private stored: VersionedConfig | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(c: VersionedConfig) => void>();
  /** The poll in flight: callers meanwhile share it rather than each asking again. */
  private polling: Promise<VersionedConfig | undefined> | undefined;
  /** This process's writes, one after another. */
  private writes: Promise<unknown> = Promise.resolve();
  private readonly bounds: ConfigBounds;
  private readonly maxAttempts: number;

  constructor(
    private readonly db: Db,
    private readonly source: ConfigSource,
    private readonly local?: LocalOverlay,
    /** Where URLs set through the API may point (unset: anywhere). */
    private readonly urlPolicy?: UrlPolicy,
    options: ConfigStoreOptions = {},
  ) {
    this.bounds = options.bounds ?? CONFIG_BOUNDS;
    this.maxAttempts = options.maxAttempts ?? 10;
  }

  /** Makes sure a version exists and is current with the source; loads it. */
  async init(): Promise<VersionedConfig> {
    const raw = this.source.read();
    validateConfig(raw);
    const sourceHash = this.source.fingerprint?.() ?? hash(raw);
    const { base, written } = await this.commit(async (latest) => {
      // An empty history gets the source. A file whose text changed, or that is named for the first
      // time, wins over what is stored (the operator changed it); the shipped defaults never do
      // (only the environment could change them).
      const lastFromSource = latest && (await latestConfigFrom(this.db, this.source.kind));
      const fileChanged = this.source.kind === 'file' && lastFromSource?.source_hash !== sourceHash;
      return !latest || fileChanged ? { raw, source: this.source.kind, sourceHash } : undefined;
    });
    if (written)
      await recordAudit(this.db, {
        actor: { role: 'system' },
        action: base ? 'config.file' : 'config.init',
        target: `version ${written.version}`,
        before: base ? { config_version: base.version, config: base.config } : undefined,
        after: { config_version: written.version, config: written.config },
      });
    return this.refresh();
  }

  /** The latest version this process has seen (refreshed every second once started). */
  current(): VersionedConfig {
    if (!this.cached) throw new Error('ConfigStore used before init()');
    return this.cached;
  }

  /** Asks for the latest version number; reads that version only if it is newer than this process's. */
  async refresh(): Promise<VersionedConfig> {
    await this.poll();
    if (!this.cached) throw new Error('no configuration version in the database');
    return this.cached;
  }

  /** The stored latest (no overlay), or undefined for an empty history; shares a poll in flight. */
  private poll(): Promise<VersionedConfig | undefined> {
    this.polling ??= this.load().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async load(): Promise<VersionedConfig | undefined> {
    const version = await latestConfigVersion(this.db);
    if (version === undefined) return undefined;
    if (this.stored && version <= this.stored.version) return this.stored;
    const row = await configAt(this.db, version);
    // Pruned between the two reads (hundreds of writes in between): the next poll catches up.
    if (!row) return this.stored;
    this.adopt({ version: row.version, config: validateConfig(row.config), source: row.source });
    return this.stored;
  }

  /** Makes a version this process's view, unless it already has a newer one. */
  private adopt(v: VersionedConfig): void {
    if (this.stored && v.version <= this.stored.version) return;
    this.stored = v;
    const overlaid = this.local?.(v.config);
    this.cached = overlaid?.added.length ? { ...v, config: overlaid.config, localProviders: overlaid.added } : v;
    for (const l of this.listeners) l(this.cached);
  }

  /**
   * Writes one version computed by `plan` from the latest stored version, compare-and-swap: when
   * another process wrote first, `plan` runs again on the new latest (or, with `expectedVersion`,
   * the write is refused). Returns the version it was computed from and the one written, if any.
   */
  private commit(
    plan: (base: VersionedConfig | undefined) => Planned | undefined | Promise<Planned | undefined>,
    opts: WriteOptions = {},
  ): Promise<{ base?: VersionedConfig; written?: VersionedConfig }> {
    const run = async () => {
      const attempts = opts.expectedVersion === undefined ? this.maxAttempts : 1;
      for (let attempt = 1; ; attempt++) {
        // Its own read, not a poll in flight: that one may have asked before the caller's version existed.
        const base = await this.load();
        const baseVersion = base?.version ?? 0;
        if (opts.expectedVersion !== undefined && opts.expectedVersion !== baseVersion)
          throw new ConfigConflictError(opts.expectedVersion, baseVersion);
        const planned = await plan(base && { ...base, config: structuredClone(base.config) });
        if (!planned) return { base };
        const config = validateConfig(planned.raw);
        // Writes through the API only: the operator's file and the shipped defaults are the operator's own.
        if (planned.source === 'admin' || planned.source === 'import') await this.checkUrls(config, base);
        // Every source: an instance of a kind no worker knows (or missing what its kind needs) is refused.
        const issues = [...kindIssues(config.catalog), ...boundIssues(config, base?.config, this.bounds)];
        if (issues.length) throw new ConfigValidationError(issues);
        const version = await insertConfigIfLatest(this.db, config, planned.source, planned.sourceHash, baseVersion);
        if (version !== undefined) {
          // Best effort: a failed prune leaves a few more versions, which the next write drops.
          await pruneConfigVersions(this.db, version, this.bounds.keepVersions).catch((err: unknown) =>
            noteSwallowed('config_prune', err, { version }, 'old configuration versions were not pruned'),
          );
          const written = { version, config, source: planned.source };
          this.adopt(written);
          return { base, written };
        }
        if (attempt >= attempts) throw new ConfigConflictError(opts.expectedVersion, (await this.load())?.version ?? 0);
        // Another process wrote first: wait a moment (jittered, so two writers part) and recompute.
        await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
      }
    };
    const result = this.writes.then(run, run);
    // The caller gets the error through `result`; the queue of writes only goes on to the next.
    this.writes = result.catch(() => undefined);
    return result;
  }

  /** What an API write introduces (not what is already stored): its URLs and provider keys. */
  private async checkUrls(config: SwitchyardConfig, base: VersionedConfig | undefined): Promise<void> {
    // An API write may not point at an address the URL policy refuses (names resolved), nor send
    // the environment's key to a new base URL (src/domain/credentials.ts).
    const refused = [
      ...(this.urlPolicy ? await refusedUrls(this.urlPolicy, base?.config, config) : []),
      ...implicitKeyIssues(base?.config.catalog, config.catalog),
    ];
    if (refused.length) throw new ConfigValidationError(refused);
  }

  /**
   * Validates and stores a whole configuration (an import, a reload) as a new version; returns
   * the version it replaced and the new one.
   */
  async replace(
    raw: unknown,
    source: 'admin' | 'import' | 'file',
    sourceHash?: string,
    opts?: WriteOptions,
  ): Promise<{ before?: VersionedConfig; after: VersionedConfig }> {
    const { base, written } = await this.commit(() => ({ raw, source, sourceHash }), opts);
    return { before: base, after: written! };
  }

  /** Validates and stores a whole configuration as a new version; returns it. */
  async save(raw: unknown, source: 'admin' | 'import' | 'file', sourceHash?: string): Promise<VersionedConfig> {
    return (await this.replace(raw, source, sourceHash)).after;
  }

  /** The stored configuration, without this process's overlay: what every process shares. */
  async storedCurrent(): Promise<VersionedConfig> {
    await this.refresh();
    return this.stored!;
  }

  /**
   * Applies a change to the stored configuration (never the local overlay) as a new version and
   * returns it. `change` gets the latest version and may run more than once (after a conflict, on
   * the newer version): it checks what it depends on there, and throws to refuse.
   */
  async update(change: (c: SwitchyardConfig) => SwitchyardConfigInput, opts?: WriteOptions): Promise<VersionedConfig> {
    const { written } = await this.commit((base) => {
      if (!base) throw new Error('ConfigStore used before init()');
      return { raw: change(base.config), source: 'admin' };
    }, opts);
    return written!;
  }

  /** Whether there is a configuration file (reloading the shipped defaults would be a reset). */
  hasFile(): boolean {
    return this.source.kind === 'file';
  }

  /** Re-reads the source (the configuration file) and stores it as a new version. */
  async reload(opts?: WriteOptions): Promise<{ before?: VersionedConfig; after: VersionedConfig }> {
    const raw = this.source.read();
    const kind = this.source.kind === 'file' ? 'file' : 'admin';
    return this.replace(raw, kind, this.source.fingerprint?.() ?? hash(raw), opts);
  }

  onChange(listener: (c: VersionedConfig) => void): void {
    this.listeners.add(listener);
  }

  startPolling(everyMs = 1_000): void {
    this.timer ??= setInterval(
      () =>
        void this.poll().catch((err: unknown) =>
          noteSwallowed(
            'config_refresh',
            err,
            { version: this.stored?.version },
            'the configuration refresh failed: this process keeps the version it has',
          ),
        ),
      everyMs,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
