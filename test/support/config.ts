import { ConfigStore, validateConfig, type VersionedConfig } from '../../src/services/configStore';
import type { Db } from '../../src/db';
import type { UrlPolicy } from '../../src/services/urlPolicy';
import type { SwitchyardConfigInput } from '../../src/domain/config';

/** A fixed configuration, as activities see it (`deps.config`). */
export function fixedConfig(input: SwitchyardConfigInput): () => VersionedConfig {
  const v = { version: 1, config: validateConfig(input), source: 'test' };
  return () => v;
}

/**
 * A database-backed store initialised with this configuration (API tests: admin edits work), as if
 * read from a configuration file, or (`default`) as the shipped defaults when there is none.
 */
export async function testConfigStore(
  db: Db,
  input: SwitchyardConfigInput,
  kind: 'file' | 'default' = 'file',
  urlPolicy?: UrlPolicy,
): Promise<ConfigStore> {
  const store = new ConfigStore(db, { kind, read: () => input }, undefined, urlPolicy);
  await store.init();
  return store;
}
