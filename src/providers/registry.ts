/**
 * One adapter per provider instance, built on first use from the current catalog entry, its kind
 * and the key its reference names (keys never leave the worker: workflows only see provider ids).
 * Rebuilt when the instance's kind, endpoint, headers, version, region, key or continuation style changes.
 */
import { CREDENTIAL_PATTERN, kindOf, type Provider } from '../domain/catalog';
import { failure } from './errors';
import { kindNamed } from './kinds';
import { registerSecrets } from './redact';
import type { AdapterContext } from './kind';
import type { ProviderAdapter } from './types';

export interface ProviderSecrets {
  /** API key by provider id. */
  [providerId: string]: string | undefined;
}

/** A key by its environment variable's name (the worker's environment; tests pass their own). */
export type NamedCredentials = (name: string) => string | undefined;
const fromEnvironment: NamedCredentials = (name) => process.env[name];

/** Keys stored through the operator API (decrypted by the worker; `src/services/secretStore.ts`). */
export interface SecretSource {
  get(name: string): Promise<string | undefined>;
}

const AWS_SECRETS = ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_BEARER_TOKEN_BEDROCK'];

/** A stored-secret reference: resolved asynchronously (`resolveKey`). */
export const STORED_SECRET = Symbol('stored secret');

/**
 * The key a provider's calls carry in this process, as far as the environment says: the one its
 * `apiKey.env` or `credential` names (`none`: no key), else the one the environment has for its
 * id. Undefined: this process has none for it. A stored secret answers `STORED_SECRET`.
 */
export function providerKey(
  p: Pick<Provider, 'id' | 'credential' | 'apiKey'>,
  secrets: ProviderSecrets,
  named: NamedCredentials = fromEnvironment,
): string | null | undefined | typeof STORED_SECRET {
  if (p.apiKey && 'secret' in p.apiKey) return STORED_SECRET;
  if (p.apiKey && 'env' in p.apiKey) return named(p.apiKey.env) || undefined;
  if (p.credential === 'none') return null;
  // The schema allows only key variables; checked again so no stored value can name another one.
  if (p.credential !== undefined)
    return CREDENTIAL_PATTERN.test(p.credential) ? named(p.credential.slice('env:'.length)) || undefined : undefined;
  return secrets[p.id];
}

export class AdapterRegistry {
  private readonly adapters = new Map<string, { key: string; apiKey: string | null; adapter: ProviderAdapter }>();

  constructor(
    private readonly secrets: ProviderSecrets,
    private readonly timeoutMs: number,
    /** This worker's simulator, serving providers marked `simulated`. */
    private readonly simulatedUrl?: string,
    /** Keys a provider's `apiKey.env` or `credential: env:NAME` names. */
    private readonly named: NamedCredentials = fromEnvironment,
    /** Keys a provider's `apiKey.secret` names. */
    private readonly stored?: SecretSource,
  ) {
    registerSecrets(Object.values(secrets));
    // What the AWS chain may send (Bedrock without a key): never written anywhere either.
    registerSecrets(AWS_SECRETS.map((n) => process.env[n]));
  }

  /** The key the instance's calls carry: null for none (or the kind's own chain, e.g. AWS's). */
  private async resolveKey(p: Provider, keyOptional: boolean): Promise<string | null> {
    const ref = providerKey(p, this.secrets, this.named);
    const found = ref === STORED_SECRET ? await this.stored?.get((p.apiKey as { secret: string }).secret) : ref;
    if (found) registerSecrets([found]);
    if (found !== undefined) return found;
    // The simulator accepts any key; a real provider without one answers 401 → AuthFailed → fallback.
    if (p.simulated) return 'simulated';
    // A key named but not found (unset, deleted, no master key) is a missing key, never "none":
    // for Bedrock, none would mean the AWS chain's own credentials.
    if (p.apiKey !== undefined || p.credential !== undefined) return 'missing-key';
    return keyOptional ? null : 'missing-key';
  }

  async get(p: Provider): Promise<ProviderAdapter> {
    const kind = kindNamed(p.simulated ? 'openai' : kindOf(p));
    // A worker older than the stored configuration: the workflow falls back to another candidate.
    if (!kind)
      throw failure('NotFound', `provider ${p.id} has kind '${kindOf(p)}', which this worker does not know`, {
        provider: p.id,
        model: '',
      });
    const baseURL = p.simulated ? this.simulatedUrl : p.baseUrl;
    if (p.simulated && !baseURL) throw new Error(`provider ${p.id} is simulated but this worker runs no simulator`);
    const apiKey = await this.resolveKey(p, kind.keyOptional === true);
    const key = JSON.stringify([
      kind.name,
      baseURL,
      p.headers,
      p.apiVersion,
      p.region,
      p.credential,
      p.apiKey,
      p.continuation,
    ]);
    const cached = this.adapters.get(p.id);
    if (cached?.key === key && cached.apiKey === apiKey) return cached.adapter;
    const ctx: AdapterContext = {
      providerId: p.id,
      apiKey,
      timeoutMs: this.timeoutMs,
      ...(baseURL !== undefined && { baseURL }),
      ...(p.headers && { headers: p.headers }),
      ...(p.apiVersion !== undefined && { apiVersion: p.apiVersion }),
      ...(p.region !== undefined && { region: p.region }),
      ...(p.continuation !== undefined && !p.simulated && { continuation: p.continuation }),
    };
    const adapter = kind.create(ctx);
    this.adapters.set(p.id, { key, apiKey, adapter });
    return adapter;
  }
}
