/**
 * Price sheets mapped onto a catalog: LiteLLM's shape (an excerpt of the real file, with its
 * `sample_spec`, provider-prefixed keys and entries of other modes) and our own; which catalog
 * model each entry prices, what stays unmatched or ambiguous, per-token → per-million prices
 * without float noise, and bad shapes refused with their path.
 */
import { CatalogSchema, type Catalog } from '../../src/domain/catalog';
import {
  applyPriceChanges,
  mapPriceSheet,
  parsePriceSheet,
  perMillion,
  type PriceSheet,
} from '../../src/domain/priceSheet';

/** Entries as LiteLLM's model_prices_and_context_window.json has them (fields trimmed, values real). */
const LITELLM_EXCERPT = {
  sample_spec: {
    input_cost_per_token: 0.0,
    litellm_provider: 'one of https://docs.litellm.ai/docs/providers',
    max_input_tokens: 'max input tokens, if the provider specifies it. if not default to max_tokens',
    max_output_tokens: 'max output tokens, if the provider specifies it. if not default to max_tokens',
    max_tokens:
      'LEGACY parameter. set to max_output_tokens if provider specifies it. IF not set to max_input_tokens, if provider specifies it.',
    mode: 'one of: chat, embedding, completion, image_generation, audio_transcription, audio_speech, image_generation, moderation, rerank, search',
    output_cost_per_token: 0.0,
    supports_vision: true,
  },
  'gpt-4o': {
    cache_read_input_token_cost: 1.25e-6,
    input_cost_per_token: 2.5e-6,
    input_cost_per_token_batches: 1.25e-6,
    litellm_provider: 'openai',
    max_input_tokens: 128000,
    max_output_tokens: 16384,
    max_tokens: 16384,
    mode: 'chat',
    output_cost_per_token: 1e-5,
    supports_function_calling: true,
  },
  'azure/gpt-4o': {
    input_cost_per_token: 2.5e-6,
    litellm_provider: 'azure',
    max_input_tokens: 128000,
    max_output_tokens: 16384,
    max_tokens: 16384,
    mode: 'chat',
    output_cost_per_token: 1e-5,
  },
  'azure/eu/gpt-4o-mini': {
    input_cost_per_token: 1.65e-7,
    litellm_provider: 'azure',
    max_input_tokens: 128000,
    max_output_tokens: 16384,
    mode: 'chat',
    output_cost_per_token: 6.6e-7,
  },
  'gpt-4o-mini': {
    input_cost_per_token: 1.5e-7,
    litellm_provider: 'openai',
    max_input_tokens: 128000,
    max_output_tokens: 16384,
    mode: 'chat',
    output_cost_per_token: 6e-7,
  },
  'text-embedding-3-small': {
    input_cost_per_token: 2e-8,
    litellm_provider: 'openai',
    max_input_tokens: 8191,
    max_tokens: 8191,
    mode: 'embedding',
    output_cost_per_token: 0,
    output_vector_size: 1536,
  },
  'claude-sonnet-4-5': {
    input_cost_per_token: 3e-6,
    input_cost_per_token_above_200k_tokens: 6e-6,
    litellm_provider: 'anthropic',
    max_input_tokens: 200000,
    max_output_tokens: 64000,
    max_tokens: 64000,
    mode: 'chat',
    output_cost_per_token: 1.5e-5,
  },
  'gemini/gemini-2.5-flash': {
    input_cost_per_token: 3e-7,
    litellm_provider: 'gemini',
    max_input_tokens: 1048576,
    max_output_tokens: 65535,
    max_tokens: 65535,
    mode: 'chat',
    output_cost_per_token: 2.5e-6,
    supported_modalities: ['text', 'image', 'audio', 'video'],
  },
  // The same model through Vertex AI, priced otherwise here: the Gemini API's entry wins for a google instance.
  'gemini-2.5-flash': {
    input_cost_per_token: 3.5e-7,
    litellm_provider: 'vertex_ai-language-models',
    max_input_tokens: 1048576,
    max_output_tokens: 65535,
    mode: 'chat',
    output_cost_per_token: 2.6e-6,
  },
  'anthropic.claude-3-5-haiku-20241022-v1:0': {
    input_cost_per_token: 8e-7,
    litellm_provider: 'bedrock',
    max_input_tokens: 200000,
    max_output_tokens: 8192,
    max_tokens: 8192,
    mode: 'chat',
    output_cost_per_token: 4e-6,
  },
  'bedrock/eu-central-1/anthropic.claude-3-5-haiku-20241022-v1:0': {
    input_cost_per_token: 9e-7,
    litellm_provider: 'bedrock',
    max_input_tokens: 200000,
    max_output_tokens: 8192,
    mode: 'chat',
    output_cost_per_token: 4.5e-6,
  },
  'groq/llama-3.3-70b-versatile': {
    input_cost_per_token: 5.9e-7,
    litellm_provider: 'groq',
    max_input_tokens: 128000,
    max_output_tokens: 32768,
    max_tokens: 32768,
    mode: 'chat',
    output_cost_per_token: 7.9e-7,
  },
  'together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo': {
    input_cost_per_token: 8.8e-7,
    litellm_provider: 'together_ai',
    mode: 'chat',
    output_cost_per_token: 8.8e-7,
  },
  'deepinfra/meta-llama/Llama-3.1-8B-Instruct': {
    input_cost_per_token: 3e-8,
    litellm_provider: 'deepinfra',
    max_input_tokens: 131072,
    mode: 'chat',
    output_cost_per_token: 5e-8,
  },
  'nebius/meta-llama/Llama-3.1-8B-Instruct': {
    input_cost_per_token: 2e-8,
    litellm_provider: 'nebius',
    max_input_tokens: 128000,
    mode: 'chat',
    output_cost_per_token: 6e-8,
  },
  'dall-e-3': {
    input_cost_per_image: 0.04,
    litellm_provider: 'openai',
    mode: 'image_generation',
    supported_endpoints: ['/v1/images/generations'],
  },
};

const model = (provider: string, name: string, o: Record<string, unknown> = {}) => ({
  id: `${provider}/${name}`,
  provider,
  model: name,
  inputPricePerMTok: 1,
  outputPricePerMTok: 1,
  contextWindow: 4_000,
  maxOutputTokens: 1_000,
  capabilities: ['chat'],
  qualityTier: 3,
  ...o,
});

const catalog: Catalog = CatalogSchema.parse({
  providers: [
    { id: 'openai', kind: 'openai' },
    { id: 'openai-eu', kind: 'openai', apiKey: { env: 'OPENAI_EU_API_KEY' } },
    { id: 'anthropic', kind: 'anthropic' },
    { id: 'gemini', kind: 'google' },
    {
      id: 'azure-eu',
      kind: 'azure-openai',
      baseUrl: 'https://contoso-eu.openai.azure.com',
      apiVersion: '2024-10-21',
      region: 'westeurope',
    },
    { id: 'bedrock-eu', kind: 'bedrock', region: 'eu-central-1' },
    { id: 'bedrock-us', kind: 'bedrock', region: 'us-east-1' },
    { id: 'groq', kind: 'openai-compatible', baseUrl: 'https://api.groq.com/openai/v1' },
    { id: 'together', kind: 'openai-compatible', baseUrl: 'https://api.together.xyz/v1' },
    { id: 'vllm', kind: 'openai-compatible', baseUrl: 'http://10.0.0.7:8000/v1' },
    { id: 'simulated', wireFormat: 'openai', simulated: true },
  ],
  models: [
    model('openai', 'gpt-4o', { inputPricePerMTok: 2.5, outputPricePerMTok: 10 }),
    model('openai', 'text-embedding-3-small', { capabilities: ['embeddings'], maxOutputTokens: 1 }),
    model('openai-eu', 'gpt-4o'),
    model('anthropic', 'claude-sonnet-4-5'),
    model('anthropic', 'claude-3-5-haiku-latest'),
    model('gemini', 'gemini-2.5-flash'),
    model('azure-eu', 'gpt-4o', { regions: ['EU'] }),
    model('azure-eu', 'gpt-4o-mini', { regions: ['EU'] }),
    model('bedrock-eu', 'anthropic.claude-3-5-haiku-20241022-v1:0', { regions: ['EU'] }),
    model('bedrock-us', 'anthropic.claude-3-5-haiku-20241022-v1:0'),
    model('groq', 'llama-3.3-70b-versatile'),
    model('together', 'meta-llama/Llama-3.3-70B-Instruct-Turbo'),
    model('vllm', 'meta-llama/Llama-3.1-8B-Instruct'),
    model('simulated', 'gpt-4o-mini'),
  ],
});

const sheetOf = (raw: unknown): PriceSheet => {
  const parsed = parsePriceSheet(raw);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.sheet;
};
const issuesOf = (raw: unknown) => {
  const parsed = parsePriceSheet(raw);
  if (parsed.ok) throw new Error('expected a refusal');
  return parsed.issues;
};
const after = (m: ReturnType<typeof mapPriceSheet>, id: string) =>
  Object.fromEntries(m.updated.filter((c) => c.id === id).map((c) => [c.field, c.after]));

describe('price sheets', () => {
  it('prices per token become prices per million tokens, without float noise', () => {
    expect(7.9e-7 * 1_000_000).toBe(0.7899999999999999); // what a plain multiplication gives
    expect(perMillion(7.9e-7)).toBe(0.79);
    expect(perMillion(2.5e-6)).toBe(2.5);
    expect(perMillion(5.9e-7)).toBe(0.59);
    expect(perMillion(1.65e-7)).toBe(0.165);
    expect(perMillion(2.1875e-6)).toBe(2.1875);
    expect(perMillion(5.46875e-7)).toBe(0.546875);
    expect(perMillion(0)).toBe(0);
  });

  it("maps LiteLLM's sheet: by exact id, by kind and model name, by an instance's LiteLLM provider; sample_spec ignored", () => {
    const sheet = sheetOf(LITELLM_EXCERPT);
    expect(sheet.format).toBe('litellm');
    expect(sheet.entries.map((e) => e.name)).not.toContain('sample_spec');
    const m = mapPriceSheet(catalog, sheet);
    expect(Object.fromEntries(m.matched.map((x) => [x.id, x.name]))).toEqual({
      'openai/gpt-4o': 'gpt-4o',
      'openai/text-embedding-3-small': 'text-embedding-3-small',
      'openai-eu/gpt-4o': 'gpt-4o', // a second OpenAI organisation: the same prices
      'anthropic/claude-sonnet-4-5': 'claude-sonnet-4-5',
      'gemini/gemini-2.5-flash': 'gemini/gemini-2.5-flash', // the Gemini API's entry, not Vertex's
      'azure-eu/gpt-4o': 'azure/gpt-4o',
      'azure-eu/gpt-4o-mini': 'azure/eu/gpt-4o-mini', // the instance is in the EU: the EU price
      'bedrock-eu/anthropic.claude-3-5-haiku-20241022-v1:0':
        'bedrock/eu-central-1/anthropic.claude-3-5-haiku-20241022-v1:0',
      'bedrock-us/anthropic.claude-3-5-haiku-20241022-v1:0': 'anthropic.claude-3-5-haiku-20241022-v1:0',
      'groq/llama-3.3-70b-versatile': 'groq/llama-3.3-70b-versatile',
      'together/meta-llama/Llama-3.3-70B-Instruct-Turbo': 'together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo',
    });
    // Already at the sheet's prices: only the limits it knows change.
    expect(after(m, 'openai/gpt-4o')).toEqual({ contextWindow: 128000, maxOutputTokens: 16384 });
    // An embedding entry has no output limit: the catalog's stays.
    expect(after(m, 'openai/text-embedding-3-small')).toEqual({
      inputPricePerMTok: 0.02,
      outputPricePerMTok: 0,
      contextWindow: 8191,
    });
    expect(after(m, 'gemini/gemini-2.5-flash')).toEqual({
      inputPricePerMTok: 0.3,
      outputPricePerMTok: 2.5,
      contextWindow: 1048576,
      maxOutputTokens: 65535,
    });
    expect(after(m, 'groq/llama-3.3-70b-versatile')).toMatchObject({
      inputPricePerMTok: 0.59,
      outputPricePerMTok: 0.79,
    });
    expect(after(m, 'azure-eu/gpt-4o-mini')).toMatchObject({ inputPricePerMTok: 0.165, outputPricePerMTok: 0.66 });
    expect(m.updated.find((c) => c.id === 'openai-eu/gpt-4o' && c.field === 'inputPricePerMTok')).toEqual({
      id: 'openai-eu/gpt-4o',
      field: 'inputPricePerMTok',
      before: 1,
      after: 2.5,
    });
    // Other hosts' entries for the vLLM instance's model do not price it (a self-hosted kind).
    expect(m.ambiguous).toEqual([]);
    expect(m.updated.some((c) => c.id.startsWith('vllm/'))).toBe(false);
    // The simulator is priced by its exact id only: `gpt-4o-mini` does not reach it.
    expect(m.updated.some((c) => c.id.startsWith('simulated/'))).toBe(false);
    // What priced nothing: an image model, the Vertex duplicate, other hosts' Llama, a model not in the catalog.
    expect(m.unmatched).toEqual([
      'gpt-4o-mini',
      'gemini-2.5-flash',
      'deepinfra/meta-llama/Llama-3.1-8B-Instruct',
      'nebius/meta-llama/Llama-3.1-8B-Instruct',
      'dall-e-3',
    ]);
  });

  it('applies the changes, leaving other models and fields as they were', () => {
    const m = mapPriceSheet(catalog, sheetOf(LITELLM_EXCERPT));
    const next = CatalogSchema.parse(applyPriceChanges(catalog, m.updated));
    const groq = next.models.find((x) => x.id === 'groq/llama-3.3-70b-versatile')!;
    expect(groq).toMatchObject({ inputPricePerMTok: 0.59, outputPricePerMTok: 0.79, contextWindow: 128000 });
    expect(groq.capabilities).toEqual(['chat']);
    const haiku = next.models.find((x) => x.id === 'anthropic/claude-3-5-haiku-latest');
    expect(haiku).toEqual(catalog.models.find((x) => x.id === 'anthropic/claude-3-5-haiku-latest'));
    // Imported again: nothing left to change.
    expect(mapPriceSheet(next, sheetOf(LITELLM_EXCERPT)).updated).toEqual([]);
  });

  it('reads our own shape: by exact id, by <kind>/<model>, by a bare name only where one model has it', () => {
    const sheet = sheetOf({
      models: [
        { id: 'anthropic/claude-3-5-haiku-latest', inputPricePerMTok: 0.8, outputPricePerMTok: 4 },
        { id: 'bedrock/anthropic.claude-3-5-haiku-20241022-v1:0', contextWindow: 180000 },
        { id: 'groq/llama-3.3-70b-versatile', maxOutputTokens: 8000 },
        { id: 'claude-sonnet-4-5', maxOutputTokens: 64000 }, // one catalog model has it
        { id: 'gpt-4o', inputPricePerMTok: 3 }, // three catalog models have it: openai, openai-eu, azure-eu
        { id: 'no-such/model', inputPricePerMTok: 1 },
      ],
    });
    expect(sheet.format).toBe('switchyard');
    const m = mapPriceSheet(catalog, sheet);
    expect(after(m, 'anthropic/claude-3-5-haiku-latest')).toEqual({ inputPricePerMTok: 0.8, outputPricePerMTok: 4 });
    // <kind>/<model>: both Bedrock instances.
    expect(after(m, 'bedrock-eu/anthropic.claude-3-5-haiku-20241022-v1:0')).toEqual({ contextWindow: 180000 });
    expect(after(m, 'bedrock-us/anthropic.claude-3-5-haiku-20241022-v1:0')).toEqual({ contextWindow: 180000 });
    expect(after(m, 'groq/llama-3.3-70b-versatile')).toEqual({ maxOutputTokens: 8000 });
    expect(after(m, 'anthropic/claude-sonnet-4-5')).toEqual({ maxOutputTokens: 64000 });
    // A bare name every instance of it agrees on prices each of them (no other entry disagrees).
    expect(after(m, 'openai/gpt-4o')).toEqual({ inputPricePerMTok: 3 });
    expect(after(m, 'azure-eu/gpt-4o')).toEqual({ inputPricePerMTok: 3 });
    expect(m.unmatched).toEqual(['no-such/model']);
  });

  it('a bare name two disagreeing entries give is ambiguous', () => {
    const m = mapPriceSheet(
      catalog,
      sheetOf({
        models: [
          { id: 'hosted-a/claude-3-5-haiku-latest', inputPricePerMTok: 0.1 },
          { id: 'hosted-b/claude-3-5-haiku-latest', inputPricePerMTok: 0.2 },
        ],
      }),
    );
    expect(m.updated).toEqual([]);
    expect(m.ambiguous).toEqual([
      {
        id: 'anthropic/claude-3-5-haiku-latest',
        names: ['hosted-a/claude-3-5-haiku-latest', 'hosted-b/claude-3-5-haiku-latest'],
      },
    ]);
  });

  it("a self-hosted instance (openai-compatible, huggingface) is not priced by another host's bare name", () => {
    const selfHosted: Catalog = CatalogSchema.parse({
      providers: [
        { id: 'vllm', kind: 'openai-compatible', baseUrl: 'http://10.0.0.7:8000/v1' },
        { id: 'tgi', kind: 'huggingface', baseUrl: 'http://10.0.0.8:8080/v1' },
        { id: 'anthropic', kind: 'anthropic' },
      ],
      models: [
        model('vllm', 'llama-3.3-70b', { contextWindow: 131_072 }),
        model('tgi', 'llama-3.3-70b', { contextWindow: 131_072 }),
        model('anthropic', 'claude-sonnet-4-5'),
      ],
    });
    const m = mapPriceSheet(
      selfHosted,
      sheetOf({
        // Another host's entry, with a smaller context window: routing would skip the model for longer prompts.
        'cerebras/llama-3.3-70b': {
          input_cost_per_token: 8.5e-7,
          output_cost_per_token: 1.2e-6,
          litellm_provider: 'cerebras',
          max_input_tokens: 8192,
          mode: 'chat',
        },
        // A bare name still prices an instance of any other kind.
        'claude-sonnet-4-5': { input_cost_per_token: 3e-6, litellm_provider: 'some-reseller', mode: 'chat' },
      }),
    );
    expect(m.updated).toEqual([{ id: 'anthropic/claude-sonnet-4-5', field: 'inputPricePerMTok', before: 1, after: 3 }]);
    expect(m.matched).toEqual([{ id: 'anthropic/claude-sonnet-4-5', name: 'claude-sonnet-4-5' }]);
    expect(m.unmatched).toEqual(['cerebras/llama-3.3-70b']);
    // By its own provider's name (rule 2) a self-hosted instance is still priced.
    const named = mapPriceSheet(selfHosted, sheetOf({ models: [{ id: 'vllm/llama-3.3-70b', contextWindow: 65_536 }] }));
    expect(named.updated).toEqual([
      { id: 'vllm/llama-3.3-70b', field: 'contextWindow', before: 131_072, after: 65_536 },
    ]);
  });

  it('refuses bad shapes with the path of the field at fault', () => {
    expect(issuesOf([1, 2])[0]).toMatchObject({ path: '' });
    expect(issuesOf('prices')[0]).toMatchObject({ path: '' });
    expect(issuesOf({})[0]).toMatchObject({ path: '', message: expect.stringMatching(/no models/) });
    expect(issuesOf({ sample_spec: LITELLM_EXCERPT.sample_spec })[0]).toMatchObject({ path: '' });
    expect(issuesOf({ 'gpt-4o': { input_cost_per_token: '2.5e-6' } })[0]).toMatchObject({
      path: 'gpt-4o.input_cost_per_token',
    });
    expect(issuesOf({ 'gpt-4o': { input_cost_per_token: -1 } })[0]).toMatchObject({
      path: 'gpt-4o.input_cost_per_token',
    });
    expect(issuesOf({ 'anthropic.claude-3-5-haiku-20241022-v1:0': { max_input_tokens: 1.5 } })[0]).toMatchObject({
      path: '["anthropic.claude-3-5-haiku-20241022-v1:0"].max_input_tokens',
    });
    expect(issuesOf({ 'gpt-4o': 'cheap' })[0]).toMatchObject({ path: 'gpt-4o' });
    expect(issuesOf({ 'azure/gpt-4o': { mode: 7 } })[0]).toMatchObject({ path: 'azure/gpt-4o.mode' });
    expect(issuesOf({ models: [] })[0]).toMatchObject({ path: 'models' });
    expect(issuesOf({ models: [{ id: 'openai/gpt-4o', inputPricePerMTok: -2 }] })[0]).toMatchObject({
      path: 'models[0].inputPricePerMTok',
    });
    expect(issuesOf({ models: [{ id: 'openai/gpt-4o', contextWindow: 0 }] })[0]).toMatchObject({
      path: 'models[0].contextWindow',
    });
    expect(issuesOf({ models: [{ id: 'openai/gpt-4o', inputPrice: 2 }] })[0]).toMatchObject({
      path: 'models[0].inputPrice',
    });
    expect(issuesOf({ models: [{ id: 'openai/gpt-4o' }] })[0]).toMatchObject({ path: 'models[0]' });
    expect(issuesOf({ models: [{ inputPricePerMTok: 2 }] })[0]).toMatchObject({ path: 'models[0].id' });
    // Every problem is listed, up to a bound.
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`m${i}`, { max_output_tokens: -1 }]));
    expect(issuesOf(many)).toHaveLength(20);
  });

  it('null fields and unknown fields of a LiteLLM entry are read as absent', () => {
    const m = mapPriceSheet(
      catalog,
      sheetOf({
        'groq/llama-3.3-70b-versatile': {
          input_cost_per_token: 6e-7,
          output_cost_per_token: null,
          litellm_provider: 'groq',
          supports_reasoning: true,
          metadata: { notes: 'anything' },
        },
      }),
    );
    expect(m.updated).toEqual([
      { id: 'groq/llama-3.3-70b-versatile', field: 'inputPricePerMTok', before: 1, after: 0.6 },
    ]);
  });
});
