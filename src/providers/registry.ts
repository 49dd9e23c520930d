/**
 * Builds one adapter per catalog provider, with its secret from the worker's configuration.
 * Keys never leave the worker: workflows only see provider ids.
 */
import type { Catalog } from '../domain/catalog';
import { AnthropicAdapter } from './anthropic';
import { OpenAIAdapter } from './openai';
import type { ProviderAdapter } from './types';

export interface ProviderSecrets {
  /** API key by provider id. */
  [providerId: string]: string | undefined;
}

export function createProviderAdapters(catalog: Catalog, secrets: ProviderSecrets, timeoutMs: number): Map<string, ProviderAdapter> {
  const adapters = new Map<string, ProviderAdapter>();
  for (const p of catalog.providers) {
    // The simulator accepts any key; real providers without a key get a placeholder the
    // provider rejects with 401, which the taxonomy turns into AuthFailed → fallback.
    const apiKey = secrets[p.id] ?? (p.simulated ? 'simulated' : 'missing-key');
    const opts = { providerId: p.id, apiKey, baseURL: p.baseUrl, timeoutMs };
    adapters.set(p.id, p.wireFormat === 'anthropic' ? new AnthropicAdapter(opts) : new OpenAIAdapter(opts));
  }
  return adapters;
}
