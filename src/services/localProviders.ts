/**
 * What differs per process: the providers its environment has keys for, and whether it runs the
 * simulator. None of it is ever written to the shared configuration (one process starting with
 * other keys must not change what every process routes with). Instead:
 *  - `overlay` adds, to this process's own view, the shipped providers (and their models) its
 *    environment enables and the stored configuration lacks;
 *  - `canReach` says whether this process can call a provider, so a worker's decisions leave out
 *    what it cannot call, and it polls only the provider queues it can serve.
 */
import type { Catalog, Provider } from '../domain/catalog';
import type { LocalOverlay } from './configStore';
import { providerKey, type NamedCredentials } from '../providers/registry';

export interface LocalProviders {
  overlay: LocalOverlay;
  canReach(provider: Pick<Provider, 'id' | 'credential' | 'apiKey'> & { simulated?: boolean }): boolean;
}

/**
 * `shipped`: the catalog this environment enables; `keyed`: the providers whose keys come from
 * the environment (a provider not among them, e.g. a local model an operator added, needs none
 * here and counts as reachable).
 */
export function localProviders(
  shipped: Catalog,
  keyed: Record<string, string | undefined>,
  simulatorRunning: boolean,
  /** Keys a provider's `credential: env:NAME` names (default: this process's environment). */
  named?: NamedCredentials,
): LocalProviders {
  return {
    overlay: (stored) => {
      const have = new Set(stored.catalog.providers.map((p) => p.id));
      const providers = shipped.providers.filter((p) => !have.has(p.id));
      if (!providers.length) return { config: stored, added: [] };
      const added = new Set(providers.map((p) => p.id));
      const models = shipped.models.filter((m) => added.has(m.provider));
      return {
        config: {
          ...stored,
          catalog: {
            providers: [...stored.catalog.providers, ...providers],
            models: [...stored.catalog.models, ...models],
          },
        },
        added: [...added],
      };
    },
    canReach: (p) => {
      if (p.simulated) return simulatorRunning;
      // A provider naming its key needs that key here (`none`: nothing; a stored secret is every
      // process's); else the id's own key.
      if (p.credential !== undefined || p.apiKey !== undefined) return providerKey(p, keyed, named) !== undefined;
      return p.id in keyed ? Boolean(keyed[p.id]) : true;
    },
  };
}
