/**
 * Reads the configuration file named by SWITCHYARD_CONFIG (JSON, or YAML by extension). A file
 * without a `catalog` uses the shipped one (the providers whose keys are set, or the simulator).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import YAML from 'yaml';
import { ConfigError } from '../config';
import type { Catalog } from '../domain/catalog';
import type { SwitchyardConfigInput } from '../domain/config';
import { validateConfig, ConfigValidationError, type ConfigSource } from './configStore';

export function parseConfigText(text: string, source: string, defaultCatalog: () => Catalog): SwitchyardConfigInput {
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(source) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `${source}: not valid ${/\.ya?ml$/i.test(source) ? 'YAML' : 'JSON'}: ${(err as Error).message}`,
    );
  }
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw)))
    throw new ConfigError(`${source}: the top level must be an object`);
  const withCatalog = { catalog: defaultCatalog(), ...(raw as object | null) } as SwitchyardConfigInput;
  try {
    validateConfig(withCatalog);
  } catch (err) {
    if (err instanceof ConfigValidationError)
      throw new ConfigError(`${source}:\n${err.issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
    throw err;
  }
  return withCatalog;
}

/**
 * Whether the file's catalog names providers of its own (not only the simulator). Unvalidated and
 * forgiving: a bad file is reported when it is read for real.
 */
export function fileNamesProviders(file: string | undefined): boolean {
  if (!file) return false;
  try {
    const text = fs.readFileSync(file, 'utf8');
    const raw = (/\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text)) as {
      catalog?: { providers?: Array<{ simulated?: unknown }> };
    } | null;
    const providers = raw?.catalog?.providers;
    return Array.isArray(providers) && providers.some((p) => p?.simulated !== true);
  } catch {
    return false;
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`SWITCHYARD_CONFIG=${file}: ${(err as Error).message}`);
  }
}

/** The configuration's source: the file when SWITCHYARD_CONFIG is set, else the shipped defaults. */
export function configSource(file: string | undefined, defaultCatalog: () => Catalog): ConfigSource {
  if (!file) return { kind: 'default', read: () => ({ catalog: defaultCatalog() }) };
  return {
    kind: 'file',
    read: () => parseConfigText(readText(file), file, defaultCatalog),
    // The file's own text: a file without a catalog takes the shipped one, which depends on the
    // process's environment, and that must not make the file look changed.
    fingerprint: () => createHash('sha256').update(readText(file)).digest('hex'),
  };
}
