import type { Queryable } from './index';

export interface ConfigVersionRow {
  version: number;
  config: unknown;
  source: string;
  source_hash: string | null;
  created_at: Date;
}

export async function latestConfig(db: Queryable): Promise<ConfigVersionRow | undefined> {
  return (await db.query<ConfigVersionRow>('select * from config_versions order by version desc limit 1')).rows[0];
}

export async function latestConfigFrom(db: Queryable, source: string): Promise<ConfigVersionRow | undefined> {
  return (
    await db.query<ConfigVersionRow>('select * from config_versions where source = $1 order by version desc limit 1', [
      source,
    ])
  ).rows[0];
}

export async function insertConfig(
  db: Queryable,
  config: unknown,
  source: string,
  sourceHash?: string,
): Promise<number> {
  const res = await db.query<{ version: number }>(
    'insert into config_versions (config, source, source_hash) values ($1, $2, $3) returning version',
    [JSON.stringify(config), source, sourceHash ?? null],
  );
  return res.rows[0]!.version;
}
