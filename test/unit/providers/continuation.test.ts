/**
 * Continuation on OpenAI-wire servers (issue 29): an instance's `continuation` style, where the
 * configuration takes it, which candidates it makes continuers, and the request bodies the
 * OpenAI-family adapters send with it (against the OpenAI-wire fake, as each kind's client sends them).
 */
import type { ApplicationFailure } from '@temporalio/common';
import { callProvider } from '../../../activities/providerCall';
import { CatalogSchema, findModel, type Provider } from '../../../src/domain/catalog';
import { classify } from '../../../src/domain/classify';
import type { ChatMessage } from '../../../src/domain/chat';
import { emptyAnswer, type StreamDelta } from '../../../src/domain/stream';
import { KINDS } from '../../../src/providers/kinds';
import { continuationParams } from '../../../src/providers/openai/adapter';
import { AdapterRegistry } from '../../../src/providers/registry';
import type { ChatCallInput } from '../../../src/providers/types';
import { ConfigValidationError, validateConfig } from '../../../src/services/configStore';
import { planRoute } from '../../../src/services/routePlan';
import { unitModel } from '../../support/catalog';
import { startOpenAIWire, type OpenAIFlavour, type OpenAIWireFake } from '../../support/fakes/openaiWire';

const KEY = 'sk-continuation-test-5e81c3a9f2d0';
const limits = { firstTokenMs: 5_000, idleMs: 5_000 };

/** A configuration with these providers, and one model declaring `continuation` on each. */
const configWith = (providers: Array<Record<string, unknown>>) =>
  validateConfig({
    catalog: {
      providers,
      models: providers.map((p) => unitModel(String(p.id), 'm', { capabilities: ['chat', 'json', 'continuation'] })),
    },
  });

/** The issues a configuration with this provider is refused for (none: it is taken). */
function issuesOf(provider: Record<string, unknown>): Array<{ path: string; message: string }> {
  try {
    configWith([provider]);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigValidationError)) throw err;
    return err.issues.map(({ path, message }) => ({ path, message }));
  }
}

describe("an instance's continuation style in the configuration", () => {
  it.each([
    {
      id: 'vllm',
      kind: 'openai-compatible',
      baseUrl: 'http://127.0.0.1:8000/v1',
      continuation: 'continue_final_message',
    },
    { id: 'deepseek', kind: 'openai-compatible', baseUrl: 'https://api.deepseek.com/beta', continuation: 'prefix' },
    { id: 'proxy', kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', continuation: 'continue_final_message' },
    // `wireFormat: openai`, the older spelling, is the `openai` kind.
    { id: 'old', wireFormat: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', continuation: 'prefix' },
    { id: 'tgi', kind: 'huggingface', baseUrl: 'https://tgi.example/v1', continuation: 'continue_final_message' },
  ])('taken on an OpenAI-wire instance: $id', (p) => {
    expect(issuesOf(p)).toEqual([]);
    expect(configWith([p]).catalog.providers[0]!.continuation).toBe(p.continuation);
  });

  it.each([
    ['anthropic', { kind: 'anthropic' }, /'anthropic' provider cannot set continuation.*with the capability alone/],
    ['google', { kind: 'google' }, /'google' provider cannot set continuation/],
    ['bedrock', { kind: 'bedrock', region: 'us-east-1' }, /'bedrock' provider cannot set continuation/],
    [
      'azure-openai',
      { kind: 'azure-openai', baseUrl: 'https://r.openai.azure.com', apiVersion: '2024-10-21' },
      /'azure-openai' provider cannot set continuation: .* \(kinds openai, openai-compatible, huggingface\)/,
    ],
    ['the simulator', { wireFormat: 'openai', simulated: true }, /the simulator does not continue/],
  ])('refused on %s, with the field named', (_, fields, message) => {
    expect(issuesOf({ id: 'p', ...fields, continuation: 'prefix' })).toEqual([
      { path: 'catalog.providers.0.continuation', message: expect.stringMatching(message) },
    ]);
  });

  it('a style it does not know is refused', () => {
    const issues = issuesOf({ id: 'p', kind: 'openai-compatible', baseUrl: 'http://x/v1', continuation: 'resume' });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('catalog.providers.0.continuation');
    expect(issues[0]!.message).toMatch(/continue_final_message.*prefix/);
  });
});

describe('which candidates continue (the route plan)', () => {
  const hello = classify({ operation: 'chat', messages: [{ role: 'user', content: 'Hello' }] });
  const config = configWith([
    {
      id: 'vllm',
      kind: 'openai-compatible',
      baseUrl: 'http://127.0.0.1:8000/v1',
      continuation: 'continue_final_message',
    },
    { id: 'ds', kind: 'openai-compatible', baseUrl: 'https://api.deepseek.com/beta', continuation: 'prefix' },
    { id: 'plain', kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:11434/v1' },
    { id: 'oai', kind: 'openai' },
    { id: 'an', kind: 'anthropic' },
  ]);
  // One more model on the vLLM instance that does not declare the capability.
  config.catalog.models.push({
    ...findModel(config.catalog, 'vllm/m')!,
    id: 'vllm/other',
    model: 'other',
    capabilities: ['chat', 'json'],
  });
  /** Whether the model, named by the request, is planned as a continuer. */
  const continues = async (modelId: string, needsJson = false) => {
    const { planned } = await planRoute(
      { db: {} as never, config: { version: 1, config, source: 'file' } as never },
      {
        tenantId: 't',
        requestId: 'r',
        requestedModel: modelId,
        operation: 'chat',
        needsJson,
        context: { tenantId: 't', compliance: [], excludeProviders: [], metadata: {} },
      },
      hello,
      new Date('2026-12-07T12:00:00Z'),
    );
    const c = planned.candidates.find((x) => x.modelId === modelId);
    expect(c).toBeDefined();
    return c!.continues === true;
  };
  const MODELS = ['vllm/m', 'ds/m', 'an/m', 'plain/m', 'oai/m', 'vllm/other'];

  it('a capable model continues on an instance with a style, or on Anthropic; not on one without', async () => {
    const planned: Record<string, boolean> = {};
    for (const id of MODELS) planned[id] = await continues(id);
    expect(planned).toEqual({
      'vllm/m': true,
      'ds/m': true,
      'an/m': true,
      'plain/m': false,
      'oai/m': false,
      'vllm/other': false,
    });
  });

  it('never for a structured answer', async () => {
    for (const id of MODELS) expect(await continues(id, true)).toBe(false);
  });
});

describe('the request body of a continuation', () => {
  const fakes: OpenAIWireFake[] = [];
  const fake = async (flavour: OpenAIFlavour) => {
    const f = await startOpenAIWire(flavour, KEY);
    fakes.push(f);
    return f;
  };
  afterAll(async () => {
    for (const f of fakes) await f.close();
  });

  const messages: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Count to ten.' },
    { role: 'assistant', content: 'one two three' },
  ];
  const input = (continueFinal?: boolean): ChatCallInput => ({
    model: 'm',
    messages,
    maxOutputTokens: 50,
    ...(continueFinal && { continueFinal }),
  });
  const build = (kind: string, baseURL: string, continuation?: Provider['continuation']) =>
    KINDS[kind]!.create({ providerId: `p-${kind}`, apiKey: KEY, timeoutMs: 5_000, baseURL, continuation });

  it.each([
    ['openai-compatible', 'compatible'],
    ['openai', 'openai'],
    ['huggingface', 'huggingface'],
  ] as const)(
    '%s, vLLM style: continue_final_message on, add_generation_prompt off, messages as given',
    async (kind, flavour) => {
      const f = await fake(flavour);
      const deltas: StreamDelta[] = [];
      await build(kind, f.url, 'continue_final_message').chatStream(input(true), { limits }, (d) => deltas.push(d));
      expect(deltas.length).toBeGreaterThan(0);
      const body = f.calls.at(-1)!.body as Record<string, unknown>;
      expect(body).toMatchObject({ stream: true, continue_final_message: true, add_generation_prompt: false });
      expect(body.messages).toEqual(messages);
    },
  );

  it('prefix style: only the last message carries prefix: true; no vLLM flags; the same unstreamed', async () => {
    const f = await fake('compatible');
    const adapter = build('openai-compatible', f.url, 'prefix');
    await adapter.chatStream(input(true), { limits }, () => {});
    await adapter.chat(input(true));
    for (const call of f.calls) {
      const body = call.body as Record<string, unknown>;
      expect(body.messages).toEqual([
        ...messages.slice(0, -1),
        { role: 'assistant', content: 'one two three', prefix: true },
      ]);
      expect(body).not.toHaveProperty('continue_final_message');
      expect(body).not.toHaveProperty('add_generation_prompt');
    }
  });

  it('a call that is no continuation carries nothing of it, whatever the style', async () => {
    const f = await fake('compatible');
    await build('openai-compatible', f.url, 'continue_final_message').chat(input());
    await build('openai-compatible', f.url, 'prefix').chat(input());
    for (const call of f.calls) {
      const body = call.body as Record<string, unknown>;
      expect(body).not.toHaveProperty('continue_final_message');
      expect(body.messages).toEqual(messages);
    }
  });

  it('a continuation on an instance with no style is refused before any call (it would repeat the answer)', async () => {
    const f = await fake('compatible');
    const err = (await build('openai-compatible', f.url)
      .chatStream(input(true), { limits }, () => {})
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('InvalidRequest');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/p-openai-compatible sets no continuation style/);
    expect(f.calls).toHaveLength(0);
  });

  it('continuationParams: the style on a body ending with the assistant message; none to continue otherwise', () => {
    const base = { model: 'm', messages: messages.slice() as never };
    expect(continuationParams(base, 'continue_final_message')).toEqual({
      ...base,
      continue_final_message: true,
      add_generation_prompt: false,
    });
    expect(continuationParams(base, 'prefix').messages.at(-1)).toEqual({
      role: 'assistant',
      content: 'one two three',
      prefix: true,
    });
    expect(base.messages).toEqual(messages);
    expect(() => continuationParams({ model: 'm', messages: messages.slice(0, 2) as never }, 'prefix')).toThrow(
      /ends with the assistant message/,
    );
  });

  it("the registry builds the adapter with the instance's style, and a new one when it changes", async () => {
    const f = await fake('compatible');
    const registry = new AdapterRegistry({ vllm: KEY }, 5_000);
    const p = CatalogSchema.parse({
      providers: [{ id: 'vllm', kind: 'openai-compatible', baseUrl: f.url, continuation: 'continue_final_message' }],
      models: [unitModel('vllm', 'm')],
    }).providers[0]!;
    await (await registry.get(p)).chat(input(true));
    await (await registry.get({ ...p, continuation: 'prefix' })).chat(input(true));
    const [first, second] = f.calls.map((c) => c.body as Record<string, unknown>);
    expect(first).toMatchObject({ continue_final_message: true });
    expect(second).not.toHaveProperty('continue_final_message');
    expect((second!.messages as Array<Record<string, unknown>>).at(-1)).toMatchObject({ prefix: true });
  });

  it('callProvider sends the prefill without its trailing whitespace, flagged; the answer is the whole text', async () => {
    const f = await fake('compatible');
    const adapter = build('openai-compatible', f.url, 'continue_final_message');
    const model = unitModel('p-openai-compatible', 'm', { capabilities: ['chat', 'continuation'] }) as never;
    const prefill = { ...emptyAnswer(), content: 'one two ', chunks: 2 };
    const pieces: string[] = [];
    const out = await callProvider(
      adapter,
      model,
      { operation: 'chat', body: { model: 'x', messages: messages.slice(0, 2) }, createdAt: 0 },
      {},
      false,
      { limits, onDelta: (d) => d.content && pieces.push(d.content), prefill },
    );
    const body = f.calls.at(-1)!.body as Record<string, unknown>;
    expect(body).toMatchObject({ continue_final_message: true, add_generation_prompt: false });
    expect((body.messages as ChatMessage[]).at(-1)).toEqual({ role: 'assistant', content: 'one two' });
    // The continuation's leading whitespace (the client has it already) is dropped.
    expect((out.stored as { content: string }).content).toBe(`one two ${pieces.join('')}`);
    expect(pieces[0]).not.toMatch(/^\s/);
  });
});
