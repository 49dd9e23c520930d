/**
 * One adapter per provider, built on first use from the current catalog entry and the worker's
 * secrets (keys never leave the worker: workflows only see provider ids). Rebuilt when a
 * provider's wire format or base URL changes in a new configuration version.
 */
import type { Provider } from '../domain/catalog';
import { AnthropicAdapter } from './anthropic';
import { OpenAIAdapter } from './openai';
import { registerSecrets } from './redact';
import type { ProviderAdapter } from './types';

export interface ProviderSecrets {
  /** API key by provider id. */
  [providerId: string]: string | undefined;
}

export class AdapterRegistry {
  private readonly adapters = new Map<string, { key: string; adapter: ProviderAdapter }>();

  constructor(
    private readonly secrets: ProviderSecrets,
    private readonly timeoutMs: number,
    /** This worker's simulator, serving providers marked `simulated`. */
    private readonly simulatedUrl?: string,
  ) {
    registerSecrets(Object.values(secrets));
  }

  get(p: Provider): ProviderAdapter {
    const baseURL = p.simulated ? this.simulatedUrl : p.baseUrl;
    if (p.simulated && !baseURL) throw new Error(`provider ${p.id} is simulated but this worker runs no simulator`);
    const key = `${p.wireFormat}|${baseURL ?? ''}`;
    const cached = this.adapters.get(p.id);
    if (cached?.key === key) return cached.adapter;
    // The simulator accepts any key; a real provider without one answers 401 → AuthFailed → fallback.
    const apiKey = this.secrets[p.id] ?? (p.simulated ? 'simulated' : 'missing-key');
    const opts = { providerId: p.id, apiKey, baseURL, timeoutMs: this.timeoutMs };
    const adapter = p.wireFormat === 'anthropic' ? new AnthropicAdapter(opts) : new OpenAIAdapter(opts);
    this.adapters.set(p.id, { key, adapter });
    return adapter;
  }
}
