/**
 * Which key a provider's calls carry, and when a configuration change must say so. A provider
 * without `credential` gets the key the worker's environment has for its id (OPENAI_API_KEY for
 * `openai`…). Were that implied key to follow a base URL changed through the API, one operator key
 * (or a stolen one) could send the environment's provider key to any host. So a change that points
 * a provider somewhere new must name the key to send there: `env:NAME` or `none`.
 */
import { kindOf, type Catalog, type Provider } from './catalog';

/** Provider ids the environment has a key for, and the wire format that key belongs to. */
const ENVIRONMENT_KEYED: Record<string, string> = { openai: 'openai', anthropic: 'anthropic' };

/** Where an implied key would go: the base URL, or the SDK's own host for the wire format. */
const destination = (p: Pick<Provider, 'kind' | 'wireFormat' | 'baseUrl'>) => `${kindOf(p)} ${p.baseUrl ?? '(default)'}`;

/**
 * Providers of `next` whose implied environment key would go somewhere it did not go before
 * (a new or changed base URL, or a credential removed), with the path of the field to set.
 */
export function implicitKeyIssues(
  stored: Pick<Catalog, 'providers'> | undefined,
  next: Pick<Catalog, 'providers'>,
): Array<{ path: string; message: string }> {
  const before = new Map((stored?.providers ?? []).map((p) => [p.id, p]));
  return next.providers.flatMap((p, i) => {
    if (p.credential !== undefined || p.apiKey !== undefined || p.simulated) return [];
    const was = before.get(p.id);
    if (was && was.credential === undefined && !was.simulated && destination(was) === destination(p)) return [];
    // The SDK's own host for the key's own wire format is where that key is meant to go.
    if (!p.baseUrl && (ENVIRONMENT_KEYED[p.id] ?? kindOf(p)) === kindOf(p)) return [];
    const where = p.baseUrl ?? `the ${kindOf(p)} SDK's default host`;
    return [
      {
        path: `catalog.providers.${i}.credential`,
        message:
          `provider '${p.id}' now points to ${where}: name the key to send there, ` +
          `apiKey { env: NAME } or { secret: name }, or credential 'none' (e.g. apiKey { env: 'OPENAI_API_KEY' } ` +
          `to send that key on purpose); the environment's key is not sent to a new host without it`,
      },
    ];
  });
}
