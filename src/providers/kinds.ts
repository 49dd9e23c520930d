/**
 * Every provider kind Switchyard can call, by the name a catalog instance gives as `kind`.
 * Adding a kind: its folder under `src/providers/` and one line here (ARCHITECTURE.md).
 */
import { kindOf, type Catalog } from '../domain/catalog';
import { anthropic } from './anthropic';
import { azureOpenai } from './azure-openai';
import { bedrock } from './bedrock';
import { huggingface } from './huggingface';
import { google } from './google';
import type { ProviderKind } from './kind';
import { openai } from './openai';
import { openaiCompatible } from './openai-compatible';

export const KINDS: Readonly<Record<string, ProviderKind>> = {
  openai,
  anthropic,
  'azure-openai': azureOpenai,
  'openai-compatible': openaiCompatible,
  huggingface,
  google,
  bedrock,
};

export const kindNamed = (name: string): ProviderKind | undefined =>
  Object.prototype.hasOwnProperty.call(KINDS, name) ? KINDS[name] : undefined;

/** Instances of a kind not registered here, or missing a field their kind requires, with the field's path. */
export function kindIssues(catalog: Pick<Catalog, 'providers'>): Array<{ path: string; message: string }> {
  return catalog.providers.flatMap((p, i) => {
    if (p.simulated) return [];
    const kind = kindNamed(kindOf(p));
    if (!kind)
      return [
        {
          path: `catalog.providers.${i}.kind`,
          message: `unknown provider kind '${kindOf(p)}' (known: ${Object.keys(KINDS).join(', ')})`,
        },
      ];
    const missing = (kind.requires ?? [])
      .filter((field) => p[field] === undefined)
      .map((field) => ({
        path: `catalog.providers.${i}.${field}`,
        message: `a '${kind.name}' provider needs ${field}`,
      }));
    if (kind.ambientCredentials && p.credential === 'none')
      missing.push({
        path: `catalog.providers.${i}.credential`,
        message: `a '${kind.name}' provider has no keyless mode: name its key in apiKey, or leave both out for its SDK's own credentials`,
      });
    return missing;
  });
}
