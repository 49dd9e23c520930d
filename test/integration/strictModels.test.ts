/**
 * Strict named models over HTTP with the official client: a request naming a model may say "no
 * substitution" (`X-Switchyard-Substitution: none`, `metadata.substitution`, or its tenant's
 * default); that model's failure (here our own bad key for it, a 401) is then an error naming it,
 * and the other model is never called. Without it, the request is substituted as before.
 */
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { anthropicClient, fakeCatalog, fakeModel, openaiClient, useTestStack } from '../support/stack';

const stack = useTestStack(
  {
    catalog: (f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'primary'),
        fakeModel('an', 'backup', { inputPricePerMTok: 1, outputPricePerMTok: 4 }),
      ]),
    config: { retry: { default: { maximumAttempts: 1, timeoutMs: 5_000 } } },
    // On, so a substituted answer kept in the cache is seen not to answer a strict request.
    cache: { chat: 60 },
  },
  { timeout: 120_000, resetFakes: true },
);

let client: OpenAI;
beforeAll(() => {
  client = openaiClient(stack);
});
beforeEach(() => {
  // The operator's own mistake: the provider refuses our key for the named model.
  stack.fakes.openai.setDefault('primary', {
    kind: 'error',
    status: 401,
    message: 'Incorrect API key provided',
  });
});

const messages = [{ role: 'user' as const, content: 'hello there' }];

/** The error the client raised (an `APIError`), or a failure if the call succeeded. */
async function refused(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  throw new Error('the request succeeded; an error was expected');
}

async function setTenantPolicy(policy: Record<string, unknown>) {
  const res = await fetch(`${stack.baseURL}/admin/tenants/${stack.tenantId}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(policy),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { policy: Record<string, unknown> };
}

it('by default a failing named model is substituted, as before, and the answer says so', async () => {
  const { data, response } = await client.chat.completions.create({ model: 'oa/primary', messages }).withResponse();
  expect(response.headers.get('x-switchyard-model')).toBe('an/backup');
  expect(response.headers.get('x-switchyard-model-substituted')).toBe('oa/primary');
  expect(data.model).toBe('an/backup');
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(1);
});

it('X-Switchyard-Substitution: none: the named model fails, the error names it and its reason, the other model is never called', async () => {
  const err = await refused(
    client.chat.completions.create(
      { model: 'oa/primary', messages },
      { headers: { 'X-Switchyard-Substitution': 'none' } },
    ),
  );
  // A refused key is the operator's fault, not the client's: 503, not retried by the SDKs.
  expect(err.status).toBe(503);
  expect(err.code).toBe('model_unavailable');
  expect(err.type).toBe('model_unavailable');
  expect(err.param).toBe('model');
  expect(err.message).toMatch(/^503 The model oa\/primary failed: AuthFailed \(oa\/primary 401: Incorrect API key/);
  expect(err.message).toContain('No other model answered: the request asked for no substitution');
  expect(err.headers?.get('x-should-retry')).toBe('false');
  const body = err.error as {
    model: string;
    request_id: string;
    candidates: Array<{ modelId: string; errorType: string; action: string }>;
  };
  expect(body.model).toBe('oa/primary');
  expect(body.candidates).toEqual([
    expect.objectContaining({
      modelId: 'oa/primary',
      errorType: 'AuthFailed',
      action: expect.stringMatching(/^stop: substitution none/),
    }),
  ]);
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(1);
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);

  // The request's record: failed, and its decision says no substitution (only the named model).
  const rec = await fetch(`${stack.baseURL}/requests/${body.request_id}`, {
    headers: { authorization: `Bearer ${stack.apiKey}` },
  });
  const record = (await rec.json()) as {
    status: string;
    decision: { candidates: Array<{ modelId: string }>; substitution: unknown; notes: string[] };
  };
  expect(record.status).toBe('failed');
  expect(record.decision.substitution).toEqual({ mode: 'none', source: 'request', modelId: 'oa/primary' });
  expect(record.decision.candidates.map((c) => c.modelId)).toEqual(['oa/primary']);
  expect(record.decision.notes).toContain('substitution none (the request): only oa/primary may answer');
});

it('a streamed strict request fails the same way, before any chunk', async () => {
  const err = await refused(
    client.chat.completions.create(
      { model: 'oa/primary', messages, stream: true },
      { headers: { 'X-Switchyard-Substitution': 'none' } },
    ),
  );
  expect(err.status).toBe(503);
  expect(err.code).toBe('model_unavailable');
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
});

it("metadata.substitution: 'none' does the same for clients that cannot set headers", async () => {
  const err = await refused(
    client.chat.completions.create({ model: 'oa/primary', messages, metadata: { substitution: 'none' } }),
  );
  expect(err.status).toBe(503);
  expect(err.code).toBe('model_unavailable');
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
});

it('a strict request whose model answers is answered by it, and its route says no substitution', async () => {
  stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'from primary' });
  const { data, response } = await client.chat.completions
    .create({ model: 'oa/primary', messages }, { headers: { 'X-Switchyard-Substitution': 'none' } })
    .withResponse();
  expect(data.choices[0]!.message.content).toBe('from primary');
  expect(response.headers.get('x-switchyard-model')).toBe('oa/primary');
  const ext = (data as unknown as { switchyard: { route: { substitution?: string; candidates: string[] } } })
    .switchyard;
  expect(ext.route).toMatchObject({ substitution: 'none', candidates: ['oa/primary'] });
});

it('a strict request whose model a filter removes is the 4xx of that filter, naming the model', async () => {
  const err = await refused(
    client.chat.completions.create(
      { model: 'oa/primary', messages },
      { headers: { 'X-Switchyard-Substitution': 'none', 'X-Switchyard-Exclude-Providers': 'oa' } },
    ),
  );
  expect(err.status).toBe(400);
  expect(err.code).toBe('model_unavailable');
  expect(err.message).toMatch(
    /^400 The model oa\/primary was removed by the excluded-provider filter \(provider oa is excluded\)/,
  );
  expect(stack.fakes.openai.callsFor('primary')).toHaveLength(0);
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
});

it('the Responses API, Anthropic Messages and operations honour it too', async () => {
  const strict = { headers: { 'X-Switchyard-Substitution': 'none' } };
  // (Not 'hello there': a strict chat answer of oa/primary itself is in the cache, and may answer it.)
  const viaResponses = await refused(client.responses.create({ model: 'oa/primary', input: 'hi, responses' }, strict));
  expect(viaResponses.status).toBe(503);
  expect(viaResponses.code).toBe('model_unavailable');

  let viaMessages: unknown;
  await anthropicClient(stack)
    .messages.create({ model: 'oa/primary', max_tokens: 50, messages }, strict)
    .catch((e: unknown) => (viaMessages = e));
  expect(viaMessages).toBeInstanceOf(Anthropic.APIError);
  expect((viaMessages as InstanceType<typeof Anthropic.APIError>).status).toBe(503);
  expect(String((viaMessages as Error).message)).toContain('The model oa/primary failed: AuthFailed');

  const viaOperation = await stack.post(
    '/operations/sentiment',
    { model: 'oa/primary', text: 'The delivery was late.' },
    strict.headers,
  );
  expect(viaOperation.status).toBe(503);
  expect(viaOperation.body.error).toMatchObject({ code: 'model_unavailable', model: 'oa/primary' });
  expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);
});

it('auto requests are unaffected by the header', async () => {
  const { response } = await client.chat.completions
    .create({ model: 'auto', messages }, { headers: { 'X-Switchyard-Substitution': 'none' } })
    .withResponse();
  expect(response.status).toBe(200);
  expect(response.headers.get('x-switchyard-model')).toBe('an/backup');
});

it('a bad value is a 400 naming the header (or the metadata key)', async () => {
  const err = await refused(
    client.chat.completions.create(
      { model: 'oa/primary', messages },
      { headers: { 'X-Switchyard-Substitution': 'never' } },
    ),
  );
  expect(err.status).toBe(400);
  expect(err.param).toBe('X-Switchyard-Substitution');
  expect(err.code).toBe('invalid_value');
  expect(err.message).toContain("expected 'none' or 'allowed'");
  const fromMetadata = await refused(
    client.chat.completions.create({ model: 'oa/primary', messages, metadata: { substitution: 'nope' } }),
  );
  expect(fromMetadata.status).toBe(400);
  expect(fromMetadata.param).toBe('metadata.substitution');
  expect(stack.fakes.openai.calls).toHaveLength(0);
  expect(stack.fakes.anthropic.calls).toHaveLength(0);
});

it("a tenant's default of no substitution applies to its named requests; a request may still allow it", async () => {
  // Before: the substituted answer is kept in the cache and answers the same request again.
  await client.chat.completions.create({ model: 'oa/primary', messages });
  const cached = await client.chat.completions.create({ model: 'oa/primary', messages }).withResponse();
  expect(cached.response.headers.get('x-switchyard-cache')).toBe('hit');
  expect(cached.response.headers.get('x-switchyard-model')).toBe('an/backup');
  stack.fakes.anthropic.reset();

  const set = await setTenantPolicy({ substitution: 'none' });
  expect(set.policy.substitution).toBe('none');
  try {
    // The same request, now strict: the cached answer of another model does not answer it.
    const err = await refused(client.chat.completions.create({ model: 'oa/primary', messages }));
    expect(err.headers?.get('x-switchyard-cache')).toBe('miss');
    expect(err.status).toBe(503);
    expect(err.code).toBe('model_unavailable');
    expect(err.message).toContain("No other model answered: the tenant's default is no substitution.");
    const rec = await fetch(`${stack.baseURL}/requests/${(err.error as { request_id: string }).request_id}`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
    });
    expect(((await rec.json()) as { decision: { substitution: unknown } }).decision.substitution).toEqual({
      mode: 'none',
      source: 'tenant',
      modelId: 'oa/primary',
    });
    expect(stack.fakes.anthropic.callsFor('backup')).toHaveLength(0);

    // The request's own choice wins over the tenant's default.
    const { response } = await client.chat.completions
      .create({ model: 'oa/primary', messages }, { headers: { 'X-Switchyard-Substitution': 'allowed' } })
      .withResponse();
    expect(response.headers.get('x-switchyard-model-substituted')).toBe('oa/primary');
  } finally {
    await setTenantPolicy({});
  }
});
