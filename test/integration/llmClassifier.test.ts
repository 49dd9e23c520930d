/**
 * The optional configured classifying model (`routing.classifier.llm`, issue 23), over HTTP with the
 * official openai SDK against the fake providers: off by default (no extra call); on, a prompt the
 * trained classifier is unsure of is classified by the fake model once (its label routes the
 * request, its call is a `classify` request of its own with a cost) and the same prompt again is
 * answered from the cache; invalid JSON, a timeout or a provider error leave the trained result,
 * noted; a prompt the trained classifier is sure of asks nothing; the dry run and policy replay
 * never call the model; an unknown model is a configuration error naming its field.
 */
import type { z } from 'zod';
import { getRequest } from '../../src/db/requests';
import { classify, type Classification } from '../../src/domain/classify';
import type { LlmClassifierSettingsSchema } from '../../src/domain/llmClassifierSettings';
import { complexityProbsOf, DEFAULT_QUALITY, tierAt } from '../../src/domain/policy/dial';
import { classifierFor, currentVersion } from '../../src/services/classifiers';
import { uniqueId } from '../support/db';
import { fakeCatalog, fakeModel, openaiClient, setDailyBudget, useTestStack } from '../support/stack';

const stack = useTestStack(
  {
    catalog: (f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'premium', { qualityTier: 5, inputPricePerMTok: 5, outputPricePerMTok: 20 }),
        fakeModel('oa', 'cheap', { qualityTier: 2, inputPricePerMTok: 0.1, outputPricePerMTok: 0.4 }),
        // The classifying model: dearer and weaker than `cheap`, so routing never leads with it.
        fakeModel('oa', 'labeller', {
          qualityTier: 1,
          inputPricePerMTok: 0.5,
          outputPricePerMTok: 2,
          capabilities: ['chat', 'json'],
        }),
      ]),
    config: { retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } } },
    breakers: true,
  },
  { resetFakes: true },
);

const LABELLER = 'labeller';
const labellerCalls = () => stack.fakes.openai.callsFor(LABELLER);

/** The trained classification of a prompt, as the worker makes it (same model, same process). */
const trainedOf = (prompt: string) =>
  classify({ operation: 'chat', messages: [{ role: 'user', content: prompt }] }, classifierFor('current'));

/**
 * A prompt the shipped model is unsure of (about 0.7) and does not send to the premium tier, made
 * unique, with its lower confidence (what `belowConfidence` is compared with).
 */
function unsurePrompt(): { prompt: string; confidence: number; trained: Classification } {
  // The unique suffix moves the confidences a little: a few tries find one that fits.
  for (let i = 0; i < 20; i++) {
    const prompt = `Tell me about the weather patterns and what they could mean for next week (${uniqueId('p')})`;
    const trained = trainedOf(prompt);
    const confidence = Math.min(trained.classifier!.taskConfidence, trained.classifier!.complexityConfidence);
    if (confidence < 0.9 && tierAt(complexityProbsOf(trained), DEFAULT_QUALITY).tier !== 'complex')
      return { prompt, confidence, trained };
  }
  throw new Error('the trained classifier is sure of every variant of the test prompt: pick another');
}

async function setLlm(llm: z.input<typeof LlmClassifierSettingsSchema> | undefined): Promise<void> {
  await stack.configStore.update((c) => {
    const { classifier: _, ...routing } = c.routing;
    return { ...c, routing: llm ? { ...routing, classifier: { llm } } : routing };
  });
}

async function chat(prompt: string) {
  const { data, response } = await openaiClient(stack)
    .chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: prompt }] })
    .withResponse();
  const requestId = response.headers.get('x-switchyard-request-id')!;
  const row = await getRequest(stack.db, requestId);
  return { data, requestId, classification: row!.classification as Classification, model: row!.model };
}

async function record(id: string) {
  const res = await fetch(`${stack.baseURL}/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

afterEach(() => setLlm(undefined));

it('off by default: no call to any classifying model, the trained classifier decides', async () => {
  expect(stack.configStore.current().config.routing.classifier).toBeUndefined();
  const { prompt } = unsurePrompt();
  const { classification, requestId } = await chat(prompt);
  expect(classification.classifier?.version).toBe(currentVersion());
  expect(classification.classifier?.llm).toBeUndefined();
  expect(labellerCalls()).toHaveLength(0);
  expect((await record(`${requestId}.classify`)).status).toBe(404);
});

it('on and unsure: the model is asked once, its label routes the request, and the same prompt again uses the cache', async () => {
  const { prompt, confidence, trained } = unsurePrompt();
  // Another prompt, for the dry run without a cached answer: the threshold covers both.
  const { prompt: fresh, confidence: freshConfidence } = unsurePrompt();
  await setLlm({
    model: 'oa/labeller',
    belowConfidence: Math.min(1, Math.max(confidence, freshConfidence) + 0.05),
    timeoutMs: 5_000,
  });
  stack.fakes.openai.script(LABELLER, { kind: 'ok', content: '{"taskType": "analysis", "complexity": "complex"}' });

  const first = await chat(prompt);
  expect(labellerCalls()).toHaveLength(1);
  // The fixed instruction and the prompt as data, with structured output (the model has `json`).
  const sent = labellerCalls()[0]!.body as {
    messages: Array<{ role: string; content: string }>;
    response_format?: { type: string };
  };
  expect(sent.messages[0]!.role).toBe('system');
  expect(sent.messages[1]!.content).toContain(prompt);
  expect(sent.response_format?.type).toBe('json_schema');

  // Its label decided, the trained reading kept beside it.
  const c = first.classification;
  expect([c.taskType, c.complexity]).toEqual(['analysis', 'complex']);
  expect(c.classifier).toMatchObject({
    version: 'llm:oa/labeller',
    complexityProbs: { simple: 0, medium: 0, complex: 1 },
    trained: {
      version: currentVersion(),
      taskType: trained.taskType,
      complexity: trained.complexity,
      complexityProbs: trained.classifier!.complexityProbs,
    },
    llm: { model: 'oa/labeller', outcome: 'answered', requestId: `${first.requestId}.classify` },
  });
  expect(c.classifier!.trained!.complexityConfidence).toBeLessThan(1);
  // Complex → the premium tier: the label routed the request (the trained reading's tier is not complex).
  expect(first.model).toBe('oa/premium');

  // A request of its own, for the same tenant, with its attempt and its cost.
  const own = await record(`${first.requestId}.classify`);
  expect(own.status).toBe(200);
  expect(own.body).toMatchObject({ status: 'succeeded', operation: 'classify', model: 'oa/labeller' });
  expect(Number(own.body.cost_usd)).toBeGreaterThan(0);
  expect(own.body.attempts).toHaveLength(1);
  expect(own.body.attempts[0]).toMatchObject({ outcome: 'success', provider: 'oa', model: LABELLER });
  expect(own.body.response.result).toEqual({ taskType: 'analysis', complexity: 'complex' });

  // The same prompt again: from the cache, no second call, no second classification request.
  const second = await chat(prompt);
  expect(labellerCalls()).toHaveLength(1);
  expect(second.classification.classifier).toMatchObject({
    version: 'llm:oa/labeller',
    llm: { outcome: 'cached', requestId: `${first.requestId}.classify` },
  });
  expect(second.model).toBe('oa/premium');
  expect((await record(`${second.requestId}.classify`)).status).toBe(404);

  // The dry run calls no model: it uses the cached answer.
  const dry = await stack.post('/route', { model: 'auto', messages: [{ role: 'user', content: prompt }] });
  expect(dry.status).toBe(200);
  expect(dry.body.classification.classifier).toMatchObject({ version: 'llm:oa/labeller', llm: { outcome: 'cached' } });
  // A prompt with no cached answer: noted as not asked, still no call.
  const dryFresh = await stack.post('/route', { model: 'auto', messages: [{ role: 'user', content: fresh }] });
  expect(dryFresh.body.classification.classifier).toMatchObject({
    version: currentVersion(),
    llm: { outcome: 'not-asked' },
  });
  expect(labellerCalls()).toHaveLength(1);

  // Replay uses the recorded classifications: no call either.
  const replay = await fetch(`${stack.baseURL}/policy/replay`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ changes: {}, limit: 50 }),
  });
  expect(replay.status).toBe(200);
  const report = (await replay.json()) as { classifierVersions: Record<string, number> };
  expect(report.classifierVersions['llm:oa/labeller']).toBeGreaterThanOrEqual(2);
  expect(labellerCalls()).toHaveLength(1);
});

it.each([
  ['invalid JSON', { kind: 'ok' as const, content: 'This prompt is about the weather.' }, 'invalid', 'InvalidOutput'],
  [
    'JSON with a label not in the list',
    { kind: 'ok' as const, content: '{"taskType": "weather", "complexity": "simple"}' },
    'invalid',
    'InvalidOutput',
  ],
  ['a timeout', { kind: 'hang' as const }, 'timeout', 'Timeout'],
  ['a provider error', { kind: 'error' as const, status: 500 }, 'failed', 'Overloaded'],
])(
  '%s: the trained result stands, noted, and the failed classification is on record',
  async (_, behaviour, outcome, errorType) => {
    const { prompt, confidence } = unsurePrompt();
    const belowConfidence = Math.min(1, confidence + 0.05);
    // Short only where the call is meant to time out: elsewhere a busy machine must not turn an answer into a timeout.
    await setLlm({ model: 'oa/labeller', belowConfidence, timeoutMs: errorType === 'Timeout' ? 300 : 5_000 });
    stack.fakes.openai.script(LABELLER, behaviour);
    const { classification: c, requestId, data } = await chat(prompt);
    expect(data.choices[0]!.message.content).toBeTruthy();
    expect(labellerCalls()).toHaveLength(1);
    expect(c.classifier?.version).toBe(currentVersion());
    expect(c.classifier?.trained).toBeUndefined();
    expect(c.classifier?.llm).toMatchObject({ model: 'oa/labeller', outcome, requestId: `${requestId}.classify` });
    expect(c.classifier?.llm?.note).toMatch(/trained .* result stands/);
    expect(c.signals.some((s) => s.includes('llm:oa/labeller not used'))).toBe(true);
    const own = await record(`${requestId}.classify`);
    expect(own.body).toMatchObject({ status: 'failed', operation: 'classify' });
    expect(own.body.attempts[0]).toMatchObject({ outcome: 'error', errorType });
    // An answer is paid for even when it is not valid; a call that never answered costs nothing.
    if (errorType === 'InvalidOutput') expect(Number(own.body.cost_usd)).toBeGreaterThan(0);
    else expect(Number(own.body.cost_usd)).toBe(0);
    // Nothing cached: the same prompt asks again.
    await setLlm({ model: 'oa/labeller', belowConfidence, timeoutMs: 5_000 });
    stack.fakes.openai.script(LABELLER, { kind: 'ok', content: '{"taskType": "chat", "complexity": "medium"}' });
    const again = await chat(prompt);
    expect(labellerCalls()).toHaveLength(2);
    expect(again.classification.classifier).toMatchObject({ version: 'llm:oa/labeller', llm: { outcome: 'answered' } });
  },
);

it('a prompt the trained classifier is sure enough of asks nothing', async () => {
  const { prompt, confidence } = unsurePrompt();
  await setLlm({ model: 'oa/labeller', belowConfidence: Math.max(0.01, confidence - 0.05) });
  const { classification, requestId } = await chat(prompt);
  expect(labellerCalls()).toHaveLength(0);
  expect(classification.classifier?.version).toBe(currentVersion());
  expect(classification.classifier?.llm).toBeUndefined();
  expect((await record(`${requestId}.classify`)).status).toBe(404);
});

it("the tenant's restrictions apply: a model it may not use is not sent the prompt", async () => {
  const { prompt, confidence } = unsurePrompt();
  await setLlm({ model: 'oa/labeller', belowConfidence: Math.min(1, confidence + 0.05) });
  await stack.configStore.update((c) => ({
    ...c,
    tenants: { ...c.tenants, [stack.tenantId]: { excludedProviders: [], allowedModels: ['oa/cheap', 'oa/premium'] } },
  }));
  try {
    const { classification } = await chat(prompt);
    expect(labellerCalls()).toHaveLength(0);
    expect(classification.classifier?.llm).toMatchObject({ outcome: 'unavailable' });
    expect(classification.classifier?.llm?.note).toContain('tenant-allowlist');
  } finally {
    await stack.configStore.update((c) => {
      const { [stack.tenantId]: _, ...tenants } = c.tenants;
      return { ...c, tenants };
    });
  }
});

it('a model whose breaker is open is not asked; the trained result stands, noted', async () => {
  const breaker = (action: 'open' | 'close') =>
    fetch(`${stack.baseURL}/providers/oa/labeller/breaker`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action, reason: 'llm classifier test' }),
    });
  const { prompt, confidence } = unsurePrompt();
  await setLlm({ model: 'oa/labeller', belowConfidence: Math.min(1, confidence + 0.05), timeoutMs: 5_000 });
  expect((await breaker('open')).status).toBe(200);
  try {
    const { classification, requestId } = await chat(prompt);
    expect(labellerCalls()).toHaveLength(0);
    expect(classification.classifier).toMatchObject({
      version: currentVersion(),
      llm: { outcome: 'unavailable', note: expect.stringContaining('its breaker is open') },
    });
    expect((await record(`${requestId}.classify`)).status).toBe(404);
  } finally {
    expect((await breaker('close')).status).toBe(200);
  }
});

it("the tenant's budget pays for it: reserved before the call, settled at the classification's cost", async () => {
  const { prompt, confidence } = unsurePrompt();
  await setDailyBudget(stack, 10);
  await setLlm({ model: 'oa/labeller', belowConfidence: Math.min(1, confidence + 0.05), timeoutMs: 5_000 });
  stack.fakes.openai.script(LABELLER, { kind: 'ok', content: '{"taskType": "chat", "complexity": "medium"}' });
  try {
    const { requestId, classification } = await chat(prompt);
    expect(classification.classifier?.llm?.outcome).toBe('answered');
    const own = await record(`${requestId}.classify`);
    const held = await stack.db.query<{ status: string; actual_usd: string }>(
      'select status, actual_usd from budget_reservations where id like $1',
      [`${requestId}.classify:%`],
    );
    expect(held.rows).toHaveLength(1);
    expect(held.rows[0]!.status).toBe('settled');
    expect(Number(held.rows[0]!.actual_usd)).toBeCloseTo(Number(own.body.cost_usd), 10);
    expect(Number(own.body.cost_usd)).toBeGreaterThan(0);
  } finally {
    await stack.configStore.update((c) => {
      const { [stack.tenantId]: _, ...tenants } = c.tenants;
      return { ...c, tenants };
    });
  }
});

it('an unknown classifying model is a configuration error naming its field', async () => {
  const exported = await fetch(`${stack.baseURL}/admin/config`, {
    headers: { authorization: `Bearer ${stack.operatorKey}` },
  });
  const config = (await exported.json()) as Record<string, any>;
  const body = config.config ?? config;
  body.routing = { ...body.routing, classifier: { llm: { model: 'oa/nope' } } };
  const res = await fetch(`${stack.baseURL}/admin/config`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(400);
  const err = (await res.json()) as { error: { param: string; message: string } };
  expect(err.error.param).toBe('routing.classifier.llm.model');
  expect(err.error.message).toContain("unknown model 'oa/nope'");
});
