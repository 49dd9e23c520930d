/**
 * One adapter per provider, built on first use from the current catalog entry and the worker's
 * secrets (keys never leave the worker: workflows only see provider ids). Rebuilt when a
 * provider's wire format, base URL or credential changes in a new configuration version.
 */
import { CREDENTIAL_PATTERN, type Provider } from '../domain/catalog';
import { AnthropicAdapter } from './anthropic';
import { OpenAIAdapter } from './openai';
import { registerSecrets } from './redact';
import type { ProviderAdapter } from './types';

export interface ProviderSecrets {
  /** API key by provider id. */
  [providerId: string]: string | undefined;
}

/** A key by its environment variable's name (the worker's environment; tests pass their own). */
export type NamedCredentials = (name: string) => string | undefined;
const fromEnvironment: NamedCredentials = (name) => process.env[name];

/**
 * The key a provider's calls carry in this process: the one its `credential` names (`none`: no
 * key), else the one the environment has for its id. Undefined: this process has none for it.
 */
export function providerKey(
  p: { id: string; credential?: string },
  secrets: ProviderSecrets,
  named: NamedCredentials = fromEnvironment,
): string | null | undefined {
  if (p.credential === 'none') return null;
  // The schema allows only key variables; checked again so no stored value can name another one.
  if (p.credential !== undefined)
    return CREDENTIAL_PATTERN.test(p.credential) ? named(p.credential.slice('env:'.length)) || undefined : undefined;
  return secrets[p.id];
}

export class AdapterRegistry {
  private readonly adapters = new Map<string, { key: string; adapter: ProviderAdapter }>();

  constructor(
    private readonly secrets: ProviderSecrets,
    private readonly timeoutMs: number,
    /** This worker's simulator, serving providers marked `simulated`. */
    private readonly simulatedUrl?: string,
    /** Keys a provider's `credential: env:NAME` names. */
    private readonly named: NamedCredentials = fromEnvironment,
  ) {
    registerSecrets(Object.values(secrets));
  }

  get(p: Provider): ProviderAdapter {
    const baseURL = p.simulated ? this.simulatedUrl : p.baseUrl;
    if (p.simulated && !baseURL) throw new Error(`provider ${p.id} is simulated but this worker runs no simulator`);
    const key = `${p.wireFormat}|${baseURL ?? ''}|${p.credential ?? ''}`;
    const cached = this.adapters.get(p.id);
    if (cached?.key === key) return cached.adapter;
    const found = providerKey(p, this.secrets, this.named);
    if (found) registerSecrets([found]);
    // The simulator accepts any key; a real provider without one answers 401 → AuthFailed → fallback.
    // `none`: the SDKs require a string, so a placeholder that is no secret.
    const apiKey = found ?? (found === null ? 'none' : p.simulated ? 'simulated' : 'missing-key');
    const opts = { providerId: p.id, apiKey, baseURL, timeoutMs: this.timeoutMs };
    const adapter = p.wireFormat === 'anthropic' ? new AnthropicAdapter(opts) : new OpenAIAdapter(opts);
    this.adapters.set(p.id, { key, adapter });
    return adapter;
  }
}
