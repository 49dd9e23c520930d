/**
 * The OpenAI-wire family of kinds against the OpenAI-wire fake over real HTTP: Azure's deployment
 * paths and content filter, Hugging Face's own error bodies, a keyless OpenAI-compatible server,
 * the presets (configuration only) and the shipped Azure and Hugging Face catalog entries.
 */
import type { ApplicationFailure } from '@temporalio/common';
import { APIError } from 'openai';
import { CatalogSchema, findModel, KEY_ENV_PATTERN } from '../../../src/domain/catalog';
import { initialFallbackState, routeEnding } from '../../../src/domain/fallback';
import { AZURE_MODELS } from '../../../src/domain/models/azure';
import { HUGGINGFACE_MODELS } from '../../../src/domain/models/huggingface';
import { toProviderFailure } from '../../../src/providers/errors';
import { HF_ROUTER_URL } from '../../../src/providers/huggingface';
import { HF_MAX_LOADING_RETRY_MS, hfFailure } from '../../../src/providers/huggingface/errors';
import { KINDS, kindIssues } from '../../../src/providers/kinds';
import { catalogEntryOf, OPENAI_COMPATIBLE_PRESETS } from '../../../src/providers/openai-compatible/presets';
import type { AdapterContext } from '../../../src/providers/kind';
import type { ProviderAdapter } from '../../../src/providers/types';
import { CONTRACT_ANSWER } from '../../contract/fixture';
import { startOpenAIWire, type OpenAIFlavour, type OpenAIWireFake } from '../../support/fakes/openaiWire';

const KEY = 'sk-family-test-7d3e91c0a5b2f4';
const hello = (model: string) => ({ model, messages: [{ role: 'user' as const, content: 'Hello' }] });
const limits = { firstTokenMs: 5_000, idleMs: 5_000 };

const fakes: OpenAIWireFake[] = [];
async function fake(flavour: OpenAIFlavour, key = KEY): Promise<OpenAIWireFake> {
  const f = await startOpenAIWire(flavour, key);
  fakes.push(f);
  return f;
}
afterAll(async () => {
  for (const f of fakes) await f.close();
});

const adapter = (kind: string, ctx: Partial<AdapterContext>): ProviderAdapter =>
  KINDS[kind]!.create({ providerId: `p-${kind}`, apiKey: KEY, timeoutMs: 5_000, ...ctx });

/** What the activity makes of whatever the call threw. */
async function failureOf(call: Promise<unknown>, model = 'm'): Promise<ApplicationFailure> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeDefined();
  return toProviderFailure(err, 'p', model);
}
const detailsOf = (f: ApplicationFailure) => f.details?.[0] as Record<string, unknown>;

describe('azure-openai', () => {
  it('calls the deployment with api-version and the api-key header', async () => {
    const f = await fake('azure');
    const a = adapter('azure-openai', { baseURL: `${f.url}/`, apiVersion: '2024-10-21' });
    const out = await a.chat(hello('gpt-4o-prod'));
    expect(out.content).toBe(CONTRACT_ANSWER);
    const [call] = f.callsFor('gpt-4o-prod');
    expect(call!.url).toBe('/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21');
    expect(call!.headers['api-key']).toBe(KEY);
    expect(call!.headers.authorization).toBeUndefined();
    const emb = await a.embed!('embed-small', ['a', 'b']);
    expect(emb.embeddings).toHaveLength(2);
    expect(f.callsFor('embed-small')[0]!.url).toBe('/openai/deployments/embed-small/embeddings?api-version=2024-10-21');
  });

  it("maps the content filter's 400 (innererror ResponsibleAIPolicyViolation) to ContentFiltered, naming the categories", async () => {
    const f = await fake('azure');
    f.fail('gpt-4o-prod', 'content-filter');
    const a = adapter('azure-openai', { baseURL: f.url, apiVersion: '2024-10-21' });
    for (const call of [a.chat(hello('gpt-4o-prod')), a.chatStream(hello('gpt-4o-prod'), { limits }, () => {})]) {
      const failure = await failureOf(call, 'gpt-4o-prod');
      expect(failure.type).toBe('ContentFiltered');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toContain('violence (high)');
      expect(detailsOf(failure)).toMatchObject({ status: 400, providerCode: 'ResponsibleAIPolicyViolation' });
    }
  });

  it('a 429 with retry-after: 0 is RateLimited and still retried (a zero delay would make Temporal skip the retry)', async () => {
    const f = await fake('azure');
    f.fail('gpt-4o-prod', 'rate-limit');
    const a = adapter('azure-openai', { baseURL: f.url, apiVersion: '2024-10-21' });
    const failure = await failureOf(a.chat(hello('gpt-4o-prod')));
    expect(failure.type).toBe('RateLimited');
    expect(failure.nonRetryable).toBe(false);
    expect(detailsOf(failure).retryAfterMs).toBe(0);
    expect(failure.nextRetryDelay).toBe(1);
  });

  it('an instance without apiVersion or baseUrl is flagged by its kind', () => {
    expect(kindIssues({ providers: [{ id: 'az', kind: 'azure-openai', simulated: false }] })).toEqual([
      { path: 'catalog.providers.0.baseUrl', message: "a 'azure-openai' provider needs baseUrl" },
      { path: 'catalog.providers.0.apiVersion', message: "a 'azure-openai' provider needs apiVersion" },
    ]);
  });
});

describe("OpenAI's environment variables stay OpenAI's", () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of ['OPENAI_BASE_URL', 'OPENAI_ORG_ID', 'OPENAI_PROJECT_ID']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it.each([
    ['azure-openai', 'azure'],
    ['openai-compatible', 'compatible'],
    ['huggingface', 'huggingface'],
  ] as const)('%s calls its own base URL and sends no OpenAI organization or project', async (kind, flavour) => {
    process.env.OPENAI_BASE_URL = 'http://127.0.0.1:9/v1';
    process.env.OPENAI_ORG_ID = 'org-from-the-environment';
    process.env.OPENAI_PROJECT_ID = 'proj-from-the-environment';
    const f = await fake(flavour);
    const out = await adapter(kind, { baseURL: f.url, apiVersion: '2024-10-21' }).chat(hello('m'));
    expect(out.content).toBe(CONTRACT_ANSWER);
    expect(f.calls[0]!.headers['openai-organization']).toBeUndefined();
    expect(f.calls[0]!.headers['openai-project']).toBeUndefined();
  });

  it('openai at its own baseUrl (a proxy, another server) gets no OpenAI organization or project; its headers may carry one', async () => {
    process.env.OPENAI_ORG_ID = 'org-from-the-environment';
    process.env.OPENAI_PROJECT_ID = 'proj-from-the-environment';
    const f = await fake('openai');
    expect((await adapter('openai', { baseURL: f.url }).chat(hello('m'))).content).toBe(CONTRACT_ANSWER);
    expect(f.calls[0]!.headers['openai-organization']).toBeUndefined();
    expect(f.calls[0]!.headers['openai-project']).toBeUndefined();
    await adapter('openai', { baseURL: f.url, headers: { 'OpenAI-Organization': 'org-on-purpose' } }).chat(hello('m'));
    expect(f.calls[1]!.headers['openai-organization']).toBe('org-on-purpose');
    expect(f.calls[1]!.headers['openai-project']).toBeUndefined();
  });

  it('openai without a baseUrl (OpenAI itself, or OPENAI_BASE_URL) still sends OPENAI_ORG_ID and OPENAI_PROJECT_ID', async () => {
    const f = await fake('openai');
    process.env.OPENAI_BASE_URL = f.url;
    process.env.OPENAI_ORG_ID = 'org-from-the-environment';
    process.env.OPENAI_PROJECT_ID = 'proj-from-the-environment';
    expect((await adapter('openai', {}).chat(hello('m'))).content).toBe(CONTRACT_ANSWER);
    expect(f.calls[0]!.headers['openai-organization']).toBe('org-from-the-environment');
    expect(f.calls[0]!.headers['openai-project']).toBe('proj-from-the-environment');
  });
});

describe('openai-compatible: a filtered answer', () => {
  it('a 200 with finish_reason content_filter and no content comes back as such (the activity fails it as ContentFiltered)', async () => {
    const f = await fake('compatible');
    f.fail('m', 'content-filter');
    const out = await adapter('openai-compatible', { baseURL: f.url }).chat(hello('m'));
    expect(out).toMatchObject({ content: null, finishReason: 'content_filter' });
  });
});

describe('huggingface', () => {
  it('503 "Model … is currently loading" with estimated_time → Overloaded, retried after the estimate', async () => {
    const f = await fake('huggingface');
    f.fail('org/model', 'server-error');
    const a = adapter('huggingface', { baseURL: f.url });
    for (const call of [a.chat(hello('org/model')), a.chatStream(hello('org/model'), { limits }, () => {})]) {
      const failure = await failureOf(call, 'org/model');
      expect(failure.type).toBe('Overloaded');
      expect(failure.nonRetryable).toBe(false);
      expect(failure.message).toContain('is currently loading');
      expect(detailsOf(failure)).toMatchObject({ status: 503, providerCode: 'model_loading', retryAfterMs: 20 });
      expect(failure.nextRetryDelay).toBe(20);
    }
  });

  it('a load estimate over 30 s is still Overloaded, retried after 30 s (not held until the deadline)', () => {
    const loading = (estimated_time: number) => {
      const body = { error: 'Model org/model is currently loading', estimated_time };
      return hfFailure(
        new APIError(503, body, undefined, new Headers()),
        body,
        'p',
        'org/model',
        KEY,
      ) as ApplicationFailure;
    };
    const long = loading(600);
    expect(long.type).toBe('Overloaded');
    expect(long.nonRetryable).toBe(false);
    expect(detailsOf(long)).toMatchObject({ status: 503, providerCode: 'model_loading', retryAfterMs: 30_000 });
    expect(long.nextRetryDelay).toBe(HF_MAX_LOADING_RETRY_MS);
    expect(HF_MAX_LOADING_RETRY_MS).toBe(30_000);
    // Under the cap: the estimate as HF gives it.
    expect(loading(12.5).nextRetryDelay).toBe(12_500);
  });

  it('429 → RateLimited; TGI 422 over the token limit → ContextLengthExceeded, not retried', async () => {
    const f = await fake('huggingface');
    const a = adapter('huggingface', { baseURL: f.url });
    f.fail('m', 'rate-limit');
    expect((await failureOf(a.chat(hello('m')))).type).toBe('RateLimited');
    f.fail('m', 'context-length');
    const tooLong = await failureOf(a.chat(hello('m')));
    expect(tooLong.type).toBe('ContextLengthExceeded');
    expect(tooLong.nonRetryable).toBe(true);
    expect(detailsOf(tooLong)).toMatchObject({ status: 422, providerCode: 'validation' });
  });

  it('401 → AuthFailed, without the key it was sent (HF echoes it in its message)', async () => {
    const f = await fake('huggingface', 'hf_the_right_token');
    const wrong = 'hf_wrong_token_5c1d0e9b7a2f';
    const failure = await failureOf(adapter('huggingface', { baseURL: f.url, apiKey: wrong }).chat(hello('m')));
    expect(failure.type).toBe('AuthFailed');
    expect(failure.nonRetryable).toBe(true);
    expect(f.calls[0]!.headers.authorization).toBe(`Bearer ${wrong}`);
    expect(failure.message).toContain('Invalid credentials');
    expect(failure.message).not.toContain(wrong);
  });

  it('defaults to the Inference Providers router and declares no embeddings', () => {
    expect(HF_ROUTER_URL).toBe('https://router.huggingface.co/v1');
    expect(KINDS.huggingface!.capabilities.embeddings).toBe(false);
    expect(adapter('huggingface', {}).embed).toBeUndefined();
  });
});

describe('openai-compatible', () => {
  it('sends its own key as a Bearer token, and no Authorization header when the instance has none', async () => {
    const f = await fake('compatible');
    await adapter('openai-compatible', { baseURL: f.url }).chat(hello('m'));
    expect(f.calls[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    await adapter('openai-compatible', { baseURL: f.url, apiKey: null })
      .chat(hello('m'))
      .catch(() => undefined);
    expect(f.calls[1]!.headers.authorization).toBeUndefined();
    expect(KINDS['openai-compatible']!.keyOptional).toBe(true);
  });

  it.each(OPENAI_COMPATIBLE_PRESETS.map((p) => [p.id, p] as const))(
    'preset %s is a catalog entry the schema and its kind accept',
    (_id, preset) => {
      const entry = catalogEntryOf(preset);
      // Configuration only: a kind, a base URL and a key reference, nothing the kind reads besides.
      expect(Object.keys(entry).sort()).toEqual(
        preset.keyEnv ? ['apiKey', 'baseUrl', 'id', 'kind'] : ['baseUrl', 'id', 'kind'],
      );
      if (preset.keyEnv) expect(preset.keyEnv).toMatch(KEY_ENV_PATTERN);
      const catalog = CatalogSchema.parse({
        providers: [entry],
        models: [
          {
            id: `${preset.id}/${preset.exampleModel}`,
            provider: preset.id,
            model: preset.exampleModel,
            inputPricePerMTok: 0,
            outputPricePerMTok: 0,
            contextWindow: 32_000,
            maxOutputTokens: 4_096,
            capabilities: ['chat'],
            qualityTier: 3,
          },
        ],
      });
      expect(kindIssues(catalog)).toEqual([]);
      expect(findModel(catalog, `${preset.id}/${preset.exampleModel}`)?.model).toBe(preset.exampleModel);
    },
  );
});

describe('shipped catalog entries', () => {
  it('Azure and Hugging Face models parse under instances of their kinds; a repository id is found by its full id', () => {
    const catalog = CatalogSchema.parse({
      providers: [
        {
          id: 'azure-openai',
          kind: 'azure-openai',
          baseUrl: 'https://example.openai.azure.com',
          apiVersion: '2024-10-21',
        },
        { id: 'huggingface', kind: 'huggingface' },
      ],
      models: [...AZURE_MODELS, ...HUGGINGFACE_MODELS],
    });
    expect(kindIssues(catalog)).toEqual([]);
    expect(findModel(catalog, 'huggingface/meta-llama/Llama-3.3-70B-Instruct')?.model).toBe(
      'meta-llama/Llama-3.3-70B-Instruct',
    );
    expect(catalog.models.filter((m) => m.provider === 'huggingface' && m.capabilities.includes('embeddings'))).toEqual(
      [],
    );
    expect(findModel(catalog, 'azure-openai/text-embedding-3-small')?.capabilities).toEqual(['embeddings']);
  });
});

describe('a prompt too long for every model tried', () => {
  it('ends the route with ContextLengthExceeded (400), not AllCandidatesFailed', () => {
    const plan = { candidates: [{}, {}] } as Parameters<typeof routeEnding>[0];
    const overflow = { modelId: 'a/x', provider: 'a', outcome: 'error' as const, errorType: 'ContextLengthExceeded' };
    const skipped = { modelId: 'b/y', provider: 'b', outcome: 'skipped' as const };
    expect(routeEnding(plan, [overflow, skipped], initialFallbackState())).toEqual({
      errorType: 'ContextLengthExceeded',
      httpStatus: 400,
    });
    const overloaded = { modelId: 'b/y', provider: 'b', outcome: 'error' as const, errorType: 'Overloaded' };
    expect(routeEnding(plan, [overflow, overloaded], initialFallbackState()).errorType).toBe('AllCandidatesFailed');
  });
});
