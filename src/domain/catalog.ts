/**
 * The model catalog: which providers and models exist, what they cost and what they can do.
 * Pure data + zod schemas; the routing policy reads it, the worker builds provider clients from it.
 * Secrets are not part of the catalog: keys stay in the worker's environment.
 */
import { z } from 'zod';
import { AZURE_MODELS } from './models/azure';
import { BEDROCK_MODELS } from './models/bedrock';
import { GOOGLE_MODELS } from './models/google';
import { HUGGINGFACE_MODELS } from './models/huggingface';
import { roundUsd } from './usd';

export const WireFormatSchema = z.enum(['openai', 'anthropic']);
export type WireFormat = z.infer<typeof WireFormatSchema>;

/** `continuation`: the model can continue a partial answer given as the assistant's last message (a prefill). */
export const CapabilitySchema = z.enum(['chat', 'json', 'tools', 'vision', 'embeddings', 'continuation']);
/**
 * How an OpenAI-wire server continues the assistant's partial last message (a prefill) instead of
 * answering it as a new turn: `continue_final_message` (vLLM, TGI: `continue_final_message: true,
 * add_generation_prompt: false` in the body) or `prefix` (DeepSeek, Mistral: the last message
 * carries `prefix: true`).
 */
export const ContinuationStyleSchema = z.enum(['continue_final_message', 'prefix']);
export type ContinuationStyle = z.infer<typeof ContinuationStyleSchema>;
/** The kinds whose adapter sends a provider's `continuation` style (the OpenAI wire's, where servers offer one). */
export const CONTINUATION_KINDS: readonly string[] = ['openai', 'openai-compatible', 'huggingface'];
export const REGIONS = ['US', 'EU', 'APAC', 'CA'] as const;
export const COMPLIANCE_TAGS = ['gdpr', 'hipaa', 'zero-retention'] as const;
export const RegionSchema = z.enum(REGIONS);
export const ComplianceSchema = z.enum(COMPLIANCE_TAGS);
export type Region = z.infer<typeof RegionSchema>;

/** `none`, or `env:NAME` naming a key variable (not any variable: DATABASE_URL is no key to send). */
export const CREDENTIAL_PATTERN = /^(none|env:[A-Z][A-Z0-9_]*_API_KEY)$/;

/**
 * An environment variable a provider key may come from: a name ending in `_API_KEY` (or Hugging
 * Face's own token names), never Switchyard's own settings nor AWS's (the AWS chain is Bedrock's,
 * read by its SDK). Not any `*_TOKEN`: a CI or vault token is no key to send to a provider.
 */
export const KEY_ENV_PATTERN = /^((?!SWITCHYARD_|AWS_)[A-Z][A-Z0-9_]*_API_KEY|HF_TOKEN|HUGGING_FACE_HUB_TOKEN)$/;
/** A key stored (encrypted) through `PUT /v1/admin/secrets/{name}`. */
export const SECRET_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Where an instance's key comes from: the worker's environment, or the encrypted secret store. */
export const ApiKeyRefSchema = z.union([
  z
    .object({
      env: z
        .string()
        .regex(KEY_ENV_PATTERN, 'an environment variable ending in _API_KEY (not SWITCHYARD_* or AWS_*), or HF_TOKEN'),
    })
    .strict(),
  z
    .object({ secret: z.string().regex(SECRET_NAME_PATTERN, 'a stored secret name: lowercase letters, digits, . _ -') })
    .strict(),
]);
export type ApiKeyRef = z.infer<typeof ApiKeyRefSchema>;

/**
 * Headers that (may) carry credentials: a key goes in `apiKey` (kept out of the configuration and
 * redacted), never here, where it would be stored and shown as plain text.
 */
const CREDENTIAL_HEADERS = /auth|key|token|secret|cookie|signature|credential|session|password/i;

/** Where a cloud region keeps its data, for residency rules: `eu-central-1`, `westeurope`, `europe-west4` → EU. */
export function residencyOfRegion(region: string | undefined): Region | undefined {
  if (!region) return undefined;
  const r = region.toLowerCase();
  if (/^(eu|europe)|europe|^(uk|france|germany|sweden|switzerland|norway|italy|poland|spain)/.test(r)) return 'EU';
  if (/^ca-|canada/.test(r)) return 'CA';
  if (/^(ap|me|il)-|asia|australia|japan|korea|india|^(southeastasia|eastasia)/.test(r)) return 'APAC';
  if (/^us-|^(east|west|central|northcentral|southcentral|westcentral)us|^us/.test(r)) return 'US';
  return undefined;
}

export const ProviderSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  /**
   * The provider kind (its wire format and SDK): `openai`, `anthropic`, `google`, `azure-openai`,
   * `bedrock`, `huggingface`, `openai-compatible` (the registered kinds, `src/providers/kinds.ts`).
   */
  kind: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, 'a provider kind')
    .optional(),
  /** Before `kind`: `openai` or `anthropic`. Still read when `kind` is absent. */
  wireFormat: WireFormatSchema.optional(),
  /** Overrides the SDK's default base URL (OpenAI-compatible endpoints, proxies; Azure's resource endpoint). */
  baseUrl: z
    .url()
    // No user:password in it: a credential goes in `apiKey`, not into the stored configuration.
    .refine((u) => !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(u), 'no credentials in the URL: use apiKey')
    .optional(),
  /** Sent with every call (an organisation or project header, a gateway's routing header); never a key. */
  headers: z
    .record(z.string(), z.string().max(1_000))
    // Names checked here, not in the record's key schema: zod reports a bad key only as "Invalid key in record".
    .superRefine((headers, ctx) => {
      for (const name of Object.keys(headers)) {
        if (!/^[A-Za-z0-9-]{1,64}$/.test(name))
          ctx.addIssue({ code: 'custom', path: [name], message: 'a header name: letters, digits and dashes' });
        else if (CREDENTIAL_HEADERS.test(name))
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'looks like a credential: a key goes in apiKey (kept out of the configuration), not in headers',
          });
      }
    })
    .optional(),
  /** The API version an endpoint requires (Azure OpenAI's `api-version`). */
  apiVersion: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .optional(),
  /** The cloud region the instance runs in (Bedrock's AWS region, an Azure region): its residency unless `residency` says. */
  region: z
    .string()
    .regex(/^[a-z0-9-]{2,40}$/, 'a cloud region, e.g. eu-central-1')
    .optional(),
  /** Where this instance keeps data; its models may list no other region. Default: from `region`. */
  residency: RegionSchema.optional(),
  /** The key the instance's calls carry: `{ env: NAME }` or `{ secret: name }` (stored encrypted). */
  apiKey: ApiKeyRefSchema.optional(),
  /**
   * The key the worker sends: `env:NAME`, the worker's environment variable NAME (a name ending in
   * `_API_KEY`), or `none`. Absent: the key the environment has for this provider's id
   * (OPENAI_API_KEY for `openai`…). A base URL changed through the API must name it (credentials.ts).
   */
  credential: z
    .string()
    .regex(CREDENTIAL_PATTERN, "'none', or 'env:NAME' with NAME an environment variable ending in _API_KEY")
    .optional(),
  /**
   * How this OpenAI-wire server continues a partial answer (`continue_final_message` or `prefix`):
   * its models declaring the `continuation` capability may then finish a stream another model broke
   * off. Only for kinds whose adapter sends it (`openai`, `openai-compatible`, `huggingface`).
   */
  continuation: ContinuationStyleSchema.optional(),
  /** The built-in simulator: each worker serves it locally, so it has no base URL here. */
  simulated: z.boolean().default(false),
  /**
   * Requests per minute across every worker: the server-side rate limit of the provider's task
   * queue (its calls run there). A call waits its turn, up to `rateLimitWaitMs`, then falls back.
   */
  rpm: z.number().int().positive().optional(),
  /** Tokens (prompt and output cap) per minute across every worker, counted in Postgres. */
  tpm: z.number().int().positive().optional(),
  /** The longest a call waits for its turn under `rpm` or `tpm` before it falls back (default 30 s). */
  rateLimitWaitMs: z.number().int().min(100).max(300_000).optional(),
  /**
   * How long the provider keeps a prompt's cached prefix (seconds): a session pinned to one of its
   * models stays pinned this long after each answer, instead of `routing.sessions.ttlSeconds`.
   */
  promptCacheTtlSeconds: z.number().int().min(1).max(86_400).optional(),
});
export type Provider = z.infer<typeof ProviderSchema>;

/** The instance's kind (`wireFormat` before kinds existed; `openai` when neither is set). */
export const kindOf = (p: Pick<Provider, 'kind' | 'wireFormat'>): string => p.kind ?? p.wireFormat ?? 'openai';

/** Where an instance keeps data, if it says: its `residency`, else its cloud region's. */
export const residencyOf = (p: Pick<Provider, 'residency' | 'region'>): Region | undefined =>
  p.residency ?? residencyOfRegion(p.region);

/** How long a call to a rate-limited provider may wait for its turn; undefined: not rate limited. */
export const rateLimitWaitOf = (p: Pick<Provider, 'rpm' | 'tpm' | 'rateLimitWaitMs'>): number | undefined =>
  p.rpm !== undefined || p.tpm !== undefined ? (p.rateLimitWaitMs ?? 30_000) : undefined;

export const ModelSchema = z.object({
  /** `provider/model`, unique in the catalog. */
  id: z.string(),
  provider: z.string(),
  /** The name the provider's API knows the model by. */
  model: z.string(),
  inputPricePerMTok: z.number().nonnegative(),
  outputPricePerMTok: z.number().nonnegative(),
  contextWindow: z.number().int().positive(),
  maxOutputTokens: z.number().int().positive(),
  capabilities: z.array(CapabilitySchema).min(1),
  /** 1 (basic) … 5 (frontier). */
  qualityTier: z.number().int().min(1).max(5),
  status: z.enum(['active', 'inactive']).default('active'),
  /** Where the endpoint processes data: a request with a residency region only goes to models listing it. */
  regions: z.array(RegionSchema).min(1).default(['US']),
  /** What the contract with this provider covers: a request requiring a tag only goes to models that have it. */
  compliance: z.array(ComplianceSchema).default([]),
  typicalLatencyMs: z.number().int().positive().default(1_000),
  /** Relative share in the round-robin strategy. */
  weight: z.number().positive().default(1),
  /**
   * Its explicit fallback chain (catalog ids), tried in order when a request names this model and
   * it fails: the strategy adds no others. `fallback.chains` in the configuration wins over it.
   */
  fallbacks: z.array(z.string().min(1)).min(1).max(9).optional(),
});
export type Model = z.infer<typeof ModelSchema>;

export const CatalogSchema = z
  .object({
    providers: z.array(ProviderSchema).min(1),
    models: z.array(ModelSchema).min(1),
    /** Model used when a request asks for `auto` and no rule picks another. */
    defaultModel: z.string().optional(),
  })
  .superRefine((c, ctx) => {
    const providers = new Map(c.providers.map((p) => [p.id, p]));
    c.providers.forEach((p, i) => {
      if (c.providers.findIndex((q) => q.id === p.id) !== i)
        ctx.addIssue({ code: 'custom', path: ['providers', i, 'id'], message: `duplicate provider id '${p.id}'` });
      if (p.continuation !== undefined && (p.simulated || !CONTINUATION_KINDS.includes(kindOf(p))))
        ctx.addIssue({
          code: 'custom',
          path: ['providers', i, 'continuation'],
          message: p.simulated
            ? 'the simulator does not continue a partial answer: leave continuation out'
            : `a '${kindOf(p)}' provider cannot set continuation: it says how an OpenAI-wire server continues a partial answer (kinds ${CONTINUATION_KINDS.join(', ')})${kindOf(p) === 'anthropic' ? "; an 'anthropic' model continues with the capability alone" : ''}`,
        });
      if (p.apiKey && p.credential !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['providers', i, 'credential'],
          message: 'set apiKey or credential, not both',
        });
    });
    const ids = new Set<string>();
    c.models.forEach((m, i) => {
      const provider = providers.get(m.provider);
      if (!provider)
        ctx.addIssue({ code: 'custom', path: ['models', i, 'provider'], message: `unknown provider '${m.provider}'` });
      // An instance in one region cannot serve another: residency rules read the model's regions.
      const residency = provider && residencyOf(provider);
      if (residency && m.regions.some((r) => r !== residency))
        ctx.addIssue({
          code: 'custom',
          path: ['models', i, 'regions'],
          message: `provider '${m.provider}' keeps data in ${residency}${provider.region ? ` (region ${provider.region})` : ''}: its models may list only ${residency}`,
        });
      if (m.id !== `${m.provider}/${m.model}`)
        ctx.addIssue({ code: 'custom', path: ['models', i, 'id'], message: `must be '${m.provider}/${m.model}'` });
      if (ids.has(m.id))
        ctx.addIssue({ code: 'custom', path: ['models', i, 'id'], message: `duplicate model id '${m.id}'` });
      ids.add(m.id);
    });
    c.models.forEach((m, i) =>
      m.fallbacks?.forEach((f, j) => {
        if (!ids.has(f))
          ctx.addIssue({ code: 'custom', path: ['models', i, 'fallbacks', j], message: `unknown model '${f}'` });
        else if (f === m.id)
          ctx.addIssue({
            code: 'custom',
            path: ['models', i, 'fallbacks', j],
            message: `'${f}' cannot be its own fallback`,
          });
      }),
    );
    if (c.defaultModel && !ids.has(c.defaultModel))
      ctx.addIssue({ code: 'custom', path: ['defaultModel'], message: `unknown model '${c.defaultModel}'` });
  });
export type Catalog = z.infer<typeof CatalogSchema>;

type ModelInput = Omit<z.input<typeof ModelSchema>, 'id'>;
const m = (x: ModelInput): z.input<typeof ModelSchema> => ({ id: `${x.provider}/${x.model}`, ...x });

// List prices per million tokens (USD) as published by the vendors.
const OPENAI_MODELS = [
  m({
    provider: 'openai',
    model: 'gpt-4o-mini',
    inputPricePerMTok: 0.15,
    outputPricePerMTok: 0.6,
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 3,
    regions: ['US', 'EU'],
    compliance: ['gdpr', 'zero-retention'],
    typicalLatencyMs: 700,
  }),
  m({
    provider: 'openai',
    model: 'gpt-4o',
    inputPricePerMTok: 2.5,
    outputPricePerMTok: 10,
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 5,
    regions: ['US', 'EU'],
    compliance: ['gdpr', 'zero-retention'],
    typicalLatencyMs: 1_500,
  }),
  m({
    provider: 'openai',
    model: 'text-embedding-3-small',
    inputPricePerMTok: 0.02,
    outputPricePerMTok: 0,
    contextWindow: 8_191,
    maxOutputTokens: 1,
    capabilities: ['embeddings'],
    qualityTier: 3,
    regions: ['US', 'EU'],
    compliance: ['gdpr'],
    typicalLatencyMs: 200,
  }),
];
const ANTHROPIC_MODELS = [
  m({
    provider: 'anthropic',
    model: 'claude-3-5-haiku-latest',
    inputPricePerMTok: 0.8,
    outputPricePerMTok: 4,
    contextWindow: 200_000,
    maxOutputTokens: 8_192,
    capabilities: ['chat', 'tools', 'vision'],
    qualityTier: 3,
    regions: ['US'],
    compliance: ['zero-retention'],
    typicalLatencyMs: 900,
  }),
  m({
    provider: 'anthropic',
    model: 'claude-sonnet-4-5',
    inputPricePerMTok: 3,
    outputPricePerMTok: 15,
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    capabilities: ['chat', 'tools', 'vision'],
    qualityTier: 5,
    regions: ['US', 'EU'],
    compliance: ['gdpr', 'hipaa', 'zero-retention'],
    typicalLatencyMs: 1_800,
  }),
];
// The simulator is priced like real small/large models so costs and budgets behave realistically;
// its regions and tags are varied on purpose, so residency and compliance routing can be tried offline.
const SIMULATED_MODELS = [
  m({
    provider: 'simulated',
    model: 'sim-mini',
    inputPricePerMTok: 0.15,
    outputPricePerMTok: 0.6,
    contextWindow: 16_000,
    maxOutputTokens: 4_096,
    capabilities: ['chat', 'json', 'tools'],
    qualityTier: 2,
    regions: ['US', 'EU', 'APAC', 'CA'],
    compliance: ['gdpr', 'zero-retention'],
    typicalLatencyMs: 300,
  }),
  m({
    provider: 'simulated',
    model: 'sim-large',
    inputPricePerMTok: 2.5,
    outputPricePerMTok: 10,
    contextWindow: 128_000,
    maxOutputTokens: 8_192,
    capabilities: ['chat', 'json', 'tools'],
    qualityTier: 4,
    regions: ['US', 'CA'],
    compliance: ['hipaa'],
    typicalLatencyMs: 900,
  }),
  m({
    provider: 'simulated',
    model: 'sim-embed',
    inputPricePerMTok: 0.02,
    outputPricePerMTok: 0,
    contextWindow: 8_191,
    maxOutputTokens: 1,
    capabilities: ['embeddings'],
    qualityTier: 2,
    regions: ['US', 'EU', 'APAC', 'CA'],
    compliance: ['gdpr', 'zero-retention'],
    typicalLatencyMs: 50,
  }),
];

export interface DefaultCatalogOptions {
  openai?: { baseUrl?: string };
  anthropic?: { baseUrl?: string };
  /** The environment variable holding the Gemini key (GEMINI_API_KEY or GOOGLE_API_KEY). */
  google?: { apiKeyEnv: string };
  azure?: { endpoint: string; apiVersion: string; region?: string };
  /** The AWS region; the key is the AWS default credential chain's. */
  bedrock?: { region: string };
  huggingface?: object;
  simulated?: boolean;
}

/**
 * The shipped Bedrock models an EU instance serves, through the EU's cross-region inference
 * profiles (`eu.`): the ones whose EU profiles exist. Elsewhere outside the US nothing is shipped
 * (an operator adds the models their account has there).
 */
const BEDROCK_EU = new Set([
  'anthropic.claude-sonnet-4-5-20250929-v1:0',
  'anthropic.claude-haiku-4-5-20251001-v1:0',
  'amazon.nova-pro-v1:0',
  'amazon.nova-lite-v1:0',
  'amazon.nova-micro-v1:0',
]);

/** Bedrock's shipped models for an instance in `region`, in that region's geography and residency. */
function bedrockModelsIn(region: string): z.input<typeof ModelSchema>[] {
  const residency = residencyOfRegion(region) ?? 'US';
  if (residency === 'US') return BEDROCK_MODELS;
  if (residency !== 'EU') return [];
  return BEDROCK_MODELS.flatMap((x) => {
    const base = x.model.replace(/^us\./, '');
    if (!BEDROCK_EU.has(base)) return [];
    const model = `eu.${base}`;
    return [{ ...x, id: `${x.provider}/${model}`, model, regions: ['EU' as const] }];
  });
}

/** The catalog that ships: one entry per configured provider. */
export function defaultCatalog(opts: DefaultCatalogOptions): Catalog {
  const providers: z.input<typeof ProviderSchema>[] = [];
  const models: z.input<typeof ModelSchema>[] = [];
  if (opts.openai) {
    providers.push({ id: 'openai', kind: 'openai', baseUrl: opts.openai.baseUrl });
    models.push(...OPENAI_MODELS);
  }
  if (opts.anthropic) {
    providers.push({ id: 'anthropic', kind: 'anthropic', baseUrl: opts.anthropic.baseUrl });
    models.push(...ANTHROPIC_MODELS);
  }
  if (opts.google) {
    providers.push({ id: 'google', kind: 'google', apiKey: { env: opts.google.apiKeyEnv } });
    models.push(...GOOGLE_MODELS);
  }
  if (opts.azure) {
    providers.push({
      id: 'azure-openai',
      kind: 'azure-openai',
      baseUrl: opts.azure.endpoint,
      apiVersion: opts.azure.apiVersion,
      apiKey: { env: 'AZURE_OPENAI_API_KEY' },
      ...(opts.azure.region && { region: opts.azure.region }),
    });
    const residency = residencyOfRegion(opts.azure.region);
    models.push(...AZURE_MODELS.map((x) => (residency ? { ...x, regions: [residency] } : x)));
  }
  const bedrockModels = opts.bedrock ? bedrockModelsIn(opts.bedrock.region) : [];
  if (opts.bedrock && bedrockModels.length) {
    providers.push({ id: 'bedrock', kind: 'bedrock', region: opts.bedrock.region });
    models.push(...bedrockModels);
  }
  if (opts.huggingface) {
    providers.push({ id: 'huggingface', kind: 'huggingface', apiKey: { env: 'HF_TOKEN' } });
    models.push(...HUGGINGFACE_MODELS);
  }
  if (opts.simulated) {
    providers.push({ id: 'simulated', wireFormat: 'openai', simulated: true });
    models.push(...SIMULATED_MODELS);
  }
  // Nothing enabled (no key, the simulator off): nothing to add to a configuration file's catalog.
  if (providers.length === 0) return { providers: [], models: [] };
  return CatalogSchema.parse({ providers, models });
}

/** Finds a model by catalog id (`provider/model`) or by its bare name when that is unambiguous. */
export function findModel(catalog: Catalog, name: string): Model | undefined {
  const exact = catalog.models.find((x) => x.id === name);
  if (exact) return exact;
  const byName = catalog.models.filter((x) => x.model === name);
  return byName.length === 1 ? byName[0] : undefined;
}

export function providerOf(catalog: Catalog, model: Model): Provider {
  const p = catalog.providers.find((x) => x.id === model.provider);
  if (!p) throw new Error(`catalog has no provider '${model.provider}'`);
  return p;
}

/** Cost in USD of a call, from the catalog's per-million-token prices. */
export function costUsd(
  model: Pick<Model, 'inputPricePerMTok' | 'outputPricePerMTok'>,
  inputTokens: number,
  outputTokens: number,
): number {
  const usd = (inputTokens * model.inputPricePerMTok + outputTokens * model.outputPricePerMTok) / 1_000_000;
  return roundUsd(usd);
}
