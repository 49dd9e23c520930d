import type { Queryable } from './index';

export interface ConfigVersionRow {
  version: number;
  config: unknown;
  source: string;
  source_hash: string | null;
  created_at: Date;
}

/** The latest version number (undefined: an empty history). What every process polls: an index lookup. */
export async function latestConfigVersion(db: Queryable): Promise<number | undefined> {
  const row = (await db.query<{ version: number | null }>('select max(version) as version from config_versions'))
    .rows[0];
  return row?.version == null ? undefined : Number(row.version);
}

/** One version, whole (read only when the polled number changed). */
export async function configAt(db: Queryable, version: number): Promise<ConfigVersionRow | undefined> {
  return (
    await db.query<ConfigVersionRow>(
      'select version, config, source, source_hash, created_at from config_versions where version = $1',
      [version],
    )
  ).rows[0];
}

/** The latest version a source wrote, without its document (a restart compares the file's hash). */
export async function latestConfigFrom(
  db: Queryable,
  source: string,
): Promise<Pick<ConfigVersionRow, 'version' | 'source_hash'> | undefined> {
  return (
    await db.query<Pick<ConfigVersionRow, 'version' | 'source_hash'>>(
      'select version, source_hash from config_versions where source = $1 order by version desc limit 1',
      [source],
    )
  ).rows[0];
}

/**
 * Stores `config` as version `base + 1` if `base` is still the latest version (0: an empty
 * history); returns the new version, or undefined when another write got there first. The `where`
 * catches a writer that is behind; the primary key, two writers of the same number at once.
 */
export async function insertConfigIfLatest(
  db: Queryable,
  config: unknown,
  source: string,
  sourceHash: string | undefined,
  base: number,
): Promise<number | undefined> {
  const res = await db.query<{ version: number }>(
    `insert into config_versions (version, config, source, source_hash)
     select $4::int + 1, $1::jsonb, $2, $3
     where coalesce((select max(version) from config_versions), 0) = $4::int
     on conflict (version) do nothing
     returning version`,
    [JSON.stringify(config), source, sourceHash ?? null, base],
  );
  return res.rows[0] ? Number(res.rows[0].version) : undefined;
}

/**
 * Drops versions more than `keep` behind `latest`, except each source's latest (a restart compares
 * the configuration file with its last stored version). Returns how many were dropped.
 */
export async function pruneConfigVersions(db: Queryable, latest: number, keep: number): Promise<number> {
  const res = await db.query(
    `delete from config_versions
     where version <= $1::int - $2::int
       and version not in (select max(version) from config_versions group by source)`,
    [latest, keep],
  );
  return res.rowCount;
}
