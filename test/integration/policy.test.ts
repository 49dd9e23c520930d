/**
 * The routing policy through the API: the decision read three ways (API response, Postgres row,
 * workflow history), the dry run, the admin API (models, rules, overrides, configuration), and
 * replay against recorded requests.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { getRequest } from '../../src/db/requests';
import { CatalogSchema } from '../../src/domain/catalog';
import { classify } from '../../src/domain/classify';
import { decide } from '../../src/domain/policy';
import { replay } from '../../src/domain/replay';
import { SA_ROUTE } from '../../src/temporal/searchAttributes';
import { uniqueId } from '../support/db';
import { insertRecordedRequest, policyInput } from '../support/policy';
import { fakeCatalogProviders, useTestStack } from '../support/stack';

const stack = useTestStack({
  catalog: (f) =>
    CatalogSchema.parse({
      providers: fakeCatalogProviders(f),
      models: [
        {
          id: 'oa/gpt',
          provider: 'oa',
          model: 'gpt',
          inputPricePerMTok: 2.5,
          outputPricePerMTok: 10,
          contextWindow: 128_000,
          maxOutputTokens: 4_000,
          capabilities: ['chat', 'json'],
          qualityTier: 5,
          regions: ['US', 'EU'],
          compliance: ['gdpr'],
        },
        {
          id: 'oa/mini',
          provider: 'oa',
          model: 'mini',
          inputPricePerMTok: 0.15,
          outputPricePerMTok: 0.6,
          contextWindow: 128_000,
          maxOutputTokens: 4_000,
          capabilities: ['chat', 'json'],
          qualityTier: 3,
          regions: ['US'],
        },
        {
          id: 'an/claude',
          provider: 'an',
          model: 'claude',
          inputPricePerMTok: 3,
          outputPricePerMTok: 15,
          contextWindow: 200_000,
          maxOutputTokens: 4_000,
          capabilities: ['chat'],
          qualityTier: 5,
          regions: ['US', 'EU'],
          compliance: ['gdpr', 'hipaa'],
        },
      ],
    }),
  config: {
    rules: [
      {
        id: 'mathematics',
        when: [{ field: 'subject', op: 'eq', value: 'mathematics' }],
        targets: [{ model: 'an/claude' }, { model: 'oa/gpt' }],
      },
    ],
    retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } },
  },
});

const admin = (method: string, path: string, body?: unknown, key = stack.operatorKey) =>
  fetch(`${stack.baseURL}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

it('the decision reads the same three ways: API response, Postgres row, workflow history', async () => {
  const res = await stack.post(
    '/chat/completions',
    { model: 'auto', messages: [{ role: 'user', content: 'What is 12 * 7?' }] },
    { 'X-Switchyard-Subject': 'mathematics' },
  );
  expect(res.status).toBe(200);
  const api = res.body.switchyard.route;
  expect(api).toMatchObject({ candidates: ['an/claude', 'oa/gpt', 'oa/mini'], rule: { id: 'mathematics' } });
  expect(res.headers.get('x-switchyard-model')).toBe('an/claude');

  const row = await getRequest(stack.db, res.body.switchyard.request_id);
  const stored = row!.decision as {
    candidates: Array<{ modelId: string }>;
    rule: { id: string };
    configVersion: number;
  };
  expect(stored.candidates.map((c) => c.modelId)).toEqual(api.candidates);
  expect(stored.rule.id).toBe('mathematics');
  expect(row!.config_version).toBe(api.configVersion);
  expect(row!.decision_input).toMatchObject({ context: { subject: 'mathematics' } });

  // In the history, the decision is the result of the decideRoute local activity (a marker event).
  const history = await stack.env.client.workflow.getHandle(res.body.switchyard.workflow_id).fetchHistory();
  const markers = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes);
  const decisions = markers
    // A local activity's marker keeps its result under `result` (`data` holds the call's metadata).
    .map((e) => e.markerRecordedEventAttributes!.details?.result?.payloads?.[0])
    .filter((p) => p !== undefined)
    .map((p) =>
      defaultPayloadConverter.fromPayload<{ candidates?: Array<{ modelId: string }>; rule?: { id: string } }>(p!),
    )
    .filter((x) => x && Array.isArray(x.candidates));
  expect(decisions).toHaveLength(1);
  expect(decisions[0]!.candidates!.map((c) => c.modelId)).toEqual(api.candidates);
  expect(decisions[0]!.rule!.id).toBe('mathematics');
  const sa = (await stack.env.client.workflow.getHandle(res.body.switchyard.workflow_id).describe())
    .typedSearchAttributes;
  expect(sa.get(SA_ROUTE)).toBe('rule:mathematics');
});

it('answers a dry run without calling any model', async () => {
  stack.fakes.openai.reset();
  stack.fakes.anthropic.reset();
  const res = await stack.post(
    '/route',
    { model: 'auto', messages: [{ role: 'user', content: 'hello' }], metadata: { region: 'eu' } },
    { 'X-Switchyard-Compliance': 'hipaa' },
  );
  expect(res.status).toBe(200);
  expect(res.body.decision.candidates.map((c: { modelId: string }) => c.modelId)).toEqual(['an/claude']);
  expect(res.body.decision.rejected).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ modelId: 'oa/mini', filter: 'residency' }),
      expect.objectContaining({ modelId: 'oa/gpt', filter: 'compliance' }),
    ]),
  );
  expect(stack.fakes.openai.calls.length + stack.fakes.anthropic.calls.length).toBe(0);
});

it('rejects a bad routing header with its name', async () => {
  const res = await stack.post(
    '/route',
    { model: 'auto', messages: [{ role: 'user', content: 'x' }] },
    { 'X-Switchyard-Region': 'MARS' },
  );
  expect(res.status).toBe(400);
  expect(res.body.error.param).toBe('X-Switchyard-Region');
});

it('a request that no model can serve is a 503 naming each filter', async () => {
  const res = await stack.post(
    '/chat/completions',
    { model: 'auto', messages: [{ role: 'user', content: 'x' }] },
    { 'X-Switchyard-Region': 'APAC' },
  );
  expect(res.status).toBe(503);
  expect(res.body.error.code).toBe('NoCandidate');
  expect(res.body.error.message).toMatch(/oa\/gpt: serves US\/EU, request requires APAC/);
});

it('manages models, rules and overrides through the admin API, effective on the next request', async () => {
  expect((await admin('GET', '/admin/models', undefined, stack.apiKey)).status).toBe(403);

  const reg = await admin('POST', '/admin/models', {
    provider: 'oa',
    model: 'nano',
    inputPricePerMTok: 0.05,
    outputPricePerMTok: 0.2,
    contextWindow: 32_000,
    maxOutputTokens: 2_000,
    capabilities: ['chat'],
    qualityTier: 2,
  });
  expect(reg.status).toBe(201);
  expect(reg.body).toMatchObject({ id: 'oa/nano', regions: ['US'] });
  const cheapest = async () =>
    (
      await stack.post(
        '/route',
        { model: 'auto', messages: [{ role: 'user', content: 'hi' }] },
        { 'X-Switchyard-Strategy': 'cost' },
      )
    ).body.decision.candidates[0].modelId;
  expect(await cheapest()).toBe('oa/nano');
  expect((await admin('PATCH', '/admin/models/oa/nano', { status: 'inactive' })).body.status).toBe('inactive');
  expect(await cheapest()).toBe('oa/mini');
  const bad = await admin('PATCH', '/admin/models/oa/nano', { qualityTier: 9 });
  expect(bad.status).toBe(400);
  expect(bad.body.error.param).toBe('qualityTier');

  const rule = await admin('POST', '/admin/rules', {
    id: 'support-agents',
    when: [{ field: 'agentType', op: 'eq', value: 'support' }],
    targets: [{ model: 'oa/mini' }],
  });
  expect(rule.status).toBe(201);
  const routed = await stack.post(
    '/route',
    { model: 'auto', messages: [{ role: 'user', content: 'hi' }] },
    { 'X-Switchyard-Agent-Type': 'support' },
  );
  expect(routed.body.decision.rule.id).toBe('support-agents');
  expect(
    (await admin('POST', '/admin/rules', { id: 'bad', targets: [{ model: 'oa/none' }] })).body.error.message,
  ).toMatch(/unknown model 'oa\/none'/);

  const ovr = await admin('POST', '/admin/overrides', {
    id: 'teacher-1',
    scope: 'user',
    subject: 'teacher-1',
    tenantId: stack.tenantId,
    model: 'oa/gpt',
    reason: 'teacher preference',
  });
  expect(ovr.status).toBe(201);
  const overridden = await stack.post(
    '/route',
    { model: 'auto', user: 'teacher-1', messages: [{ role: 'user', content: 'hi' }] },
    { 'X-Switchyard-Subject': 'mathematics' },
  );
  expect(overridden.body.decision.candidates[0]).toMatchObject({ modelId: 'oa/gpt', step: 'override' });
  expect((await admin('DELETE', '/admin/overrides/teacher-1')).status).toBe(200);
  expect((await admin('DELETE', '/admin/rules/support-agents')).status).toBe(200);
  expect((await admin('GET', '/admin/rules/support-agents')).status).toBe(404);
});

it('exports and imports the whole configuration, each change a new version', async () => {
  const exported = await admin('GET', '/admin/config');
  expect(exported.body.config.rules.map((r: { id: string }) => r.id)).toContain('mathematics');
  const imported = await admin('PUT', '/admin/config', {
    ...exported.body.config,
    routing: { defaultStrategy: 'latency' },
  });
  expect(imported.status).toBe(200);
  expect(imported.body.config_version).toBeGreaterThan(exported.body.config_version);
  expect((await admin('GET', '/admin/config')).body.config.routing.defaultStrategy).toBe('latency');
  const invalid = await admin('PUT', '/admin/config', { ...exported.body.config, rules: [{ id: 'x', targets: [] }] });
  expect(invalid.status).toBe(400);
  expect(invalid.body.error.param).toBe('rules.0.targets');
  // Back to the exported configuration.
  expect((await admin('PUT', '/admin/config', exported.body.config)).status).toBe(200);
});

it('replays a proposed configuration over recorded requests, and its counts match decide run directly', async () => {
  // 1,000 recorded requests, written as the recorder writes them.
  const tenant = uniqueId('replay');
  await stack.db.query('insert into tenants (id, name) values ($1, $1)', [tenant]);
  const { version, config } = await stack.configStore.refresh();
  const subjects = ['mathematics', 'history', 'language arts', undefined];
  const records = [];
  for (let i = 0; i < 1000; i++) {
    const text = `Question ${i}: ${i % 3 ? 'explain photosynthesis' : 'solve 3x + 4 = 19'}`;
    const classification = classify({ operation: 'chat', messages: [{ role: 'user', content: text }] });
    const input = policyInput(
      {
        tenantId: tenant,
        ...(subjects[i % 4] && { subject: subjects[i % 4] }),
        ...(i % 10 === 0 && { region: 'EU' as const }),
      },
      { requestId: `${tenant}-${i}` },
    );
    const decision = decide(input, classification, config);
    records.push({ requestId: input.requestId, input, classification, decision, configVersion: version });
    await insertRecordedRequest(stack.db, { input, classification, decision, configVersion: version });
  }
  // Proposal: mathematics goes to oa/gpt first, and oa/gpt leaves the EU.
  const proposedChanges = {
    rules: [
      {
        id: 'mathematics',
        when: [{ field: 'subject', op: 'eq', value: 'mathematics' }],
        targets: [{ model: 'oa/gpt' }, { model: 'an/claude' }],
      },
    ],
    catalog: {
      ...config.catalog,
      models: config.catalog.models.map((m) => (m.id === 'oa/gpt' ? { ...m, regions: ['US'] } : m)),
    },
  };
  const res = await admin('POST', '/policy/replay', { changes: proposedChanges, limit: 1000, tenantId: tenant });
  expect(res.status).toBe(200);
  expect(res.body.evaluated).toBe(1000);
  const direct = replay(
    records,
    (await import('../../src/services/configStore')).validateConfig({ ...config, ...proposedChanges }),
    () => config.catalog,
  );
  expect(res.body).toMatchObject({
    changed: direct.changed,
    unchanged: direct.unchanged,
    residencyChanges: direct.residencyChanges,
    unroutable: direct.unroutable,
  });
  expect(res.body.costDeltaUsd).toBeCloseTo(direct.costDeltaUsd, 8);
  // Mathematics requests (every fourth) moved from an/claude to oa/gpt.
  expect(res.body.changed).toBeGreaterThanOrEqual(250);
  expect(res.body.examples[0]).toMatchObject({ before: 'an/claude', after: 'oa/gpt' });
  expect((await admin('POST', '/policy/replay', { limit: 5 }, stack.apiKey)).status).toBe(403);

  // One request (the console's replay button): a mathematics one moves, a history one does not.
  const one = (i: number) =>
    admin('POST', '/policy/replay', { changes: proposedChanges, requestId: `${tenant}-${i}`, tenantId: tenant });
  const moved = await one(4);
  expect(moved.body).toMatchObject({ evaluated: 1, changed: 1 });
  expect(moved.body.examples).toEqual([expect.objectContaining({ requestId: `${tenant}-4`, after: 'oa/gpt' })]);
  expect((await one(1)).body).toMatchObject({ evaluated: 1, changed: 0, examples: [] });
  const missing = await admin('POST', '/policy/replay', { requestId: `${tenant}-none` });
  expect(missing.body).toMatchObject({ evaluated: 0 });
});
