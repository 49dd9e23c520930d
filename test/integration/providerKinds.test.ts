/**
 * Instances of different kinds in one route, over real HTTP (the official `openai` client →
 * Switchyard → each kind's official SDK → fakes speaking Gemini's, Azure's, Bedrock's and an
 * OpenAI-compatible server's real wire formats): a request falls back across wire formats and is
 * recorded with every attempt, streamed or not; and a request that must stay in the EU never
 * reaches a US-region instance, even when the EU one fails.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import { CONTRACT_ANSWER, type WireFake } from '../contract/fixture';
import { startBedrockFake } from '../support/fakes/bedrock';
import { startGeminiFake } from '../support/fakes/gemini';
import { startOpenAIWire } from '../support/fakes/openaiWire';
import {
  fakeModel,
  openaiClient,
  providerSecret,
  startTestStack,
  type TestStack,
  FAST_RETRIES,
} from '../support/stack';

type Attempt = { provider: string; model: string; outcome: string; errorType?: string };

const BEDROCK_MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
let stack: TestStack;
let gemini: WireFake, azure: WireFake, bedrockUs: WireFake, bedrockEu: WireFake, vllm: WireFake;
const ALL = ['gemini', 'azure', 'bedrock-us', 'bedrock-eu', 'vllm'];
/** Leave every instance but these out of the route (the X-Switchyard-Exclude-Providers header). */
const only = (...ids: string[]) => ({
  'x-switchyard-exclude-providers': ALL.filter((i) => !ids.includes(i)).join(','),
});

beforeAll(async () => {
  [gemini, azure, bedrockUs, bedrockEu, vllm] = await Promise.all([
    startGeminiFake(providerSecret('gemini')),
    startOpenAIWire('azure', providerSecret('azure')),
    startBedrockFake(providerSecret('bedrock-us')),
    startBedrockFake(providerSecret('bedrock-eu')),
    startOpenAIWire('compatible', providerSecret('vllm')),
  ]);
  stack = await startTestStack({
    breakers: true,
    catalog: () =>
      CatalogSchema.parse({
        providers: [
          { id: 'gemini', kind: 'google', baseUrl: gemini.url },
          { id: 'azure', kind: 'azure-openai', baseUrl: azure.url, apiVersion: '2024-10-21' },
          { id: 'bedrock-us', kind: 'bedrock', baseUrl: bedrockUs.url, region: 'us-east-1' },
          { id: 'bedrock-eu', kind: 'bedrock', baseUrl: bedrockEu.url, region: 'eu-central-1' },
          { id: 'vllm', kind: 'openai-compatible', baseUrl: vllm.url },
        ],
        models: [
          fakeModel('gemini', 'gemini-2.5-flash', { qualityTier: 3, regions: ['US'] }),
          fakeModel('azure', 'gpt-4o-prod', { qualityTier: 4, regions: ['US'] }),
          fakeModel('bedrock-us', BEDROCK_MODEL, { qualityTier: 3, regions: ['US'] }),
          fakeModel('bedrock-eu', BEDROCK_MODEL, { qualityTier: 3, regions: ['EU'] }),
          fakeModel('vllm', 'llama-3.3-70b', { qualityTier: 4, regions: ['US'] }),
          // A Hugging Face style name, with a slash of its own.
          fakeModel('vllm', 'meta-llama/Llama-3.1-8B-Instruct', { qualityTier: 1, regions: ['US'] }),
        ],
      }),
    config: {
      routing: { defaultStrategy: 'quality' },
      // Each test's faults are its own: no breaker opens on them.
      breakers: { failureThreshold: 1_000 },
      retry: FAST_RETRIES,
    },
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all([gemini, azure, bedrockUs, bedrockEu, vllm].map((f) => f?.close()));
});
beforeEach(() => [gemini, azure, bedrockUs, bedrockEu, vllm].forEach((f) => f.clear()));

/** The request's attempts as recorded (GET /v1/requests/{id}), in order. */
async function recordedAttempts(requestId: string): Promise<Attempt[]> {
  const res = await fetch(`${stack.baseURL}/requests/${requestId}`, {
    headers: { authorization: `Bearer ${stack.apiKey}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { attempts: Attempt[] }).attempts;
}

it('a Gemini 429 falls back to Azure OpenAI, both attempts on record', async () => {
  gemini.fail('gemini-2.5-flash', 'rate-limit');
  const { data, response } = await openaiClient(stack)
    .chat.completions.create(
      { model: 'gemini/gemini-2.5-flash', messages: [{ role: 'user', content: 'What is it?' }] },
      { headers: only('gemini', 'azure') },
    )
    .withResponse();
  expect(data.choices[0]!.message.content).toBe(CONTRACT_ANSWER);
  expect(response.headers.get('x-switchyard-model')).toBe('azure/gpt-4o-prod');
  // Gemini's own 429 (RESOURCE_EXHAUSTED), retried once after its RetryInfo delay, then Azure.
  expect(gemini.callsFor('gemini-2.5-flash')).toHaveLength(2);
  expect(azure.callsFor('gpt-4o-prod')).toHaveLength(1);
  expect(azure.calls[0]!.url).toMatch(/^\/openai\/deployments\/gpt-4o-prod\/chat\/completions\?api-version=2024-10-21/);
  const attempts = await recordedAttempts(response.headers.get('x-switchyard-request-id')!);
  expect(attempts.map((a) => [a.provider, a.outcome, a.errorType ?? null])).toEqual([
    ['gemini', 'error', 'RateLimited'],
    ['gemini', 'error', 'RateLimited'],
    ['azure', 'success', null],
  ]);
});

it('a Bedrock 5xx on a stream falls back to an OpenAI-compatible server, streamed, both on record', async () => {
  bedrockUs.fail(BEDROCK_MODEL, 'server-error');
  const { data: stream, response } = await openaiClient(stack)
    .chat.completions.create(
      { model: `bedrock-us/${BEDROCK_MODEL}`, messages: [{ role: 'user', content: 'What is it?' }], stream: true },
      { headers: only('bedrock-us', 'vllm') },
    )
    .withResponse();
  const pieces: string[] = [];
  for await (const chunk of stream) {
    const c = chunk.choices[0]?.delta?.content;
    if (c) pieces.push(c);
  }
  expect(pieces.join('')).toBe(CONTRACT_ANSWER);
  expect(pieces.length).toBeGreaterThanOrEqual(2);
  // Bedrock's ServiceUnavailableException on ConverseStream, twice; then the vLLM-style server, streamed.
  expect(bedrockUs.callsFor(BEDROCK_MODEL).map((c) => c.streamed)).toEqual([true, true]);
  expect(vllm.callsFor('llama-3.3-70b').map((c) => c.streamed)).toEqual([true]);
  const attempts = await recordedAttempts(response.headers.get('x-switchyard-request-id')!);
  expect(attempts.map((a) => [a.provider, a.outcome, a.errorType ?? null])).toEqual([
    ['bedrock-us', 'error', 'Overloaded'],
    ['bedrock-us', 'error', 'Overloaded'],
    ['vllm', 'success', null],
  ]);
});

describe('residency: an EU-only request', () => {
  const eu = { 'x-switchyard-region': 'EU' };

  it('goes to the eu-central-1 instance, never to us-east-1', async () => {
    const res = await stack.post(
      '/chat/completions',
      { model: 'auto', messages: [{ role: 'user', content: 'Hello' }] },
      eu,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-switchyard-model')).toBe(`bedrock-eu/${BEDROCK_MODEL}`);
    expect(bedrockEu.calls).toHaveLength(1);
    expect(bedrockUs.calls).toHaveLength(0);
  });

  it('does not fall back to the US instance when the EU one fails', async () => {
    bedrockEu.fail(BEDROCK_MODEL, 'server-error');
    const res = await stack.post(
      '/chat/completions',
      { model: `bedrock-eu/${BEDROCK_MODEL}`, messages: [{ role: 'user', content: 'Hello' }] },
      eu,
    );
    expect(res.status).toBe(503);
    expect(bedrockEu.calls.length).toBeGreaterThan(0);
    for (const fake of [bedrockUs, gemini, azure, vllm]) expect(fake.calls).toHaveLength(0);
  });

  it('asking for a model only a US instance serves: not sent there', async () => {
    const res = await stack.post(
      '/chat/completions',
      { model: `bedrock-us/${BEDROCK_MODEL}`, messages: [{ role: 'user', content: 'Hello' }] },
      eu,
    );
    // Answered by an EU model, or refused: either way, not by the US instance.
    if (res.status === 200) expect(res.headers.get('x-switchyard-model')).toBe(`bedrock-eu/${BEDROCK_MODEL}`);
    else expect(res.status).toBe(503);
    expect(bedrockUs.calls).toHaveLength(0);
  });
});

it('a model name with a slash of its own: found, and its breaker forced, by its id in the path', async () => {
  const id = 'vllm/meta-llama/Llama-3.1-8B-Instruct';
  const auth = { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' };
  for (const path of [id, encodeURIComponent(id)]) {
    const res = await fetch(`${stack.baseURL}/models/${path}`, { headers: auth });
    expect([path, res.status, ((await res.json()) as { id: string }).id]).toEqual([path, 200, id]);
  }
  expect((await openaiClient(stack).models.retrieve(id)).id).toBe(id);
  const forced = await fetch(`${stack.baseURL}/providers/${id}/breaker`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ action: 'open', reason: 'maintenance' }),
  });
  expect(forced.status).toBe(200);
  expect(((await forced.json()) as { id: string }).id).toBe(id);
});
