/**
 * The catalog over real HTTP: an operator imports a price sheet in LiteLLM's shape (a dry run
 * first, which stores nothing, then for real, with If-Match), the catalog's prices change and the
 * next request costs the new price; members and admins may not import. `GET /v1/models` lists
 * only enabled models, with their kind, prices and regions. `GET /v1/providers` shows every
 * instance with its kind, region, residency and breaker (its last error once a call failed), and
 * never a key, nor a base URL's path, query or credentials.
 */
import { CatalogSchema, costUsd } from '../../src/domain/catalog';
import { fakeCatalogProviders, fakeModel, startTestStack, type TestStack } from '../support/stack';

let stack: TestStack;
let origin: string;
/** What must never appear in an answer: a key's value, and what the base URL carries besides its host. */
const KEY_VALUE = 'gsk-live-7c1e9a40b2d84f55';

const PATH = '/v1/admin/catalog/prices';

/** A price sheet as LiteLLM ships it (trimmed): prefixed keys, other modes, its sample_spec. */
const SHEET = {
  sample_spec: {
    input_cost_per_token: 0.0,
    litellm_provider: 'one of https://docs.litellm.ai/docs/providers',
    max_input_tokens: 'max input tokens, if the provider specifies it. if not default to max_tokens',
    mode: 'one of: chat, embedding, completion, image_generation, audio_transcription, audio_speech',
    output_cost_per_token: 0.0,
  },
  // The fake OpenAI instance `oa` serves `primary`: its catalog id, exactly.
  'oa/primary': {
    input_cost_per_token: 2e-6,
    litellm_provider: 'openai',
    max_input_tokens: 32000,
    max_output_tokens: 4096,
    mode: 'chat',
    output_cost_per_token: 7.9e-6,
    supports_function_calling: true,
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
  'anthropic.claude-3-5-haiku-20241022-v1:0': {
    input_cost_per_token: 8e-7,
    litellm_provider: 'bedrock',
    max_input_tokens: 200000,
    max_output_tokens: 8192,
    mode: 'chat',
    output_cost_per_token: 4e-6,
  },
  'gpt-4o': { input_cost_per_token: 2.5e-6, litellm_provider: 'openai', mode: 'chat', output_cost_per_token: 1e-5 },
  'dall-e-3': { input_cost_per_image: 0.04, litellm_provider: 'openai', mode: 'image_generation' },
};

beforeAll(async () => {
  process.env.GROQ_API_KEY = KEY_VALUE;
  stack = await startTestStack({
    breakers: true,
    catalog: (f) => {
      const port = new URL(f.openai.url).port;
      return CatalogSchema.parse({
        providers: [
          ...fakeCatalogProviders(f),
          {
            id: 'groq',
            kind: 'openai-compatible',
            // A path and a query in the URL: neither may show (credentials in a URL are refused by the schema).
            baseUrl: `http://127.0.0.1:${port}/openai/v1?route=eu`,
            region: 'eu-west-1',
            apiKey: { env: 'GROQ_API_KEY' },
          },
          // Never called (its model is inactive), and pointed at this machine all the same.
          {
            id: 'bedrock-eu',
            kind: 'bedrock',
            region: 'eu-central-1',
            baseUrl: `http://127.0.0.1:${port}`,
            apiKey: { secret: 'aws-bedrock-eu' },
          },
        ],
        models: [
          fakeModel('oa', 'primary'),
          fakeModel('oa', 'retired', { status: 'inactive' }),
          fakeModel('an', 'backup', { inputPricePerMTok: 1, outputPricePerMTok: 4 }),
          fakeModel('groq', 'llama-3.3-70b-versatile', { regions: ['EU'] }),
          fakeModel('bedrock-eu', 'anthropic.claude-3-5-haiku-20241022-v1:0', { regions: ['EU'], status: 'inactive' }),
        ],
      });
    },
    config: { retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } } },
  });
  origin = new URL(stack.baseURL).origin;
});
afterAll(async () => {
  await stack?.stop();
  delete process.env.GROQ_API_KEY;
});

async function call(key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${origin}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text), etag: res.headers.get('etag') };
}

const catalogModel = async (id: string) =>
  (await call(stack.operatorKey, 'GET', '/v1/admin/models')).body.data.find((m: { id: string }) => m.id === id);

const until = async <T>(read: () => Promise<T>, ok: (x: T) => boolean, ms = 15_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const x = await read();
    if (ok(x)) return x;
    if (Date.now() > end) throw new Error(`condition not met in time: ${JSON.stringify(x)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('price sheet import', () => {
  it('members and admins may not import a price sheet', async () => {
    for (const key of [stack.apiKey, stack.adminKey]) {
      const res = await call(key, 'POST', PATH, SHEET);
      expect(res.status).toBe(403);
      expect(res.body.error.type).toBe('permission_error');
    }
    expect((await catalogModel('oa/primary')).inputPricePerMTok).toBe(0.1);
  });

  it('refuses a bad sheet with the path of the field at fault', async () => {
    const res = await call(stack.operatorKey, 'POST', PATH, { 'oa/primary': { input_cost_per_token: 'cheap' } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: 'oa/primary.input_cost_per_token', code: 'invalid_value' });
    const bad = await call(stack.operatorKey, 'POST', `${PATH}?dryRun=maybe`, SHEET);
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('dryRun');
  });

  it('a dry run shows the changes and stores nothing; the import stores them as one version; a request costs the new price', async () => {
    const before = await call(stack.operatorKey, 'GET', '/v1/admin/models');
    const version = before.body.config_version as number;

    const dry = await call(stack.operatorKey, 'POST', `${PATH}?dryRun=true`, SHEET);
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ format: 'litellm', dryRun: true, stored: false, version });
    expect(dry.body.updated).toEqual(
      expect.arrayContaining([
        { id: 'oa/primary', field: 'inputPricePerMTok', before: 0.1, after: 2 },
        { id: 'oa/primary', field: 'outputPricePerMTok', before: 0.4, after: 7.9 },
        { id: 'oa/primary', field: 'contextWindow', before: 16000, after: 32000 },
        { id: 'oa/primary', field: 'maxOutputTokens', before: 2000, after: 4096 },
        { id: 'groq/llama-3.3-70b-versatile', field: 'inputPricePerMTok', before: 0.1, after: 0.59 },
        {
          id: 'bedrock-eu/anthropic.claude-3-5-haiku-20241022-v1:0',
          field: 'outputPricePerMTok',
          before: 0.4,
          after: 4,
        },
      ]),
    );
    expect(dry.body.unmatched).toEqual(['gpt-4o', 'dall-e-3']);
    expect((await catalogModel('oa/primary')).inputPricePerMTok).toBe(0.1);
    expect((await call(stack.operatorKey, 'GET', '/v1/admin/models')).body.config_version).toBe(version);

    // If-Match names the version the change was computed from: a stale one is refused.
    const stale = await call(stack.operatorKey, 'POST', PATH, SHEET, { 'if-match': `"${version - 1}"` });
    expect(stale.status).toBe(409);

    const done = await call(stack.operatorKey, 'POST', PATH, SHEET, { 'if-match': `"${version}"` });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ dryRun: false, stored: true, version: version + 1 });
    expect(done.etag).toBe(`"${version + 1}"`);
    expect(done.body.updated).toEqual(dry.body.updated);
    expect(await catalogModel('oa/primary')).toMatchObject({
      inputPricePerMTok: 2,
      outputPricePerMTok: 7.9,
      contextWindow: 32000,
      maxOutputTokens: 4096,
    });

    // The same sheet again changes nothing, and writes no version.
    const again = await call(stack.operatorKey, 'POST', PATH, SHEET);
    expect(again.body).toMatchObject({ stored: false, updated: [], version: version + 1 });

    // One audit row, with each changed field before and after.
    const audit = (await call(stack.operatorKey, 'GET', '/v1/audit')).body.data.filter(
      (e: { action: string }) => e.action === 'catalog.prices',
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      target: `version ${version + 1}`,
      before: { models: { 'oa/primary': { inputPricePerMTok: 0.1 } } },
      after: { format: 'litellm', models: { 'oa/primary': { inputPricePerMTok: 2, outputPricePerMTok: 7.9 } } },
    });

    // A request now costs the imported price.
    const res = await stack.post('/chat/completions', {
      model: 'oa/primary',
      messages: [{ role: 'user', content: 'What does the new price come to?' }],
    });
    expect(res.status).toBe(200);
    const { prompt_tokens, completion_tokens } = res.body.usage;
    expect(prompt_tokens).toBeGreaterThan(0);
    expect(res.body.switchyard.cost_usd).toBeCloseTo(
      costUsd({ inputPricePerMTok: 2, outputPricePerMTok: 7.9 }, prompt_tokens, completion_tokens),
      10,
    );
    expect(res.body.switchyard.cost_usd).not.toBeCloseTo(
      costUsd({ inputPricePerMTok: 0.1, outputPricePerMTok: 0.4 }, prompt_tokens, completion_tokens),
      10,
    );
  });

  it('our own sheet shape: a model by its catalog id', async () => {
    const res = await call(stack.operatorKey, 'POST', PATH, {
      models: [{ id: 'an/backup', inputPricePerMTok: 1.25, outputPricePerMTok: 5 }],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      format: 'switchyard',
      stored: true,
      updated: [
        { id: 'an/backup', field: 'inputPricePerMTok', before: 1, after: 1.25 },
        { id: 'an/backup', field: 'outputPricePerMTok', before: 4, after: 5 },
      ],
      unmatched: [],
    });
  });
});

describe('GET /v1/models', () => {
  it('lists the enabled models with their kind, capabilities, limits, prices and regions; an inactive one is hidden', async () => {
    const res = await call(stack.apiKey, 'GET', '/v1/models');
    expect(res.status).toBe(200);
    const ids = res.body.data.map((m: { id: string }) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['auto', 'oa/primary', 'an/backup', 'groq/llama-3.3-70b-versatile']));
    expect(ids).not.toContain('oa/retired');
    expect(ids).not.toContain('bedrock-eu/anthropic.claude-3-5-haiku-20241022-v1:0');
    expect(res.body.data.find((m: { id: string }) => m.id === 'groq/llama-3.3-70b-versatile')).toEqual({
      id: 'groq/llama-3.3-70b-versatile',
      object: 'model',
      created: 0,
      owned_by: 'groq',
      kind: 'openai-compatible',
      capabilities: ['chat'],
      context_window: 128000,
      max_output_tokens: 32768,
      pricing: { input_per_mtok_usd: 0.59, output_per_mtok_usd: 0.79 },
      regions: ['EU'],
    });
    expect((await call(stack.apiKey, 'GET', '/v1/models/oa/retired')).status).toBe(404);
    expect((await call(stack.apiKey, 'GET', '/v1/models/oa%2Fprimary')).body).toMatchObject({
      id: 'oa/primary',
      owned_by: 'oa',
      kind: 'openai',
      pricing: { input_per_mtok_usd: 2, output_per_mtok_usd: 7.9 },
    });
  });
});

describe('GET /v1/providers', () => {
  type Instance = {
    id: string;
    kind: string;
    label: string;
    host?: string | null;
    region: string | null;
    residency: string | null;
    apiKey?: unknown;
    models: string[];
    breaker: { status: string; open: number; lastError?: { type: string; at: string } };
  };
  const providers = async (key: string) => {
    const res = await call(key, 'GET', '/v1/providers');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(KEY_VALUE);
    expect(res.text).not.toContain('route=eu');
    return res.body as { data: Array<{ id: string; breaker: { status: string } }>; providers: Instance[] };
  };

  it('shows every instance with its kind, region, residency, key reference and models; endpoints stay in data', async () => {
    const body = await providers(stack.operatorKey);
    const port = new URL(stack.fakes.openai.url).port;
    const byId = Object.fromEntries(body.providers.map((p) => [p.id, p]));
    expect(Object.keys(byId)).toEqual(['oa', 'an', 'groq', 'bedrock-eu']);
    expect(byId.oa).toMatchObject({
      kind: 'openai',
      label: expect.stringContaining('OpenAI'),
      host: `127.0.0.1:${port}`,
      region: null,
      residency: null,
      apiKey: 'environment',
      models: ['oa/primary', 'oa/retired'],
    });
    expect(byId.groq).toMatchObject({
      kind: 'openai-compatible',
      host: `127.0.0.1:${port}`,
      region: 'eu-west-1',
      residency: 'EU',
      apiKey: { env: 'GROQ_API_KEY' },
      models: ['groq/llama-3.3-70b-versatile'],
      breaker: { status: 'closed', open: 0 },
    });
    expect(byId['bedrock-eu']).toMatchObject({
      kind: 'bedrock',
      host: `127.0.0.1:${port}`,
      region: 'eu-central-1',
      residency: 'EU',
      apiKey: { secret: 'aws-bedrock-eu' },
    });
    // The per-endpoint view, as before.
    expect(body.data.map((d) => d.id)).toContain('oa/primary');
    expect(body.data.every((d) => typeof d.breaker.status === 'string')).toBe(true);
  });

  it("a member sees kinds, regions and breakers, not the deployment's hosts or key references", async () => {
    const body = await providers(stack.apiKey);
    const groq = body.providers.find((p) => p.id === 'groq')!;
    expect(groq).toMatchObject({ kind: 'openai-compatible', region: 'eu-west-1', residency: 'EU' });
    expect(groq).not.toHaveProperty('host');
    expect(groq).not.toHaveProperty('apiKey');
  });

  it("an instance's breaker shows its models' last error once a call failed", async () => {
    stack.fakes.openai.script('primary', { kind: 'error', status: 503, message: 'The engine is currently overloaded' });
    await stack.post('/chat/completions', { model: 'oa/primary', messages: [{ role: 'user', content: 'hi' }] });
    const oa = await until(
      async () => (await providers(stack.operatorKey)).providers.find((p) => p.id === 'oa')!,
      (p) => p.breaker.lastError !== undefined,
    );
    expect(oa.breaker.lastError).toEqual({ type: 'Overloaded', at: expect.any(String) });
    expect(Number.isNaN(Date.parse(oa.breaker.lastError!.at))).toBe(false);
    // The instance that did not fail has none.
    expect((await providers(stack.operatorKey)).providers.find((p) => p.id === 'an')!.breaker).not.toHaveProperty(
      'lastError',
    );
  });
});
