/**
 * Prompt templates over real HTTP: versions are immutable and numbered per tenant, a label moves
 * (audited) and picks the version a render uses, `POST /v1/operations/respond` and chat's
 * `switchyard.template` (the official openai SDK, extra body) send the rendered prompt to the fake
 * provider and put the template version on the request's record (whose stored body is the
 * rendered request); tenants see only their own and the global templates; bad input is a 400
 * naming the field; a deleted template is hidden but its versions stay readable for the records.
 */
import OpenAI from 'openai';
import { upsertApiKey } from '../../src/db/apiKeys';
import { uniqueId } from '../support/db';
import { fakeCatalog, fakeModel, finishedRecord, useTestStack } from '../support/stack';

// The chat cache on: a hit's record names the template too.
const stack = useTestStack({ catalog: (f) => fakeCatalog(f, [fakeModel('oa', 'primary')]), cache: { chat: 300 } });

type Res = { status: number; body: any };
const adminB = `sk-sy-${uniqueId('tpl-b-admin')}`;
const tenantB = uniqueId('tpl-b').toLowerCase();

async function call(key: string, method: string, path: string, body?: unknown): Promise<Res> {
  const res = await fetch(`${new URL(stack.baseURL).origin}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const greet = (name: string, greeting = 'Say hello to') => ({
  name,
  description: 'a greeting',
  messages: [
    { role: 'system', content: 'You are {{persona}}.' },
    { role: 'user', content: `${greeting} {{name}} & <{{name}}>{{#topics}} about {{.}}{{/topics}}.` },
  ],
  variables: {
    type: 'object',
    properties: {
      persona: { type: 'string', default: 'a greeter' },
      name: { type: 'string', minLength: 1 },
      topics: { type: 'array', items: { type: 'string' } },
    },
    required: ['name'],
  },
  defaults: { temperature: 0.3, max_tokens: 50 },
});

/** The messages the fake provider received in its last call. */
const lastMessages = () => stack.fakes.openai.calls.at(-1)!.body.messages as Array<{ role: string; content: string }>;

beforeAll(async () => {
  stack.fakes.openai.setDefault('*', { kind: 'ok', content: 'Hello there!' });
  await upsertApiKey(stack.db, tenantB, adminB, 'tenant b admin', 'admin');
});

describe('templates', () => {
  it('versions are immutable and numbered; a label moves (audited) and picks the version rendered', async () => {
    const v1 = await call(stack.adminKey, 'POST', '/v1/templates', greet('greet'));
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({ object: 'template.version', name: 'greet', version: 1, scope: 'tenant' });
    const v2 = await call(stack.adminKey, 'POST', '/v1/templates', greet('greet', 'Wave at'));
    expect(v2.body).toMatchObject({ version: 2 });
    // Version 1 is as it was created.
    const old = await call(stack.apiKey, 'GET', '/v1/templates/greet/versions/1');
    expect(old.body.messages[1].content).toMatch(/^Say hello to/);
    // Members read and use, they do not write.
    expect((await call(stack.apiKey, 'POST', '/v1/templates', greet('greet'))).status).toBe(403);
    expect((await call(stack.apiKey, 'PUT', '/v1/templates/greet/labels/production', { version: 1 })).status).toBe(403);

    // No label: the latest version.
    const latest = await call(stack.apiKey, 'POST', '/v1/operations/respond', {
      template: 'greet',
      variables: { name: 'Ann' },
    });
    expect(latest.status).toBe(200);
    expect(latest.body.template).toMatchObject({ name: 'greet', version: 2 });
    expect(lastMessages()[1]!.content).toBe('Wave at Ann & <Ann>.');

    const set = await call(stack.adminKey, 'PUT', '/v1/templates/greet/labels/production', { version: 2 });
    expect(set.body).toMatchObject({ label: 'production', version: 2, previous_version: null });
    const moved = await call(stack.adminKey, 'PUT', '/v1/templates/greet/labels/production', { version: 1 });
    expect(moved.body).toMatchObject({ version: 1, previous_version: 2 });
    const audit = await stack.db.query<{ before: unknown; after: unknown; tenant_id: string }>(
      `select before, after, tenant_id from audit_log where action = 'template.label' and target = 'greet:production' order by id`,
    );
    expect(audit.rows).toEqual([
      { before: null, after: { version: 2 }, tenant_id: stack.tenantId },
      { before: { version: 2 }, after: { version: 1 }, tenant_id: stack.tenantId },
    ]);
    const shown = await call(stack.apiKey, 'GET', '/v1/templates/greet');
    expect(shown.body).toMatchObject({
      name: 'greet',
      latest: { version: 2 },
      labels: { production: 1 },
      versions: [{ version: 1 }, { version: 2 }],
    });

    // Now the production label's version, with the schema's default and the template's defaults.
    const res = await call(stack.apiKey, 'POST', '/v1/operations/respond', {
      template: 'greet',
      variables: { name: 'Ann', topics: ['tea', 'cake'] },
      user: 'u-7',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      object: 'operation.respond',
      operation: 'respond',
      model: 'oa/primary',
      template: { name: 'greet', version: 1, scope: 'tenant' },
      result: { text: 'Hello there!' },
      usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) },
    });
    const sent = stack.fakes.openai.calls.at(-1)!.body;
    expect(sent.messages).toEqual([
      { role: 'system', content: 'You are a greeter.' },
      { role: 'user', content: 'Say hello to Ann & <Ann> about tea about cake.' },
    ]);
    expect(sent).toMatchObject({ temperature: 0.3 });
    // The record names the version; its stored body is the rendered chat request.
    const record = await call(stack.apiKey, 'GET', `/v1/requests/${res.body.id}`);
    expect(record.body).toMatchObject({
      operation: 'chat',
      template: { name: 'greet', version: 1, id: v1.body.id },
      user: 'u-7',
    });
    const stored = await stack.db.query<{ body: any }>('select body from requests where request_id = $1', [
      res.body.id,
    ]);
    expect(stored.rows[0]!.body).toMatchObject({ model: 'auto', temperature: 0.3, max_tokens: 50 });
    expect(stored.rows[0]!.body.messages[1].content).toBe('Say hello to Ann & <Ann> about tea about cake.');

    // An explicit version or label wins over production.
    await call(stack.apiKey, 'POST', '/v1/operations/respond', {
      template: 'greet',
      version: 2,
      variables: { name: 'Bo' },
    });
    expect(lastMessages()[1]!.content).toBe('Wave at Bo & <Bo>.');
    const byLabel = await call(stack.apiKey, 'POST', '/v1/operations/respond', {
      template: 'greet',
      label: 'nope',
      variables: { name: 'Bo' },
    });
    expect(byLabel.status).toBe(404);
    expect(byLabel.body.error).toMatchObject({ param: 'label', code: 'template_label_not_found' });
  });

  it('respond streams chat.completion.chunks when asked; the record names the version', async () => {
    await call(stack.adminKey, 'POST', '/v1/templates', greet('stream-greet'));
    const res = await fetch(`${new URL(stack.baseURL).origin}/v1/operations/respond`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ template: 'stream-greet', variables: { name: 'Sy' }, stream: true }),
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = (await res.text())
      .split('\n')
      .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
      .map((l) => JSON.parse(l.slice(6)) as { object: string; choices: Array<{ delta: { content?: string } }> });
    expect(events[0]!.object).toBe('chat.completion.chunk');
    expect(events.map((e) => e.choices[0]?.delta.content ?? '').join('')).toBe('Hello there!');
    expect(lastMessages()[1]!.content).toBe('Say hello to Sy & <Sy>.');
    const id = res.headers.get('x-switchyard-request-id')!;
    const record = await finishedRecord<{ status: string; template: unknown }>(stack, id);
    expect(record).toMatchObject({ status: 'succeeded', template: { name: 'stream-greet', version: 1 } });
  });

  it('chat completions name a template in the extra body (openai SDK): its messages come first', async () => {
    await call(stack.adminKey, 'POST', '/v1/templates', greet('chat-greet'));
    const client = new OpenAI({ apiKey: stack.apiKey, baseURL: stack.baseURL, maxRetries: 0 });
    const { data, response } = await client.chat.completions
      .create({
        model: 'oa/primary',
        messages: [{ role: 'user', content: 'And then?' }],
        // @ts-expect-error Switchyard's extension, sent as extra body
        switchyard: { template: { name: 'chat-greet', variables: { name: 'Cy', persona: 'terse' } } },
      })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe('Hello there!');
    expect(lastMessages()).toEqual([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say hello to Cy & <Cy>.' },
      { role: 'user', content: 'And then?' },
    ]);
    expect(stack.fakes.openai.calls.at(-1)!.body).toMatchObject({ temperature: 0.3 });
    const id = response.headers.get('x-switchyard-request-id')!;
    const record = await call(stack.apiKey, 'GET', `/v1/requests/${id}`);
    expect(record.body.template).toMatchObject({ name: 'chat-greet', version: 1 });
    const stored = await stack.db.query<{ body: any }>('select body from requests where request_id = $1', [id]);
    expect(stored.rows[0]!.body).not.toHaveProperty('switchyard');
    expect(stored.rows[0]!.body.messages).toHaveLength(3);

    // Empty messages: the template's alone. A bad variable names its path in the extension.
    await client.chat.completions.create({
      model: 'oa/primary',
      messages: [],
      // @ts-expect-error Switchyard's extension
      switchyard: { template: { name: 'chat-greet', variables: { name: 'Di' } }, quality: 0.5 },
    });
    expect(lastMessages()).toHaveLength(2);
    const bad = await call(stack.apiKey, 'POST', '/v1/chat/completions', {
      model: 'oa/primary',
      messages: [],
      switchyard: { template: { name: 'chat-greet', variables: { name: 7 } } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({
      param: 'switchyard.template.variables.name',
      code: 'invalid_template_variables',
    });
    // Without a template, chat is as strict as ever.
    const empty = await call(stack.apiKey, 'POST', '/v1/chat/completions', { model: 'oa/primary', messages: [] });
    expect(empty.status).toBe(400);
    expect(empty.body.error.param).toBe('messages');
  });

  it("tenants see their own and the global templates, never another tenant's", async () => {
    await call(stack.adminKey, 'POST', '/v1/templates', greet('only-a'));
    const asB = await call(adminB, 'GET', '/v1/templates/only-a');
    expect(asB.status).toBe(404);
    expect((await call(adminB, 'GET', '/v1/templates/only-a/versions/1')).status).toBe(404);
    const respondB = await call(adminB, 'POST', '/v1/operations/respond', {
      template: 'only-a',
      variables: { name: 'x' },
    });
    expect(respondB.status).toBe(404);
    expect(respondB.body.error).toMatchObject({ param: 'template', code: 'template_not_found' });
    expect((await call(adminB, 'PUT', '/v1/templates/only-a/labels/production', { version: 1 })).status).toBe(404);
    expect((await call(adminB, 'DELETE', '/v1/templates/only-a')).status).toBe(404);
    // B's own template of the same name is numbered on its own.
    expect((await call(adminB, 'POST', '/v1/templates', greet('only-a'))).body).toMatchObject({ version: 1 });

    // Global: operators only; every tenant sees and uses it; a tenant's own of that name comes first.
    const global = { ...greet('shared-hello'), scope: 'global' };
    const refused = await call(stack.adminKey, 'POST', '/v1/templates', global);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ param: 'scope' });
    expect((await call(stack.operatorKey, 'POST', '/v1/templates', global)).body).toMatchObject({
      scope: 'global',
      version: 1,
    });
    const listB = (await call(adminB, 'GET', '/v1/templates')).body.data as Array<{ name: string; scope: string }>;
    expect(listB.map((t) => `${t.name}:${t.scope}`).sort()).toEqual(['only-a:tenant', 'shared-hello:global']);
    const viaB = await call(adminB, 'POST', '/v1/operations/respond', {
      template: 'shared-hello',
      variables: { name: 'Eve' },
    });
    expect(viaB.body.template).toMatchObject({ scope: 'global', version: 1 });
    await call(stack.adminKey, 'POST', '/v1/templates', greet('shared-hello', 'Tenant A greets'));
    const viaA = await call(stack.apiKey, 'POST', '/v1/operations/respond', {
      template: 'shared-hello',
      variables: { name: 'Fay' },
    });
    expect(viaA.body.template).toMatchObject({ scope: 'tenant', version: 1 });
    expect(lastMessages()[1]!.content).toBe('Tenant A greets Fay & <Fay>.');
    const listA = (await call(stack.apiKey, 'GET', '/v1/templates')).body.data as Array<{
      name: string;
      scope: string;
    }>;
    expect(listA.filter((t) => t.name === 'shared-hello').map((t) => t.scope)).toEqual(['tenant', 'global']);
    expect(listA.filter((t) => t.name === 'only-a')).toHaveLength(1);
  });

  it('concurrent creates get distinct versions; a cache hit is recorded with its template', async () => {
    const created = await Promise.all(
      Array.from({ length: 5 }, (_, i) => call(stack.adminKey, 'POST', '/v1/templates', greet('racy', `Hi #${i}`))),
    );
    expect(created.map((c) => c.status)).toEqual([201, 201, 201, 201, 201]);
    expect(created.map((c) => c.body.version as number).sort()).toEqual([1, 2, 3, 4, 5]);

    const ask = () =>
      call(stack.apiKey, 'POST', '/v1/operations/respond', {
        template: 'racy',
        version: 3,
        variables: { name: 'Hal' },
      });
    const first = await ask();
    const calls = stack.fakes.openai.calls.length;
    const second = await ask();
    expect(second.body.switchyard.cache).toMatchObject({ status: 'hit', cached_from: first.body.id });
    expect(stack.fakes.openai.calls.length).toBe(calls);
    const record = await call(stack.apiKey, 'GET', `/v1/requests/${second.body.id}`);
    expect(record.body).toMatchObject({ cache_hit: true, template: { name: 'racy', version: 3 } });
  });

  it('operators label and delete global templates with ?scope=global; admins cannot', async () => {
    await call(stack.operatorKey, 'POST', '/v1/templates', { ...greet('g-only'), scope: 'global' });
    await call(stack.operatorKey, 'POST', '/v1/templates', { ...greet('g-only', 'Hey'), scope: 'global' });
    // Without ?scope=global a write aims at the caller's tenant, which has no such template.
    expect((await call(stack.adminKey, 'PUT', '/v1/templates/g-only/labels/production', { version: 1 })).status).toBe(
      404,
    );
    const refused = await call(stack.adminKey, 'PUT', '/v1/templates/g-only/labels/production?scope=global', {
      version: 1,
    });
    expect(refused.status).toBe(403);
    expect((await call(stack.adminKey, 'DELETE', '/v1/templates/g-only?scope=global')).status).toBe(403);
    const labelled = await call(stack.operatorKey, 'PUT', '/v1/templates/g-only/labels/production?scope=global', {
      version: 1,
    });
    expect(labelled.body).toMatchObject({ scope: 'global', version: 1 });
    const used = await call(adminB, 'POST', '/v1/operations/respond', {
      template: 'g-only',
      variables: { name: 'Ivy' },
    });
    expect(used.body.template).toMatchObject({ scope: 'global', version: 1 });
    expect((await call(adminB, 'GET', '/v1/templates?')).body.data).toContainEqual(
      expect.objectContaining({ name: 'g-only', scope: 'global', latest_version: 2, labels: { production: 1 } }),
    );
    expect((await call(stack.operatorKey, 'DELETE', '/v1/templates/g-only?scope=global')).body).toMatchObject({
      versions_hidden: 2,
    });
    expect((await call(adminB, 'GET', '/v1/templates/g-only')).status).toBe(404);
  });

  it('bad templates and bad variables are 400s naming the field', async () => {
    const partial = await call(stack.adminKey, 'POST', '/v1/templates', {
      name: 'bad',
      messages: [
        { role: 'system', content: 'ok' },
        { role: 'user', content: 'hi {{> other}}' },
      ],
    });
    expect(partial.status).toBe(400);
    expect(partial.body.error).toMatchObject({ param: 'messages[1].content', code: 'invalid_template' });
    const unclosed = await call(stack.adminKey, 'POST', '/v1/templates', {
      name: 'bad',
      messages: [{ role: 'user', content: '{{#x}} open' }],
    });
    expect(unclosed.body.error).toMatchObject({ param: 'messages[0].content', code: 'invalid_template' });
    const schema = await call(stack.adminKey, 'POST', '/v1/templates', {
      name: 'bad',
      messages: [{ role: 'user', content: 'x' }],
      variables: { type: 'nonsense' },
    });
    expect(schema.body.error).toMatchObject({ param: 'variables', code: 'invalid_json_schema' });
    expect((await call(stack.apiKey, 'GET', '/v1/templates/bad')).status).toBe(404);

    await call(stack.adminKey, 'POST', '/v1/templates', greet('strict'));
    await call(stack.adminKey, 'POST', '/v1/templates', {
      name: 'loose',
      messages: [{ role: 'user', content: 'Tell {{who}} about {{what.topic}}' }],
    });
    const cases: Array<[unknown, string]> = [
      [{ template: 'strict', variables: {} }, 'variables.name'],
      [{ template: 'strict', variables: { name: 5 } }, 'variables.name'],
      [{ template: 'strict', variables: { name: 'a', topics: ['x', 3] } }, 'variables.topics[1]'],
      [{ template: 'loose', variables: { who: 'me' } }, 'variables.what.topic'],
    ];
    for (const [body, param] of cases) {
      const res = await call(stack.apiKey, 'POST', '/v1/operations/respond', body);
      expect({ status: res.status, error: res.body.error }).toMatchObject({
        status: 400,
        error: { param, code: 'invalid_template_variables' },
      });
    }
    const both = await call(stack.apiKey, 'POST', '/v1/operations/respond', {
      template: 'strict',
      version: 1,
      label: 'production',
      variables: { name: 'a' },
    });
    expect(both.body.error).toMatchObject({ param: 'label' });
    const noVersion = await call(stack.apiKey, 'POST', '/v1/operations/respond', {
      template: 'strict',
      version: 9,
      variables: { name: 'a' },
    });
    expect(noVersion.status).toBe(404);
    expect(noVersion.body.error).toMatchObject({ param: 'version' });
    const label = await call(stack.adminKey, 'PUT', '/v1/templates/strict/labels/production', { version: 9 });
    expect(label.body.error).toMatchObject({ param: 'version' });
    expect(stack.fakes.openai.calls.filter((c) => JSON.stringify(c.body).includes('Tell me'))).toEqual([]);
  });

  it('a deleted template is hidden; its versions stay readable for the request records', async () => {
    await call(stack.adminKey, 'POST', '/v1/templates', greet('gone'));
    await call(stack.adminKey, 'PUT', '/v1/templates/gone/labels/production', { version: 1 });
    const used = await call(stack.apiKey, 'POST', '/v1/operations/respond', {
      template: 'gone',
      variables: { name: 'G' },
    });
    expect(used.status).toBe(200);
    expect((await call(stack.apiKey, 'DELETE', '/v1/templates/gone')).status).toBe(403);
    const del = await call(stack.adminKey, 'DELETE', '/v1/templates/gone');
    expect(del.body).toMatchObject({ deleted: true, versions_hidden: 1 });
    expect((await call(stack.apiKey, 'GET', '/v1/templates/gone')).status).toBe(404);
    const listed = (await call(stack.apiKey, 'GET', '/v1/templates')).body.data as Array<{ name: string }>;
    expect(listed.map((t) => t.name)).not.toContain('gone');
    expect(
      (await call(stack.apiKey, 'POST', '/v1/operations/respond', { template: 'gone', variables: { name: 'G' } }))
        .status,
    ).toBe(404);
    const kept = await call(stack.apiKey, 'GET', '/v1/templates/gone/versions/1');
    expect(kept.body).toMatchObject({ version: 1, deleted_at: expect.any(String) });
    expect((await call(stack.apiKey, 'GET', `/v1/requests/${used.body.id}`)).body.template).toMatchObject({
      name: 'gone',
      version: 1,
    });
    // Created again: numbering goes on, so a record's version never means two texts.
    expect((await call(stack.adminKey, 'POST', '/v1/templates', greet('gone'))).body).toMatchObject({ version: 2 });
    expect((await call(stack.apiKey, 'GET', '/v1/templates/gone')).body.labels).toEqual({});
  });
});
