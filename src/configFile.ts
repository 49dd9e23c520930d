/**
 * Reads the configuration file named by SWITCHYARD_CONFIG (JSON, or YAML by extension) and
 * validates it, reporting each problem with its path in the file.
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { DEFAULT_SETTINGS, SettingsSchema, type Settings } from './domain/settings';
import { ConfigError } from './config';

export function parseSettings(text: string, source: string): Settings {
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(source) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${source}: not valid ${/\.ya?ml$/i.test(source) ? 'YAML' : 'JSON'}: ${(err as Error).message}`);
  }
  const parsed = SettingsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ConfigError(`${source}:\n${parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`);
  }
  return parsed.data;
}

export function loadSettings(file: string | undefined): Settings {
  if (!file) return DEFAULT_SETTINGS;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`SWITCHYARD_CONFIG=${file}: ${(err as Error).message}`);
  }
  return parseSettings(text, file);
}
