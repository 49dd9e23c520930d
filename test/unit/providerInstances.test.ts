/**
 * Provider instances in the catalog: kinds, key references, headers, regions and residency, and
 * how the registry turns an instance into an adapter (one per instance, rebuilt when its key or
 * endpoint changes).
 */
import { CatalogSchema, defaultCatalog, kindOf, residencyOf, residencyOfRegion } from '../../src/domain/catalog';
import { implicitKeyIssues } from '../../src/domain/credentials';
import { KINDS, kindIssues } from '../../src/providers/kinds';
import { AdapterRegistry, providerKey, STORED_SECRET } from '../../src/providers/registry';
import { fakeModel } from '../support/stack';

const catalog = (
  providers: Array<Record<string, unknown>>,
  models = providers.map((p) => fakeModel(String(p.id), 'm')),
) => CatalogSchema.safeParse({ providers, models });
const issuePaths = (r: ReturnType<typeof catalog>) => (r.success ? [] : r.error.issues.map((i) => i.path.join('.')));

describe('cloud regions → residency', () => {
  it.each([
    ['eu-central-1', 'EU'],
    ['eu-west-3', 'EU'],
    ['westeurope', 'EU'],
    ['europe-west4', 'EU'],
    ['francecentral', 'EU'],
    ['uksouth', 'EU'],
    ['us-east-1', 'US'],
    ['eastus2', 'US'],
    ['us-central1', 'US'],
    ['ca-central-1', 'CA'],
    ['canadacentral', 'CA'],
    ['ap-northeast-1', 'APAC'],
    ['australiaeast', 'APAC'],
    ['asia-southeast1', 'APAC'],
  ])('%s is %s', (region, residency) => expect(residencyOfRegion(region)).toBe(residency));

  it('an unknown region says nothing; `residency` overrides the region', () => {
    expect(residencyOfRegion('mars-north-1')).toBeUndefined();
    expect(residencyOf({ region: 'us-east-1', residency: 'EU' })).toBe('EU');
  });
});

describe('instances in the catalog', () => {
  it('a model may list only its instance’s residency', () => {
    const eu = { id: 'bedrock-eu', kind: 'bedrock', region: 'eu-central-1' };
    expect(catalog([eu], [fakeModel('bedrock-eu', 'm', { regions: ['EU'] })]).success).toBe(true);
    const wrong = catalog([eu], [fakeModel('bedrock-eu', 'm', { regions: ['EU', 'US'] })]);
    expect(issuePaths(wrong)).toEqual(['models.0.regions']);
    expect(wrong.success ? '' : wrong.error.issues[0]!.message).toMatch(/keeps data in EU \(region eu-central-1\)/);
  });

  it('key references: an environment variable ending in _API_KEY or _TOKEN, or a stored secret', () => {
    for (const apiKey of [{ env: 'GROQ_API_KEY' }, { env: 'HF_TOKEN' }, { secret: 'team-vllm' }])
      expect(catalog([{ id: 'p', kind: 'openai-compatible', baseUrl: 'https://x.test/v1', apiKey }]).success).toBe(
        true,
      );
    for (const apiKey of [
      { env: 'DATABASE_URL' },
      { env: 'SWITCHYARD_MASTER_KEY' },
      { env: 'SWITCHYARD_BOOTSTRAP_TOKEN' },
      { env: 'AWS_SESSION_TOKEN' },
      // Not any token: a CI or vault token is no provider key.
      { env: 'GITHUB_TOKEN' },
      { env: 'VAULT_TOKEN' },
      { secret: 'Has Spaces' },
      { env: 'A_API_KEY', secret: 'both' },
    ])
      expect(issuePaths(catalog([{ id: 'p', kind: 'openai', apiKey }]))[0]).toMatch(/^providers\.0\.apiKey/);
  });

  it('headers carry no credentials, and an instance names one key source', () => {
    expect(catalog([{ id: 'p', kind: 'openai', headers: { 'OpenAI-Organization': 'org-1' } }]).success).toBe(true);
    for (const h of [
      'Authorization',
      'api-key',
      'x-api-key',
      'x-goog-api-key',
      'Cookie',
      'Ocp-Apim-Subscription-Key',
      'X-Amz-Security-Token',
      'X-Auth-Token',
    ])
      expect(issuePaths(catalog([{ id: 'p', kind: 'openai', headers: { [h]: 'k' } }]))).toEqual([
        `providers.0.headers.${h}`,
      ]);
    expect(
      issuePaths(catalog([{ id: 'p', kind: 'openai', credential: 'none', apiKey: { env: 'A_API_KEY' } }])),
    ).toEqual(['providers.0.credential']);
  });

  it('no credentials in a base URL', () => {
    expect(issuePaths(catalog([{ id: 'p', kind: 'openai-compatible', baseUrl: 'https://u:pw@x.test/v1' }]))).toEqual([
      'providers.0.baseUrl',
    ]);
  });

  it('duplicate instance ids are refused', () => {
    expect(
      issuePaths(
        catalog(
          [
            { id: 'p', kind: 'openai' },
            { id: 'p', kind: 'google' },
          ],
          [fakeModel('p', 'm')],
        ),
      ),
    ).toEqual(['providers.1.id']);
  });

  it('kind: the registered kinds, what each requires; `wireFormat` still read', () => {
    const c = CatalogSchema.parse({
      providers: [
        { id: 'a', kind: 'azure-openai' },
        { id: 'b', kind: 'bedrock' },
        { id: 'c', kind: 'cohere' },
        { id: 'd', wireFormat: 'anthropic' },
        { id: 'e', kind: 'openai-compatible' },
      ],
      models: ['a', 'b', 'c', 'd', 'e'].map((p) => fakeModel(p, 'm')),
    });
    expect(kindIssues(c).map((i) => i.path)).toEqual([
      'catalog.providers.0.baseUrl',
      'catalog.providers.0.apiVersion',
      'catalog.providers.1.region',
      'catalog.providers.2.kind',
      'catalog.providers.4.baseUrl',
    ]);
    expect(kindIssues(c)[3]!.message).toMatch(/unknown provider kind 'cohere' \(known: openai, anthropic/);
    expect(kindOf(c.providers[3]!)).toBe('anthropic');
  });
});

describe('keys', () => {
  const named = (n: string) => ({ TEAM_API_KEY: 'team-key', HF_TOKEN: 'hf-key' })[n];

  it('by reference: env, stored secret, none, or the id’s own', () => {
    expect(providerKey({ id: 'x', apiKey: { env: 'TEAM_API_KEY' } }, {}, named)).toBe('team-key');
    expect(providerKey({ id: 'x', apiKey: { env: 'MISSING_API_KEY' } }, {}, named)).toBeUndefined();
    expect(providerKey({ id: 'x', apiKey: { secret: 's' } }, {}, named)).toBe(STORED_SECRET);
    expect(providerKey({ id: 'x', credential: 'none' }, {}, named)).toBeNull();
    expect(providerKey({ id: 'openai' }, { openai: 'sk-env' }, named)).toBe('sk-env');
  });

  it('a named key does not follow its instance to a new host unnoticed; naming it on a new instance is intent', () => {
    const stored = {
      providers: [{ id: 'google', kind: 'google', apiKey: { env: 'GEMINI_API_KEY' } }],
    } as never;
    const moved = {
      providers: [{ id: 'google', kind: 'google', baseUrl: 'https://x.test', apiKey: { env: 'GEMINI_API_KEY' } }],
    } as never;
    expect(implicitKeyIssues(stored, moved).map((i) => i.path)).toEqual(['catalog.providers.0.baseUrl']);
    expect(implicitKeyIssues(stored, moved)[0]!.message).toMatch(/with the key it had/);
    const anew = {
      providers: [{ id: 'google-2', kind: 'google', baseUrl: 'https://x.test', apiKey: { env: 'GEMINI_API_KEY' } }],
    } as never;
    expect(implicitKeyIssues(stored, anew)).toEqual([]);
    const rekeyed = {
      providers: [{ id: 'google', kind: 'google', baseUrl: 'https://x.test', apiKey: { secret: 'proxy-key' } }],
    } as never;
    expect(implicitKeyIssues(stored, rekeyed)).toEqual([]);
  });

  it('Bedrock without a key pointed somewhere new: the AWS chain’s credentials do not go along', () => {
    const stored = { providers: [{ id: 'b', kind: 'bedrock', region: 'us-east-1' }] } as never;
    const moved = {
      providers: [{ id: 'b', kind: 'bedrock', region: 'us-east-1', baseUrl: 'https://x.test' }],
    } as never;
    expect(implicitKeyIssues(stored, moved).map((i) => i.path)).toEqual(['catalog.providers.0.credential']);
    const none = CatalogSchema.parse({
      providers: [{ id: 'b', kind: 'bedrock', region: 'us-east-1', credential: 'none' }],
      models: [fakeModel('b', 'm')],
    });
    expect(kindIssues(none).map((i) => i.path)).toEqual(['catalog.providers.0.credential']);
  });

  it('an apiKey reference is naming the key: no implied key goes to a new host', () => {
    const next = {
      providers: [
        { id: 'openai', kind: 'openai', baseUrl: 'https://proxy.test/v1', apiKey: { env: 'OPENAI_API_KEY' } },
      ],
    } as never;
    expect(implicitKeyIssues(undefined, next)).toEqual([]);
    const implied = { providers: [{ id: 'openai', kind: 'openai', baseUrl: 'https://proxy.test/v1' }] } as never;
    expect(implicitKeyIssues(undefined, implied).map((i) => i.path)).toEqual(['catalog.providers.0.credential']);
  });
});

describe('the registry', () => {
  const instance = (over: Record<string, unknown> = {}) =>
    CatalogSchema.parse({
      providers: [{ id: 'team', kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1', ...over }],
      models: [fakeModel('team', 'm')],
    }).providers[0]!;

  it('one adapter per instance, rebuilt when its stored key rotates or its endpoint moves', async () => {
    let stored = 'first-key-0123456789';
    const registry = new AdapterRegistry({}, 1_000, undefined, () => undefined, { get: async () => stored });
    const p = instance({ apiKey: { secret: 'team' } });
    const a = await registry.get(p);
    expect(await registry.get(p)).toBe(a);
    stored = 'second-key-0123456789';
    const b = await registry.get(p);
    expect(b).not.toBe(a);
    expect(await registry.get(instance({ apiKey: { secret: 'team' }, baseUrl: 'http://127.0.0.1:10/v1' }))).not.toBe(b);
  });

  it('every registered kind builds an adapter from an instance that has what it requires', async () => {
    const registry = new AdapterRegistry({}, 1_000, undefined, () => 'k-0123456789');
    for (const kind of Object.values(KINDS)) {
      const p = instance({
        kind: kind.name,
        apiKey: { env: 'ANY_API_KEY' },
        apiVersion: '2024-10-21',
        region: 'us-east-1',
      });
      const adapter = await registry.get({ ...p, id: kind.name });
      expect(typeof adapter.chat).toBe('function');
      expect(typeof adapter.embed === 'function').toBe(kind.capabilities.embeddings);
    }
  });

  it('a kind no worker knows is a NotFound failure naming it (the workflow falls back)', async () => {
    const registry = new AdapterRegistry({}, 1_000);
    await expect(registry.get(instance({ kind: 'cohere' }))).rejects.toMatchObject({
      type: 'NotFound',
      message: expect.stringMatching(/kind 'cohere'/),
    });
  });

  it('a key named but not found is a missing key, never none (for Bedrock, none is the AWS chain)', async () => {
    const seen: Array<string | null> = [];
    const spy = jest.spyOn(KINDS.bedrock!, 'create').mockImplementation((ctx) => {
      seen.push(ctx.apiKey);
      return { providerId: ctx.providerId } as never;
    });
    try {
      const registry = new AdapterRegistry({}, 1_000, undefined, () => undefined, { get: async () => undefined });
      const bedrock = (over: Record<string, unknown>) =>
        CatalogSchema.parse({
          providers: [{ id: 'b', kind: 'bedrock', region: 'us-east-1', ...over }],
          models: [fakeModel('b', 'm')],
        }).providers[0]!;
      await registry.get(bedrock({ apiKey: { env: 'UNSET_API_KEY' } }));
      await registry.get(bedrock({ apiKey: { secret: 'deleted' } }));
      await registry.get(bedrock({}));
      expect(seen).toEqual(['missing-key', 'missing-key', null]);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('the shipped catalog', () => {
  it('an instance per kind the environment enables, each naming its key; nothing enabled: empty', () => {
    const c = defaultCatalog({
      google: { apiKeyEnv: 'GEMINI_API_KEY' },
      azure: { endpoint: 'https://r.openai.azure.com', apiVersion: '2024-10-21' },
      bedrock: { region: 'eu-west-1' },
      huggingface: {},
    });
    expect(c.providers.map((p) => [p.id, kindOf(p), p.apiKey ?? null, p.region ?? null])).toEqual([
      ['google', 'google', { env: 'GEMINI_API_KEY' }, null],
      ['azure-openai', 'azure-openai', { env: 'AZURE_OPENAI_API_KEY' }, null],
      ['bedrock', 'bedrock', null, 'eu-west-1'],
      ['huggingface', 'huggingface', { env: 'HF_TOKEN' }, null],
    ]);
    const bedrock = c.models.filter((m) => m.provider === 'bedrock');
    // Only the models whose EU inference profiles exist, under their `eu.` names.
    expect(bedrock.map((m) => m.model)).toEqual([
      'eu.anthropic.claude-sonnet-4-5-20250929-v1:0',
      'eu.anthropic.claude-haiku-4-5-20251001-v1:0',
      'eu.amazon.nova-pro-v1:0',
      'eu.amazon.nova-lite-v1:0',
      'eu.amazon.nova-micro-v1:0',
    ]);
    expect(bedrock.every((m) => m.regions.join() === 'EU')).toBe(true);
    // Azure with its region: its models in that residency; elsewhere outside US and EU, no Bedrock shipped.
    const azure = defaultCatalog({
      azure: { endpoint: 'https://r.openai.azure.com', apiVersion: 'v', region: 'westeurope' },
    });
    expect(new Set(azure.models.map((m) => m.regions.join()))).toEqual(new Set(['EU']));
    expect(defaultCatalog({ bedrock: { region: 'ca-central-1' } }).providers).toEqual([]);
    expect(kindIssues(c)).toEqual([]);
    expect(defaultCatalog({})).toEqual({ providers: [], models: [] });
  });
});
