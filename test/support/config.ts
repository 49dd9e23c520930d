import { ConfigStore, validateConfig, type VersionedConfig } from '../../src/services/configStore';
import type { Db } from '../../src/db';
import type { SwitchyardConfigInput } from '../../src/domain/config';

/** A fixed configuration, as activities see it (`deps.config`). */
export function fixedConfig(input: SwitchyardConfigInput): () => VersionedConfig {
  const v = { version: 1, config: validateConfig(input), source: 'test' };
  return () => v;
}

/** A database-backed store initialised with this configuration (API tests: admin edits work). */
export async function testConfigStore(db: Db, input: SwitchyardConfigInput): Promise<ConfigStore> {
  const store = new ConfigStore(db, { kind: 'file', read: () => input });
  await store.init();
  return store;
}
