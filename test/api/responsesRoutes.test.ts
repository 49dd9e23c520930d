/**
 * The Responses API's routes over real HTTP, for what the clients' tests do not look at (those
 * are test/integration/responses*.test.ts):
 *  - bad input is a 400 naming the field (`param`) and why (`code`), before anything is stored or paid;
 *  - another tenant's response is not found on every route, and is no link of a chain or a reference;
 *  - a create and a GET stream hold a concurrency slot: plain polls and input items do not;
 *  - a tenant's background responses in flight are capped (429 `too_many_background_responses`);
 *  - a background stream that fails after its opening ends with `response.failed` (status 200),
 *    while a sync stream's failure before the first token is a plain HTTP error;
 *  - a Response's `created_at` is its request's arrival, on create as on GET;
 *  - a background create retried with its Idempotency-Key answers the response as it stands;
 *  - a finished response streamed again from its row, numbered as ever and cut at `starting_after`;
 *  - cancel (background only, idempotent) and delete (the request stays on record); a cancelled
 *    background stream ends with its cancelled Response; a cancelled request waited on again is 409.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { CatalogSchema } from '../../src/domain/catalog';
import { uniqueId } from '../support/db';
import { fakeCatalogProviders, fakeModel, useTestStack } from '../support/stack';

const stack = useTestStack(
  {
    catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
    config: {
      retry: {
        default: { maximumAttempts: 1, initialIntervalMs: 10, backoffCoefficient: 1, timeoutMs: 20_000 },
      },
    },
  },
  { timeout: 120_000, resetFakes: true },
);

const MODEL = 'oa/primary';

async function call(method: string, path: string, body?: unknown, key = stack.apiKey) {
  const res = await fetch(`${stack.baseURL}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // an event stream
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** Server-sent events as `{event, data}`. */
const eventsOf = (text: string) =>
  text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!);
      return { event, data };
    });

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  for (const end = Date.now() + ms; ;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const finished = (id: string) =>
  until(`${id} to finish`, async () => {
    const r = await call('GET', `/responses/${id}`);
    return ['queued', 'in_progress'].includes(r.body.status) ? undefined : r.body;
  });

const setLimits = (limits: object) =>
  call('PUT', `/admin/tenants/${stack.tenantId}`, { limits }, stack.operatorKey).then((r) => r.status);

describe('400s name the field at fault', () => {
  it.each([
    ['a hosted tool', { tools: [{ type: 'web_search' }] }, 'tools[0].type', 'unsupported_tool'],
    [
      'a file part',
      { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] },
      'input[0].content[0].type',
      'unsupported_content',
    ],
    ['an unknown key', { frequency: 1 }, 'frequency', 'unknown_parameter'],
    ['conversation', { conversation: 'c1' }, 'conversation', 'unsupported_parameter'],
    ['background without storage', { background: true, store: false }, 'background', 'invalid_value'],
    [
      'a schema that does not compile',
      { text: { format: { type: 'json_schema', name: 'x', schema: { type: 'nonsense' } } } },
      'text.format.schema',
      'invalid_json_schema',
    ],
    [
      'an unknown previous response',
      { previous_response_id: 'resp_nope' },
      'previous_response_id',
      'previous_response_not_found',
    ],
    [
      'an item reference we never made',
      {
        input: [
          { role: 'user', content: 'hi' },
          { type: 'item_reference', id: 'not-ours' },
        ],
      },
      'input[1].id',
      'item_not_found',
    ],
    [
      'a reference to no stored response',
      { input: [{ type: 'item_reference', id: 'msg_00000000-0000-0000-0000-000000000000' }] },
      'input[0].id',
      'item_not_found',
    ],
  ])('%s', async (_, extra, param, code) => {
    const r = await call('POST', '/responses', { model: MODEL, input: 'hi', ...extra });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param, code });
    expect(r.headers.get('x-should-retry')).toBe('false');
    // Refused before any provider was called.
    expect(stack.fakes.openai.callsFor('primary')).toHaveLength(0);
  });

  it('an unknown model is 404 model_not_found; a bad input_items cursor is 400 at `after`', async () => {
    const r = await call('POST', '/responses', { model: 'oa/none', input: 'hi' });
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ param: 'model', code: 'model_not_found' });
    const made = await call('POST', '/responses', { model: MODEL, input: 'hi' });
    expect(made.status).toBe(200);
    const page = await call('GET', `/responses/${made.body.id}/input_items?after=msg_nope`);
    expect(page.status).toBe(400);
    expect(page.body.error).toMatchObject({ param: 'after', code: 'item_not_found' });
    const limit = await call('GET', `/responses/${made.body.id}/input_items?limit=101`);
    expect(limit.status).toBe(400);
    expect(limit.body.error).toMatchObject({ param: 'limit' });
    const cancel = await call('POST', `/responses/${made.body.id}/cancel`);
    expect(cancel.status).toBe(400);
    expect(cancel.body.error).toMatchObject({ code: 'not_cancellable' });
  });
});

describe("another tenant's response", () => {
  let otherKey: string;
  let theirs: { id: string; output: Array<{ id: string }> };

  beforeAll(async () => {
    const tenant = uniqueId('other').toLowerCase();
    expect((await call('POST', '/tenants', { id: tenant }, stack.operatorKey)).status).toBe(201);
    otherKey = (await call('POST', '/keys', { name: 'other', tenant_id: tenant }, stack.operatorKey)).body.key;
    stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'their answer' });
    const made = await call('POST', '/responses', { model: MODEL, input: 'theirs' }, otherKey);
    expect(made.status).toBe(200);
    theirs = made.body;
  });

  it('is not found on every route, and the owner still sees it', async () => {
    for (const [method, path] of [
      ['GET', `/responses/${theirs.id}`],
      ['GET', `/responses/${theirs.id}?stream=true`],
      ['GET', `/responses/${theirs.id}/input_items`],
      ['POST', `/responses/${theirs.id}/cancel`],
      ['DELETE', `/responses/${theirs.id}`],
    ] as const) {
      const r = await call(method, path);
      expect([method, path, r.status]).toEqual([method, path, 404]);
      expect(r.body.error).toMatchObject({ param: 'id', code: 'response_not_found' });
    }
    expect((await call('GET', `/responses/${theirs.id}`, undefined, otherKey)).body).toMatchObject({
      id: theirs.id,
      status: 'completed',
    });
  });

  it('is no previous response and no item to reference', async () => {
    const chained = await call('POST', '/responses', { model: MODEL, input: 'more', previous_response_id: theirs.id });
    expect(chained.status).toBe(400);
    expect(chained.body.error).toMatchObject({ param: 'previous_response_id', code: 'previous_response_not_found' });
    const referenced = await call('POST', '/responses', {
      model: MODEL,
      input: [{ type: 'item_reference', id: theirs.output[0]!.id }],
    });
    expect(referenced.status).toBe(400);
    expect(referenced.body.error).toMatchObject({ param: 'input[0].id', code: 'item_not_found' });
    // Their own chain works.
    expect(
      (await call('POST', '/responses', { model: MODEL, input: 'more', previous_response_id: theirs.id }, otherKey))
        .status,
    ).toBe(200);
  });
});

describe('admission', () => {
  afterEach(async () => expect(await setLimits({})).toBe(200));

  it('a create and a GET stream hold a slot: plain polls and input items do not', async () => {
    expect(await setLimits({ maxConcurrent: 1 })).toBe(200);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    stack.fakes.openai.script('primary', { kind: 'ok', content: 'held answer', waitFor: held });
    stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'quick' });
    // A background create holds its slot only while it is submitted.
    const bg = await call('POST', '/responses', { model: MODEL, input: 'wait', background: true });
    expect(bg.status).toBe(200);
    expect(bg.body).toMatchObject({ status: 'queued', background: true, output: [] });
    await until('the held call', async () => (stack.fakes.openai.callsFor('primary').length === 1 ? true : undefined));
    // A GET stream of it stays open as long as the call is held, and holds the tenant's slot
    // meanwhile (a Temporal long poll, as a streamed create): a create or another GET stream is
    // refused; plain polls and input items are not.
    const streamed = await fetch(`${stack.baseURL}/responses/${bg.body.id}?stream=true`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
      signal: AbortSignal.timeout(60_000),
    });
    expect(streamed.status).toBe(200);
    const refusedCreate = await call('POST', '/responses', { model: MODEL, input: 'refused' });
    expect(refusedCreate.status).toBe(429);
    expect(refusedCreate.body.error.code).toBe('tenant_concurrency');
    const refusedStream = await call('GET', `/responses/${bg.body.id}?stream=true`);
    expect(refusedStream.status).toBe(429);
    expect(refusedStream.body.error.code).toBe('tenant_concurrency');
    for (let i = 0; i < 5; i++) {
      expect((await call('GET', `/responses/${bg.body.id}`)).status).toBe(200);
      expect((await call('GET', `/responses/${bg.body.id}/input_items`)).status).toBe(200);
    }
    release();
    const events = eventsOf(await streamed.text());
    expect(events.map((e) => e.data.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.at(-1)).toMatchObject({ event: 'response.completed', data: { response: { status: 'completed' } } });
    expect(events.at(-1)!.data.response.output[0].content[0].text).toBe('held answer');
    // The stream ended: its slot is free again.
    const quick = await until('the slot freed', async () => {
      const r = await call('POST', '/responses', { model: MODEL, input: 'quick one' });
      return r.status === 429 ? undefined : r;
    });
    expect(quick.status).toBe(200);
    // A sync create held in flight takes the one slot: the next create is refused, a poll is not.
    let releaseSync!: () => void;
    stack.fakes.openai.script('primary', {
      kind: 'ok',
      content: 'held sync',
      waitFor: new Promise<void>((r) => (releaseSync = r)),
    });
    const sync = call('POST', '/responses', { model: MODEL, input: 'sync, held' });
    await until('the held sync call', async () =>
      stack.fakes.openai.callsFor('primary').length === 3 ? true : undefined,
    );
    const refused = await call('POST', '/responses', { model: MODEL, input: 'one too many' });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('tenant_concurrency');
    expect((await call('GET', `/responses/${quick.body.id}`)).status).toBe(200);
    releaseSync();
    expect((await sync).body.output[0].content[0].text).toBe('held sync');
  }, 60_000);
});

describe('background responses in flight', () => {
  const capped = useTestStack(
    {
      catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
      config: {
        retry: {
          default: { maximumAttempts: 1, initialIntervalMs: 10, backoffCoefficient: 1, timeoutMs: 20_000 },
        },
      },
      maxBackgroundPerTenant: 1,
    },
    { timeout: 120_000, resetFakes: true },
  );
  const post = (body: object) =>
    fetch(`${capped.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${capped.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, ...body }),
      signal: AbortSignal.timeout(60_000),
    });

  /** Cancels a background response and waits until its request ended: then it is no longer in flight. */
  const cancelled = async (id: string) => {
    const headers = { authorization: `Bearer ${capped.apiKey}` };
    expect((await fetch(`${capped.baseURL}/responses/${id}/cancel`, { method: 'POST', headers })).status).toBe(200);
    await until(`${id} to end`, async () => {
      const r = await fetch(`${capped.baseURL}/responses/${id}`, { headers });
      const { status } = (await r.json()) as { status: string };
      return ['queued', 'in_progress'].includes(status) ? undefined : status;
    });
  };

  it('are capped per tenant: one more background create is a 429, a sync create still runs', async () => {
    capped.fakes.openai.setDefault('primary', { kind: 'hang' });
    const first = await post({ input: 'hang', background: true });
    expect(first.status).toBe(200);
    const { id } = (await first.json()) as { id: string };
    const second = await post({ input: 'one more', background: true });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(((await second.json()) as { error: object }).error).toMatchObject({
      type: 'rate_limit_error',
      code: 'too_many_background_responses',
    });
    capped.fakes.openai.setDefault('primary', { kind: 'ok', content: 'sync still' });
    const sync = await post({ input: 'sync' });
    expect(sync.status).toBe(200);
    const answer = (await sync.json()) as { output: { content: { text: string }[] }[] };
    expect(answer.output[0]!.content[0]!.text).toBe('sync still');
    await cancelled(id);
  });

  it('are capped under concurrency too: of four background creates at once, one runs', async () => {
    capped.fakes.openai.setDefault('primary', { kind: 'hang' });
    const all = await Promise.all([1, 2, 3, 4].map((n) => post({ input: `racing ${n}`, background: true })));
    // Counting and starting are one step per tenant: without it, all four counted none in flight.
    expect(all.map((r) => r.status).sort()).toEqual([200, 429, 429, 429]);
    const { id } = (await all.find((r) => r.status === 200)!.json()) as { id: string };
    await cancelled(id);
  });
});

describe('streams', () => {
  it('a background stream that fails after its opening ends with response.failed, status 200', async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'error', status: 400, message: 'no such thing' });
    const r = await call('POST', '/responses', { model: MODEL, input: 'fail', background: true, stream: true });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = eventsOf(r.text);
    expect(events.map((e) => e.event)).toEqual(['response.created', 'response.in_progress', 'response.failed']);
    expect(events.map((e) => e.data.sequence_number)).toEqual([0, 1, 2]);
    const failed = events[2]!.data.response;
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    // What a later GET says, too.
    expect(await finished(failed.id)).toMatchObject({ status: 'failed', error: failed.error });
  });

  it("a sync stream's failure before the first token is a plain HTTP error", async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'error', status: 400, message: 'no such thing' });
    const r = await call('POST', '/responses', { model: MODEL, input: 'fail', stream: true });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.body.error).toMatchObject({ message: expect.any(String) });
  });

  it('a finished background response streamed again from its row, cut at starting_after', async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'stored words' });
    const bg = await call('POST', '/responses', { model: MODEL, input: 'later', background: true });
    const done = await finished(bg.body.id);
    expect(done.output[0].content[0].text).toBe('stored words');
    const all = eventsOf((await call('GET', `/responses/${bg.body.id}?stream=true`)).text);
    expect(all[0]).toMatchObject({ event: 'response.created', data: { sequence_number: 0 } });
    expect(all.at(-1)).toMatchObject({ event: 'response.completed', data: { response: { id: bg.body.id } } });
    expect(all.at(-1)!.data.response.output).toEqual(done.output);
    expect(
      all
        .filter((e) => e.event === 'response.output_text.delta')
        .map((e) => e.data.delta)
        .join(''),
    ).toBe('stored words');
    const rest = eventsOf((await call('GET', `/responses/${bg.body.id}?stream=true&starting_after=2`)).text);
    expect(rest).toEqual(all.slice(3));
  });
});

describe('created_at', () => {
  it("is the request's arrival, the same on create and GET, even for a sync create answered later", async () => {
    let release!: () => void;
    stack.fakes.openai.script('primary', {
      kind: 'ok',
      content: 'later',
      waitFor: new Promise<void>((r) => (release = r)),
    });
    const sentAt = Math.floor(Date.now() / 1000);
    const created = call('POST', '/responses', { model: MODEL, input: 'when' });
    await until('the held call', async () => (stack.fakes.openai.callsFor('primary').length === 1 ? true : undefined));
    // Answered at least a second after it arrived.
    await until('a later second', async () => (Math.floor(Date.now() / 1000) > sentAt + 1 ? true : undefined));
    release();
    const res = await created;
    expect(res.status).toBe(200);
    expect(res.body.created_at).toBeLessThanOrEqual(sentAt + 1);
    expect((await call('GET', `/responses/${res.body.id}`)).body.created_at).toBe(res.body.created_at);
  });
});

describe('a background create retried with its Idempotency-Key', () => {
  /** Creates a background response with this key, as a client's retry sends it again. */
  const createWith = (key: string, input: string) =>
    fetch(`${stack.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ model: MODEL, input, background: true }),
      signal: AbortSignal.timeout(60_000),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

  it('answers the response as it stands: completed, or failed, with the same id; not queued again', async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'done once' });
    const key = uniqueId('bg-retry');
    const first = await createWith(key, 'once');
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('queued');
    const done = await finished(first.body.id);
    expect(done.status).toBe('completed');
    const again = await createWith(key, 'once');
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, status: 'completed', created_at: first.body.created_at });
    expect(again.body.output).toEqual(done.output);
    expect(stack.fakes.openai.callsFor('primary')).toHaveLength(1);

    stack.fakes.openai.setDefault('primary', { kind: 'error', status: 400, message: 'no such thing' });
    const failKey = uniqueId('bg-retry-fail');
    const failing = await createWith(failKey, 'fails');
    expect((await finished(failing.body.id)).status).toBe('failed');
    const retried = await createWith(failKey, 'fails');
    expect(retried.body).toMatchObject({ id: failing.body.id, status: 'failed', error: { code: 'server_error' } });
  });
});

describe('deadlines', () => {
  /** The deadline the request's workflow was started with (its history's first event). */
  async function deadlineOf(requestId: string): Promise<number> {
    const history = await stack.env.client.workflow.getHandle(`req-${requestId}`).fetchHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    return defaultPayloadConverter.fromPayload<{ deadlineAt: number }>(input).deadlineAt;
  }

  it("a background response has the background deadline (X-Switchyard-Timeout-Ms may shorten it); a sync one the request's", async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'ok', content: 'in time' });
    /** Whether the create's deadline is `ms` after it was sent (between sending and its answer). */
    const deadlineIs = async (ms: number, extra: object, headers: Record<string, string> = {}) => {
      const sentAt = Date.now();
      const res = await fetch(`${stack.baseURL}/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: MODEL, input: 'when', ...extra }),
      });
      expect(res.status).toBe(200);
      await res.text();
      const answeredAt = Date.now();
      const deadline = await deadlineOf(res.headers.get('x-switchyard-request-id')!);
      return deadline >= sentAt + ms && deadline <= answeredAt + ms;
    };
    expect(await deadlineIs(900_000, { background: true })).toBe(true);
    expect(await deadlineIs(30_000, { background: true }, { 'x-switchyard-timeout-ms': '30000' })).toBe(true);
    expect(await deadlineIs(900_000, { background: true, stream: true })).toBe(true);
    // The test stack's request timeout: 60 s.
    expect(await deadlineIs(60_000, {})).toBe(true);
    expect(await deadlineIs(60_000, { stream: true })).toBe(true);
  });
});

describe('cancel and delete', () => {
  it('cancels a background response once; delete hides it and keeps its request', async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'hang' });
    const bg = await call('POST', '/responses', { model: MODEL, input: 'hang', background: true });
    await until('the hanging call', async () =>
      stack.fakes.openai.callsFor('primary').length === 1 ? true : undefined,
    );
    const cancelled = await call('POST', `/responses/${bg.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id: bg.body.id, status: 'cancelled', background: true });
    const requestId = bg.headers.get('x-switchyard-request-id')!;
    const record = await until('the cancel recorded', async () => {
      const r = await call('GET', `/requests/${requestId}`);
      return r.body.status === 'failed' ? r.body : undefined;
    });
    expect(record.error).toMatchObject({ type: 'Cancelled' });
    // Again: the same, nothing more happens.
    expect((await call('POST', `/responses/${bg.body.id}/cancel`)).body).toMatchObject({ status: 'cancelled' });
    // Streamed again: its opening, then its ending as a cancelled response.
    const events = eventsOf((await call('GET', `/responses/${bg.body.id}?stream=true`)).text);
    expect(events.at(-1)).toMatchObject({ event: 'response.failed', data: { response: { status: 'cancelled' } } });

    const deleted = await call('DELETE', `/responses/${bg.body.id}`);
    expect(deleted.body).toEqual({ id: bg.body.id, object: 'response', deleted: true });
    expect((await call('GET', `/responses/${bg.body.id}`)).status).toBe(404);
    expect((await call('DELETE', `/responses/${bg.body.id}`)).status).toBe(404);
    expect((await call('GET', `/requests/${requestId}`)).status).toBe(200);
  });

  it('a background stream cancelled before its first token ends with its cancelled Response', async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'hang' });
    const res = await fetch(`${stack.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, input: 'hang', background: true, stream: true }),
      signal: AbortSignal.timeout(60_000),
    });
    // Opened at once: the status line and the preamble before any token.
    expect(res.status).toBe(200);
    const id = `resp_${res.headers.get('x-switchyard-request-id')}`;
    await until('the hanging call', async () =>
      stack.fakes.openai.callsFor('primary').length === 1 ? true : undefined,
    );
    expect((await call('POST', `/responses/${id}/cancel`)).body.status).toBe('cancelled');
    const events = eventsOf(await res.text());
    expect(events.map((e) => e.event)).toEqual(['response.created', 'response.in_progress', 'response.failed']);
    expect(events[0]!.data.response).toMatchObject({ id, status: 'queued' });
    expect(events[2]!.data.response).toMatchObject({ id, status: 'cancelled', error: null });
  });

  it('a cancelled request met again (the same Idempotency-Key) is a 409 Cancelled, not an outage', async () => {
    stack.fakes.openai.setDefault('primary', { kind: 'hang' });
    const key = { 'idempotency-key': uniqueId('cancel-key') };
    const body = { model: MODEL, input: 'hang, then again' };
    const post = (extra: object) =>
      fetch(`${stack.baseURL}/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', ...key },
        body: JSON.stringify({ ...body, ...extra }),
        signal: AbortSignal.timeout(60_000),
      });
    const bg = (await (await post({ background: true })).json()) as { id: string };
    await until('the hanging call', async () =>
      stack.fakes.openai.callsFor('primary').length === 1 ? true : undefined,
    );
    expect((await call('POST', `/responses/${bg.id}/cancel`)).body.status).toBe('cancelled');
    // The same request, now waited on: it attaches to the cancelled workflow.
    const again = await post({});
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: object }).error).toMatchObject({
      code: 'Cancelled',
      request_id: bg.id.replace(/^resp_/, ''),
    });
  });
});
