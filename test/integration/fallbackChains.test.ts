/**
 * Explicit fallback chains over HTTP with the official `openai` client (issue 29, item 5): a
 * catalog model's own chain, a request's OpenRouter-style `models` list, a rule that applies to a
 * named model, the dry run showing the chain, and unknown ids refused naming the field. Each named
 * model that fails here is refused with our own bad key (a 401: not retried, failed over).
 */
import OpenAI from 'openai';
import { fakeCatalog, fakeModel, openaiClient, useTestStack } from '../support/stack';

const stack = useTestStack(
  {
    catalog: (f) =>
      fakeCatalog(f, [
        // The strategy alone would fall back to another provider first (`an/backup`), then the
        // cheapest (`oa/cheap`): the chains below pick `oa/third` first, which it never would.
        fakeModel('oa', 'primary', { fallbacks: ['oa/third', 'an/backup'] }),
        fakeModel('an', 'backup', { inputPricePerMTok: 1, outputPricePerMTok: 4 }),
        fakeModel('oa', 'third', { inputPricePerMTok: 1, outputPricePerMTok: 4 }),
        fakeModel('oa', 'cheap', { inputPricePerMTok: 0.01, outputPricePerMTok: 0.01 }),
      ]),
    config: {
      retry: { default: { maximumAttempts: 2, initialIntervalMs: 20, timeoutMs: 5_000 } },
      rules: [
        {
          // Operators move a named model's traffic elsewhere (a deprecation, a canary).
          id: 'third-to-backup',
          appliesTo: 'named',
          when: [{ field: 'requestedModel', op: 'eq', value: 'oa/third' }],
          targets: [{ model: 'an/backup' }],
        },
      ],
    },
  },
  { timeout: 120_000, resetFakes: true },
);

let client: OpenAI;
beforeAll(() => {
  client = openaiClient(stack);
});

const messages = [{ role: 'user' as const, content: 'hello there' }];
const refuseKey = (model: string) =>
  stack.fakes.openai.setDefault(model, { kind: 'error', status: 401, message: 'Incorrect API key provided' });
/** A chat body with OpenRouter's `models`, which the SDK's types do not have (it sends it as given). */
const withModels = (model: string, models: string[]) =>
  ({ model, models, messages }) as OpenAI.ChatCompletionCreateParamsNonStreaming;

it("a named model's catalog chain [B, C]: A fails (401, not retried), B answers, C and the strategy's picks never called", async () => {
  refuseKey('primary');
  const { data, response } = await client.chat.completions.create({ model: 'oa/primary', messages }).withResponse();
  expect(data.model).toBe('oa/third');
  expect(response.headers.get('x-switchyard-model-substituted')).toBe('oa/primary');
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(1);
  expect(stack.fakes.openai.callsFor('third')).toHaveLength(1);
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
  expect(stack.fakes.openai.callsFor('cheap')).toHaveLength(0);
  const ext = (data as unknown as { switchyard: { route: { candidates: string[] } } }).switchyard;
  expect(ext.route.candidates).toEqual(['oa/primary', 'oa/third', 'an/backup']);
});

it('a request `models: [X, Y]`: X fails, Y answers, in that order; nothing else is called', async () => {
  refuseKey('cheap');
  const { data } = await client.chat.completions
    .create(withModels('oa/cheap', ['oa/cheap', 'oa/third']))
    .withResponse();
  expect(data.model).toBe('oa/third');
  expect(data.choices[0]!.message.content).toBeTruthy();
  expect(stack.fakes.openai.callsFor('cheap')).toHaveLength(1);
  expect(stack.fakes.openai.callsFor('third')).toHaveLength(1);
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(0);
});

it("the request's `models` wins over the catalog chain; both exhausted: the named model's error, no model outside them", async () => {
  refuseKey('primary');
  refuseKey('third');
  const err = await client.chat.completions.create(withModels('oa/primary', ['oa/third'])).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenAI.APIError);
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(1);
  expect(stack.fakes.openai.callsFor('third')).toHaveLength(1);
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
  expect(stack.fakes.openai.callsFor('cheap')).toHaveLength(0);
});

it('a rule with appliesTo named: a request naming oa/third goes to its target first; the answer names the rule', async () => {
  const { data, response } = await client.chat.completions.create({ model: 'oa/third', messages }).withResponse();
  expect(data.model).toBe('an/backup');
  expect(response.headers.get('x-switchyard-model-substituted')).toBe('oa/third');
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(1);
  expect(stack.fakes.openai.callsFor('third')).toHaveLength(0);
  const ext = (data as unknown as { switchyard: { route: { rule?: { id: string }; candidates: string[] } } })
    .switchyard;
  expect(ext.route.rule).toEqual({ id: 'third-to-backup' });
  const why = (data as unknown as { switchyard: { model_substituted: { reason: string } } }).switchyard;
  expect(why.model_substituted.reason).toBe(
    'requested oa/third follows rule third-to-backup (it applies to named models)',
  );
  // The named model follows its rule's target.
  expect(ext.route.candidates.slice(0, 2)).toEqual(['an/backup', 'oa/third']);
});

it('unknown ids in `models` are a 404 naming the position; `models` after auto is a 400', async () => {
  const unknown = await stack.post('/chat/completions', {
    model: 'oa/primary',
    models: ['an/backup', 'oa/nope'],
    messages,
  });
  expect(unknown.status).toBe(404);
  expect(unknown.body.error).toMatchObject({ param: 'models[1]', code: 'model_not_found' });
  expect(unknown.body.error.message).toMatch(/'oa\/nope'/);
  const auto = await stack.post('/chat/completions', { model: 'auto', models: ['an/backup'], messages });
  expect(auto.status).toBe(400);
  expect(auto.body.error).toMatchObject({ param: 'models', code: 'invalid_value' });
  expect(stack.fakes.openai.calls).toHaveLength(0);
  expect(stack.fakes.anthropic.calls).toHaveLength(0);
});

it('the dry run shows the chain, where it came from and what a filter skipped', async () => {
  const res = await stack.post('/route', { model: 'oa/primary', messages });
  expect(res.status).toBe(200);
  expect(res.body.decision.candidates.map((c: { modelId: string }) => c.modelId)).toEqual([
    'oa/primary',
    'oa/third',
    'an/backup',
  ]);
  expect(res.body.decision.chain).toEqual({ source: 'catalog', models: ['oa/third', 'an/backup'], skipped: [] });
  // The request's own chain, with a provider the request excludes: skipped, with the filter.
  const req = await stack.post(
    '/route',
    { model: 'oa/primary', models: ['an/backup', 'oa/cheap'], messages },
    { 'X-Switchyard-Exclude-Providers': 'an' },
  );
  expect(req.status).toBe(200);
  expect(req.body.decision.candidates.map((c: { modelId: string }) => c.modelId)).toEqual(['oa/primary', 'oa/cheap']);
  expect(req.body.decision.chain).toMatchObject({
    source: 'request',
    skipped: [{ modelId: 'an/backup', filter: 'excluded-provider' }],
  });
  const bad = await stack.post('/route', { model: 'oa/primary', models: ['oa/nope'], messages });
  expect(bad.status).toBe(404);
  expect(bad.body.error.param).toBe('models[0]');
});
