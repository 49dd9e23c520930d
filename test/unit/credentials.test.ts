/**
 * Which key a provider's calls carry (src/providers/registry.ts, src/services/localProviders.ts)
 * and when a configuration change must name it (src/domain/credentials.ts).
 */
import { CatalogSchema, type Catalog } from '../../src/domain/catalog';
import { implicitKeyIssues } from '../../src/domain/credentials';
import { providerKey } from '../../src/providers/registry';
import { localProviders } from '../../src/services/localProviders';

const model = (provider: string) => ({
  provider,
  model: 'm',
  id: `${provider}/m`,
  inputPricePerMTok: 1,
  outputPricePerMTok: 1,
  contextWindow: 1000,
  maxOutputTokens: 100,
  capabilities: ['chat'],
  qualityTier: 3,
});
const catalog = (providers: Array<Record<string, unknown>>): Catalog =>
  CatalogSchema.parse({ providers, models: providers.map((p) => model(p.id as string)) });

const stored = catalog([
  { id: 'openai', wireFormat: 'openai' },
  { id: 'local', wireFormat: 'openai', baseUrl: 'http://127.0.0.1:11434/v1' },
]);

describe('implicitKeyIssues', () => {
  it('lets unchanged providers, and providers on their SDK’s own host, through', () => {
    expect(implicitKeyIssues(stored, stored)).toEqual([]);
    expect(implicitKeyIssues(undefined, catalog([{ id: 'openai', wireFormat: 'openai' }]))).toEqual([]);
    expect(implicitKeyIssues(stored, catalog([...stored.providers, { id: 'groq', wireFormat: 'openai' }]))).toEqual([]);
  });

  it('refuses a base URL changed or added without a credential, naming the field', () => {
    const moved = catalog([{ id: 'openai', wireFormat: 'openai', baseUrl: 'https://attacker.example/v1' }]);
    expect(implicitKeyIssues(stored, moved)).toEqual([
      { path: 'catalog.providers.0.credential', message: expect.stringContaining("provider 'openai' now points to") },
    ]);
    const localMoved = catalog([stored.providers[0]!, { ...stored.providers[1]!, baseUrl: 'http://127.0.0.1:1/v1' }]);
    expect(implicitKeyIssues(stored, localMoved).map((i) => i.path)).toEqual(['catalog.providers.1.credential']);
    // The environment's `anthropic` key sent to OpenAI's host by a wire format change.
    expect(implicitKeyIssues(undefined, catalog([{ id: 'anthropic', wireFormat: 'openai' }]))).toHaveLength(1);
  });

  it('accepts the change once the credential is named, and refuses taking it away again', () => {
    const named = catalog([
      { id: 'openai', wireFormat: 'openai', baseUrl: 'https://proxy.example/v1', credential: 'none' },
    ]);
    expect(implicitKeyIssues(stored, named)).toEqual([]);
    const env = catalog([
      { id: 'openai', wireFormat: 'openai', baseUrl: 'https://proxy.example/v1', credential: 'env:PROXY_API_KEY' },
    ]);
    expect(implicitKeyIssues(stored, env)).toEqual([]);
    const implied = catalog([{ id: 'openai', wireFormat: 'openai', baseUrl: 'https://proxy.example/v1' }]);
    expect(implicitKeyIssues(named, implied)).toHaveLength(1);
  });

  it('a credential names a key variable only', () => {
    for (const credential of ['env:DATABASE_URL', 'env:SWITCHYARD_BOOTSTRAP_KEY', 'env:', 'OPENAI_API_KEY', 'key'])
      expect(() => catalog([{ id: 'x', wireFormat: 'openai', credential }])).toThrow();
  });
});

describe('providerKey and canReach', () => {
  const secrets = { openai: 'sk-env-openai-0123456789' };
  const env = (name: string) => ({ PROXY_API_KEY: 'sk-proxy-0123456789' })[name];

  it('sends the named key, no key, or the id’s own key, and never falls back to the environment’s', () => {
    expect(providerKey({ id: 'openai' }, secrets, env)).toBe('sk-env-openai-0123456789');
    expect(providerKey({ id: 'openai', credential: 'env:PROXY_API_KEY' }, secrets, env)).toBe('sk-proxy-0123456789');
    expect(providerKey({ id: 'openai', credential: 'none' }, secrets, env)).toBeNull();
    expect(providerKey({ id: 'openai', credential: 'env:MISSING_API_KEY' }, secrets, env)).toBeUndefined();
    // A stored value the schema would refuse names nothing.
    expect(
      providerKey({ id: 'openai', credential: 'env:DATABASE_URL' }, secrets, () => 'postgres://x'),
    ).toBeUndefined();
  });

  it('a worker can reach a provider when it has the key the provider names', () => {
    const { canReach } = localProviders(stored, secrets, false, env);
    expect(canReach({ id: 'openai' })).toBe(true);
    expect(canReach({ id: 'anthropic', credential: 'env:PROXY_API_KEY' })).toBe(true);
    expect(canReach({ id: 'openai', credential: 'env:MISSING_API_KEY' })).toBe(false);
    expect(canReach({ id: 'local', credential: 'none' })).toBe(true);
    expect(canReach({ id: 'sim', simulated: true })).toBe(false);
  });
});
