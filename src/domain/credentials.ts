/**
 * Which key a provider's calls carry, and when a configuration change must say so. A provider
 * without `credential` gets the key the worker's environment has for its id (OPENAI_API_KEY for
 * `openai`…). Were that implied key to follow a base URL changed through the API, one operator key
 * (or a stolen one) could send the environment's provider key to any host. So a change that points
 * a provider somewhere new must name the key to send there, and a key already named does not
 * follow its instance to a new host unnoticed.
 */
import { kindOf, type Catalog, type Provider } from './catalog';

/** Provider ids the environment has a key for, and the wire format that key belongs to. */
const ENVIRONMENT_KEYED: Record<string, string> = { openai: 'openai', anthropic: 'anthropic' };

/** Where an implied key would go: the base URL, or the SDK's own host for the wire format. */
const destination = (p: Pick<Provider, 'kind' | 'wireFormat' | 'baseUrl'>) =>
  `${kindOf(p)} ${p.baseUrl ?? '(default)'}`;

/** The key an instance names (`apiKey`, or `credential: env:NAME`), as text to compare; undefined: none named. */
const namedKey = (p: Pick<Provider, 'apiKey' | 'credential'>): string | undefined =>
  p.apiKey
    ? JSON.stringify(p.apiKey)
    : p.credential !== undefined && p.credential !== 'none'
      ? p.credential
      : undefined;

/**
 * Providers of `next` whose key would go somewhere it did not go before, with the path of the
 * field to set:
 *  - an implied environment key (none named) after a new or changed base URL, or a credential
 *    removed;
 *  - a named key carried along unchanged while its instance points somewhere new. A whole
 *    configuration is written back with every instance's reference in it, so keeping one is no
 *    sign of intent; naming a key on a new instance (a new id) or another key is.
 */
export function implicitKeyIssues(
  stored: Pick<Catalog, 'providers'> | undefined,
  next: Pick<Catalog, 'providers'>,
): Array<{ path: string; message: string }> {
  const before = new Map((stored?.providers ?? []).map((p) => [p.id, p]));
  return next.providers.flatMap((p, i) => {
    if (p.simulated) return [];
    const was = before.get(p.id);
    const named = namedKey(p);
    if (named !== undefined) {
      if (!was || was.simulated || namedKey(was) !== named || destination(was) === destination(p)) return [];
      return [
        {
          path: `catalog.providers.${i}.baseUrl`,
          message:
            `provider '${p.id}' now points to ${p.baseUrl ?? `the ${kindOf(p)} SDK's default host`} with the key it ` +
            `had (${named}): a key does not follow its instance to a new host; to send it there on purpose, add ` +
            `the instance under a new id, or reference another key`,
        },
      ];
    }
    if (p.credential !== undefined) return [];
    if (
      was &&
      namedKey(was) === undefined &&
      was.credential === undefined &&
      !was.simulated &&
      destination(was) === destination(p)
    )
      return [];
    // The SDK's own host for the key's own wire format is where that key is meant to go.
    if (!p.baseUrl && (ENVIRONMENT_KEYED[p.id] ?? kindOf(p)) === kindOf(p)) return [];
    const where = p.baseUrl ?? `the ${kindOf(p)} SDK's default host`;
    return [
      {
        path: `catalog.providers.${i}.credential`,
        message:
          `provider '${p.id}' now points to ${where}: name the key to send there, ` +
          `apiKey { env: NAME } or { secret: name }, or credential 'none' (e.g. apiKey { env: 'OPENAI_API_KEY' } ` +
          `to send that key on purpose); the environment's key (or, for Bedrock, the AWS chain's) is not sent to a new host without it`,
      },
    ];
  });
}
