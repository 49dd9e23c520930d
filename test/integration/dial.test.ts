/**
 * The cost–quality dial and classifier versions over HTTP (issue 23): `switchyard.quality` in the
 * body (the OpenAI SDK's extra body) and `X-Switchyard-Quality` (which wins) reach the recorded
 * decision; a bad value is a 400 naming its field; the dry run explains the tier; policy replay
 * uses the recorded classifier version unless asked for another, and reports the cost at each
 * dial setting.
 */
import OpenAI from 'openai';
import { getRequest } from '../../src/db/requests';
import { classify, RULES_VERSION, type Classification } from '../../src/domain/classify';
import { decide } from '../../src/domain/policy';
import { tierAt } from '../../src/domain/policy/dial';
import { classifierFor, currentVersion } from '../../src/services/classifiers';
import { uniqueId } from '../support/db';
import { insertRecordedRequest, policyInput } from '../support/policy';
import { fakeCatalog, fakeModel, useTestStack } from '../support/stack';

const stack = useTestStack({
  catalog: (f) =>
    fakeCatalog(f, [
      fakeModel('oa', 'premium', { qualityTier: 5, inputPricePerMTok: 5, outputPricePerMTok: 20 }),
      fakeModel('oa', 'cheap', { qualityTier: 2, inputPricePerMTok: 0.1, outputPricePerMTok: 0.4 }),
      fakeModel('an', 'middle', { qualityTier: 4, inputPricePerMTok: 1, outputPricePerMTok: 4 }),
    ]),
  config: {
    retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } },
    // Applies only to requests whose metadata asks for it (the other tests rank by the dial alone).
    rules: [
      {
        id: 'complex-to-middle',
        when: [
          { field: 'metadata.rule_probe', op: 'eq', value: 'yes' },
          { field: 'complexity', op: 'eq', value: 'complex' },
        ],
        targets: [{ model: 'an/middle' }],
      },
    ],
  },
});

const client = () => new OpenAI({ apiKey: stack.apiKey, baseURL: stack.baseURL, maxRetries: 0 });
const ask = 'Prove that the sum of two even integers is even, step by step.';

async function recordedDecision(requestId: string) {
  const row = await getRequest(stack.db, requestId);
  return {
    decision: row!.decision as { dial?: { quality: number; source: string; tier: string; explanation: string } },
    classification: row!.classification as Classification,
  };
}

it('the OpenAI SDK sends the dial in the body (extra body `switchyard`); the header wins; both are recorded', async () => {
  const body = {
    model: 'auto',
    messages: [{ role: 'user' as const, content: ask }],
    switchyard: { quality: 0.9 },
  } as OpenAI.ChatCompletionCreateParamsNonStreaming;
  const viaBody = await client().chat.completions.create(body).withResponse();
  const fromBody = await recordedDecision(viaBody.response.headers.get('x-switchyard-request-id')!);
  expect(fromBody.decision.dial).toMatchObject({ quality: 0.9, source: 'request' });
  // The answer's own `switchyard.decision` says why, in the dial's words.
  const extension = (viaBody.data as unknown as { switchyard: { decision: string } }).switchyard;
  expect(extension.decision).toContain(fromBody.decision.dial!.explanation);
  expect(extension.decision).toContain('at quality 0.9 →');
  // The classification names the classifier that made it: the current one.
  expect(fromBody.classification.classifier?.version).toBe(currentVersion());

  const viaHeader = await client()
    .chat.completions.create(body, { headers: { 'X-Switchyard-Quality': '0.3' } })
    .withResponse();
  const fromHeader = await recordedDecision(viaHeader.response.headers.get('x-switchyard-request-id')!);
  expect(fromHeader.decision.dial).toMatchObject({ quality: 0.3, source: 'request' });

  // Neither: the default 0.5.
  const plain = await client()
    .chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: ask }] })
    .withResponse();
  const fromDefault = await recordedDecision(plain.response.headers.get('x-switchyard-request-id')!);
  expect(fromDefault.decision.dial).toMatchObject({ quality: 0.5, source: 'default' });
});

it('a rule on `complexity` sees the tier the dial chose, not the classifier label (the OpenAI SDK, answered requests)', async () => {
  const asked = (quality: string) =>
    client()
      .chat.completions.create(
        { model: 'auto', messages: [{ role: 'user', content: ask }], metadata: { rule_probe: 'yes' } },
        { headers: { 'X-Switchyard-Quality': quality } },
      )
      .withResponse();
  // The classifier's label for the prompt is complex; the dial at 1 agrees, at 0 it asks for less.
  const best = await asked('1');
  const atBest = await recordedDecision(best.response.headers.get('x-switchyard-request-id')!);
  expect(atBest.classification.complexity).toBe('complex');
  expect(atBest.decision.dial).toMatchObject({ quality: 1, tier: 'complex' });
  expect(best.data.model).toBe('an/middle');
  expect((atBest.decision as { rule?: { id: string } }).rule?.id).toBe('complex-to-middle');

  const cheapest = await asked('0');
  const atCheapest = await recordedDecision(cheapest.response.headers.get('x-switchyard-request-id')!);
  expect(atCheapest.classification.complexity).toBe('complex');
  expect(atCheapest.decision.dial!.tier).not.toBe('complex');
  expect((atCheapest.decision as { rule?: { id: string } }).rule).toBeUndefined();
});

it('quality outside [0, 1] is a 400 naming the field, on every routed endpoint', async () => {
  const err = await client()
    .chat.completions.create({
      model: 'auto',
      messages: [{ role: 'user', content: ask }],
      switchyard: { quality: 2 },
    } as OpenAI.ChatCompletionCreateParamsNonStreaming)
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.BadRequestError);
  expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('switchyard.quality');

  const header = await client()
    .chat.completions.create(
      { model: 'auto', messages: [{ role: 'user', content: ask }] },
      { headers: { 'X-Switchyard-Quality': 'high' } },
    )
    .catch((e: unknown) => e);
  expect(header).toBeInstanceOf(OpenAI.BadRequestError);
  expect((header as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('X-Switchyard-Quality');

  const bad = { switchyard: { quality: 2 } };
  for (const [path, body] of [
    ['/responses', { model: 'auto', input: ask, ...bad }],
    ['/messages', { model: 'auto', max_tokens: 100, messages: [{ role: 'user', content: ask }], ...bad }],
    ['/operations/sentiment', { text: 'I loved it', ...bad }],
    ['/route', { model: 'auto', messages: [{ role: 'user', content: ask }], ...bad }],
  ] as const) {
    const res = await stack.post(path, body);
    expect([path, res.status, res.body.error?.param]).toEqual([path, 400, 'switchyard.quality']);
  }
  const unknown = await stack.post('/route', {
    model: 'auto',
    messages: [{ role: 'user', content: ask }],
    switchyard: { qualty: 0.5 },
  });
  expect(unknown.status).toBe(400);
});

it('responses and messages carry the dial to the decision too', async () => {
  for (const [path, body] of [
    ['/responses', { model: 'auto', input: ask, switchyard: { quality: 0.8 } }],
    [
      '/messages',
      { model: 'auto', max_tokens: 100, messages: [{ role: 'user', content: ask }], switchyard: { quality: 0.8 } },
    ],
  ] as const) {
    const res = await stack.post(path, body);
    expect([path, res.status]).toEqual([path, 200]);
    const { decision } = await recordedDecision(res.headers.get('x-switchyard-request-id')!);
    expect(decision.dial).toMatchObject({ quality: 0.8, source: 'request' });
  }
});

it('an operation carries the dial in its body too', async () => {
  const sentiment = '{"label": "positive", "scores": {"positive": 0.9, "negative": 0.05, "neutral": 0.05}}';
  for (const m of ['premium', 'cheap']) stack.fakes.openai.setDefault(m, { kind: 'ok', content: sentiment });
  stack.fakes.anthropic.setDefault('middle', { kind: 'ok', content: sentiment });
  const res = await stack.post('/operations/sentiment', { text: 'I loved it', switchyard: { quality: 0.15 } });
  expect(res.status).toBe(200);
  const { decision, classification } = await recordedDecision(res.body.id);
  expect(decision.dial).toMatchObject({ quality: 0.15, source: 'request' });
  expect(classification.taskType).toBe('analysis'); // declared by the operation, whatever classifies it
});

it('the dry run explains the tier the dial chose, and can classify with another version', async () => {
  const res = await stack.post(
    '/route',
    { model: 'auto', messages: [{ role: 'user', content: ask }] },
    { 'X-Switchyard-Quality': '0.7' },
  );
  expect(res.status).toBe(200);
  const { classification, decision } = res.body;
  expect(classification.classifier.version).toBe(currentVersion());
  const expected = tierAt(classification.classifier.complexityProbs, 0.7);
  expect(decision.dial).toMatchObject({ quality: 0.7, tier: expected.tier });
  expect(decision.dial.explanation).toContain(expected.explanation);
  expect(decision.summary).toContain(`at quality 0.7 →`);

  const rules = await stack.post(
    '/route',
    { model: 'auto', messages: [{ role: 'user', content: ask }] },
    { 'X-Switchyard-Classifier-Version': 'rules-1' },
  );
  expect(rules.body.classification.classifier.version).toBe(RULES_VERSION);
  expect(rules.body.decision.dial.explanation).toMatch(/rules-1 is one-hot, the dial does not move it/);

  const unknown = await stack.post(
    '/route',
    { model: 'auto', messages: [{ role: 'user', content: ask }] },
    { 'X-Switchyard-Classifier-Version': 'clf-2000-01-01-deadbeef' },
  );
  expect([unknown.status, unknown.body.error.param]).toEqual([400, 'X-Switchyard-Classifier-Version']);
});

it('policy replay uses each record’s classifier version unless asked otherwise, and costs each dial setting', async () => {
  const tenant = uniqueId('dial-replay');
  await stack.db.query('insert into tenants (id, name) values ($1, $1)', [tenant]);
  const { version, config } = await stack.configStore.refresh();
  const recordedVersion = currentVersion();
  const prompts = [ask, 'hi', 'Summarise this paragraph in one line: the cat sat on the mat.', 'Design a compiler.'];
  for (const [i, text] of prompts.entries()) {
    const body = { model: 'auto', messages: [{ role: 'user', content: text }] };
    const classification = classify({ operation: 'chat', messages: body.messages as never }, classifierFor());
    const input = policyInput({ tenantId: tenant }, { requestId: `${tenant}-${i}`, now: '2026-12-07T00:00:00Z' });
    const decision = decide(input, classification, config);
    await insertRecordedRequest(stack.db, { input, classification, decision, configVersion: version, body });
  }
  // A record from before versions were kept: no `classifier` in its classification.
  const { classifier: _, ...old } = classify({ operation: 'chat', messages: [{ role: 'user', content: 'hello' }] });
  const oldInput = policyInput({ tenantId: tenant }, { requestId: `${tenant}-old`, now: '2026-12-07T00:00:00Z' });
  await insertRecordedRequest(stack.db, {
    input: oldInput,
    classification: old,
    decision: decide(oldInput, old, config),
    configVersion: version,
    body: { model: 'auto', messages: [{ role: 'user', content: 'hello' }] },
  });

  const replayAs = (extra: Record<string, unknown>) =>
    fetch(`${stack.baseURL}/policy/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.operatorKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenantId: tenant, ...extra }),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

  const recorded = await replayAs({});
  expect(recorded.status).toBe(200);
  expect(recorded.body).toMatchObject({ evaluated: 5, changed: 0, classifier_version: 'recorded' });
  // Each record with the version it was decided with; the old one as rules-1.
  const expectedVersions =
    recordedVersion === RULES_VERSION ? { [RULES_VERSION]: 5 } : { [recordedVersion]: 4, [RULES_VERSION]: 1 };
  expect(recorded.body.classifierVersions).toEqual(expectedVersions);
  expect(recorded.body.dial.map((s: { quality: number }) => s.quality)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  const costs: number[] = recorded.body.dial.map((s: { costUsd: number }) => s.costUsd);
  for (let i = 1; i < costs.length; i++) expect(costs[i]).toBeGreaterThanOrEqual(costs[i - 1]!);

  // Asked for the keyword rules: every record classified again with them.
  const rules = await replayAs({ classifierVersion: 'rules-1' });
  expect(rules.body.classifierVersions).toEqual({ [RULES_VERSION]: 5 });
  // The rules' probabilities are one-hot: the dial moves nothing.
  expect(new Set(rules.body.dial.map((s: { costUsd: number }) => s.costUsd)).size).toBe(1);

  const unknown = await replayAs({ classifierVersion: 'clf-2000-01-01-deadbeef' });
  expect([unknown.status, unknown.body.error.param]).toEqual([400, 'classifierVersion']);
  expect(unknown.body.error.message).toMatch(/unknown classifier version 'clf-2000-01-01-deadbeef'/);
  expect(unknown.body.error.message).not.toContain('/'); // no server path
});
