/**
 * Hostile input over real HTTP: each case is a 4xx naming where the problem is, and writes nothing.
 * Also a provider that echoes the key it received: the key appears nowhere (the response, the
 * request's rows, its workflow history, the breakers' view). And a property-based fuzz run over
 * every route with a fixed seed: no 500, no hang, no row for a rejected request; and the same
 * over streamed uploads (truncated, stalled, oversized, disconnected mid-body) to /v1/files and
 * the summarization batch endpoint, with `/health` answering within 1 s throughout.
 */
import fc from 'fast-check';
import { CatalogSchema } from '../../src/domain/catalog';
import { redact, registerSecrets } from '../../src/providers/redact';
import { multipartHead, multipartHeaders, multipartTail, RawUpload, within } from '../support/rawUpload';
import { fakeCatalogProviders, fakeModel, providerSecret, useTestStack } from '../support/stack';

const STREAM_IDLE_MS = 1_000;

const stack = useTestStack({
  breakers: true,
  catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
  config: { retry: { default: { maximumAttempts: 1, timeoutMs: 30_000 } } },
  // Stalled uploads in the fuzz are let go after this long (the default is 15 s).
  bodyIdleMs: STREAM_IDLE_MS,
});

async function raw(path: string, init: RequestInit & { key?: string | null } = {}) {
  const { key = stack.apiKey, ...rest } = init;
  const res = await fetch(`${stack.baseURL}${path}`, {
    ...rest,
    headers: {
      ...(key && { authorization: `Bearer ${key}` }),
      'content-type': 'application/json',
      ...(rest.headers as Record<string, string>),
    },
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  return { status: res.status, text, body: text ? (JSON.parse(text) as any) : undefined };
}

const rowsOfTenant = async () =>
  Number(
    (await stack.db.query<{ n: string }>('select count(*) as n from requests where tenant_id = $1', [stack.tenantId]))
      .rows[0]!.n,
  );

describe('strings and structures no schema should see', () => {
  it.each([
    [
      'a NUL in a message',
      '{"model":"auto","messages":[{"role":"user","content":"a\\u0000b"}]}',
      'messages[0].content',
    ],
    ['a lone surrogate', '{"model":"auto","messages":[{"role":"user","content":"\\ud800x"}]}', 'messages[0].content'],
    ['a NUL in a key', '{"model":"auto","messages":[],"metadata":{"a\\u0000":"x"}}', 'metadata'],
    ['a __proto__ key', '{"model":"auto","__proto__":{"admin":true},"messages":[]}', '__proto__'],
  ])('%s → 400 naming the field, nothing stored', async (_name, body, param) => {
    const before = await rowsOfTenant();
    const res = await raw('/chat/completions', { method: 'POST', body });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe('invalid_request_error');
    expect(res.body.error.param).toContain(param);
    expect(await rowsOfTenant()).toBe(before);
  });

  it('JSON nested 5,000 deep (a json_schema) → 400, not a stack overflow', async () => {
    const deep = '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000);
    const body = `{"model":"auto","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"d","schema":${deep}}}}`;
    const res = await raw('/chat/completions', { method: 'POST', body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('too_deep');
  });

  it.each([
    ['/requests/%ff', 'GET'],
    ['/requests/a%00b', 'GET'],
    ['/providers/%ff/x/breaker', 'POST'],
    ['/budgets?user=%00', 'GET'],
  ])('%s → 400', async (path, method) => {
    const res = await raw(path, { method, ...(method === 'POST' && { body: '{}' }) });
    expect(res.status).toBe(400);
  });

  it('ids that are object keys JavaScript treats specially are refused', async () => {
    for (const id of ['__proto__', 'constructor', 'prototype'])
      expect((await raw(`/admin/tenants/${id}`, { method: 'PUT', key: stack.operatorKey, body: '{}' })).status).toBe(
        400,
      );
  });

  it('SQL metacharacters in ids, keys and headers are data, not SQL', async () => {
    expect((await raw(`/requests/${encodeURIComponent("' or '1'='1")}`)).status).toBe(404);
    expect((await raw('/models', { key: "x' or '1'='1" })).status).toBe(401);
    const res = await raw('/chat/completions', {
      method: 'POST',
      headers: { 'x-switchyard-user': "'; drop table requests; --", 'idempotency-key': 'it\'s-"quoted"' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: "1'; select pg_sleep(10); --" }] }),
    });
    expect(res.status).toBe(200);
    expect(await rowsOfTenant()).toBeGreaterThan(0);
  });

  it('Host and X-Forwarded-* headers change nothing about who the caller is', async () => {
    const spoofed = { host: 'admin.internal', 'x-forwarded-for': '127.0.0.1', 'x-forwarded-host': 'localhost' };
    expect((await raw('/models', { key: null, headers: spoofed })).status).toBe(401);
    expect((await raw('/admin/config', { headers: spoofed })).status).toBe(403);
  });

  it('the same Idempotency-Key with other routing headers is a conflict, not the earlier answer', async () => {
    const body = JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'same body' }] });
    const key = `idem-${Date.now()}`;
    const first = await raw('/chat/completions', { method: 'POST', body, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(200);
    const again = await raw('/chat/completions', { method: 'POST', body, headers: { 'idempotency-key': key } });
    expect(again.body.switchyard.request_id).toBe(first.body.switchyard.request_id);
    const otherRegion = await raw('/chat/completions', {
      method: 'POST',
      body,
      headers: { 'idempotency-key': key, 'x-switchyard-region': 'EU' },
    });
    expect(otherRegion.status).toBe(409);
  });
});

describe('secrets', () => {
  it('redacts the keys this process holds and anything shaped like a key', () => {
    registerSecrets(['my-local-model-token-123']);
    expect(redact('refused my-local-model-token-123 and sk-proj-abcdefghijklmnop and Bearer abc.def.ghi')).toBe(
      'refused [redacted] and [redacted] and Bearer [redacted]',
    );
  });

  it('a provider echoing the key it received: the key appears in no response, row or history', async () => {
    const secret = providerSecret('oa');
    stack.fakes.openai.setDefault('primary', { kind: 'error', status: 401, echoKey: true });
    const res = await raw('/chat/completions', {
      method: 'POST',
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'echo' }] }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    // The provider did echo it (its call carried the key), and we redacted it.
    expect(String(stack.fakes.openai.callsFor('primary').at(-1)!.headers.authorization)).toContain(secret);
    expect(res.text).toContain('[redacted]');
    expect(res.text).not.toContain(secret);
    const requestId = res.body.error.request_id as string;
    const record = await raw(`/requests/${requestId}`);
    expect(record.text).not.toContain(secret);
    const rows = await stack.db.query(
      `select r::text as t from requests r where request_id = $1
       union all select a::text from request_attempts a where request_id = $1`,
      [requestId],
    );
    for (const r of rows.rows as Array<{ t: string }>) expect(r.t).not.toContain(secret);
    const history = await stack.env.client.workflow.getHandle(`req-${requestId}`).fetchHistory();
    expect(JSON.stringify(history)).not.toContain(secret);
    stack.fakes.openai.setDefault('primary', { kind: 'ok' });
  });
});

describe('fuzz', () => {
  const ROUTES: Array<[string, string]> = [
    ['POST', '/chat/completions'],
    ['POST', '/operations/summarize'],
    ['POST', '/operations/intent'],
    ['POST', '/route'],
    ['GET', '/models'],
    ['GET', '/requests/x'],
    ['GET', '/budgets'],
    ['GET', '/providers'],
    ['POST', '/keys'],
    ['POST', '/policy/replay'],
    ['PUT', '/admin/tenants/t'],
    ['PUT', '/admin/tenants/t/budget'],
    ['POST', '/admin/rules'],
    ['POST', '/tenants'],
  ];
  const RUNS = 2_000;

  it(`${RUNS} random and mutated requests over every route: no 500, no hang, no row for a rejection`, async () => {
    const valid = { model: 'auto', messages: [{ role: 'user', content: 'hi' }] };
    const mutated = fc
      .record({
        key: fc.constantFrom('model', 'messages', 'max_tokens', 'response_format', 'metadata', '__proto__', 'tools'),
        value: fc.jsonValue({ maxDepth: 4 }),
      })
      .map(({ key, value }) => JSON.stringify({ ...valid, [key]: value }));
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
      mutated,
      fc.string({ unit: 'binary', maxLength: 200 }),
    );
    const pathSuffix = fc.oneof(
      fc.constant(''),
      fc.string({ maxLength: 20 }).map((s) => `/${encodeURIComponent(s)}`),
    );
    const header = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
    let ran = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        body,
        pathSuffix,
        header,
        fc.constantFrom(stack.apiKey, stack.adminKey, stack.operatorKey),
        async ([method, path], text, suffix, h, key) => {
          ran++;
          const before = await rowsOfTenant();
          const res = await raw(`${path}${method === 'GET' ? suffix : ''}`, {
            method,
            key,
            headers: { 'x-switchyard-user': h, 'x-switchyard-workspace': h },
            ...(method !== 'GET' && { body: text }),
          });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) expect(await rowsOfTenant()).toBe(before);
        },
      ),
      { seed: 20261202, numRuns: RUNS },
    );
    console.log(`fuzz: ${ran} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(ran).toBe(RUNS);
  }, 300_000);

  const UPLOAD_RUNS = 60;

  it(`${UPLOAD_RUNS} streamed uploads (truncated, stalled, oversized, disconnected): no 500, no hang, no row for a rejection`, async () => {
    type Piece = { kind: 'valid' | 'badJson' | 'badField' | 'blank' | 'duplicate' | 'huge' | 'binary'; n: number };
    const piece: fc.Arbitrary<Piece> = fc.record({
      kind: fc.constantFrom('valid', 'valid', 'valid', 'badJson', 'badField', 'blank', 'duplicate', 'huge', 'binary'),
      n: fc.nat(1_000),
    });
    const fileLine = (p: Piece, target: 'files' | 'batch'): Buffer[] => {
      const id = p.kind === 'duplicate' ? 'same' : `id${p.n}`;
      switch (p.kind) {
        case 'valid':
        case 'duplicate':
          return [
            Buffer.from(
              JSON.stringify(
                target === 'files'
                  ? {
                      custom_id: id,
                      method: 'POST',
                      url: '/v1/chat/completions',
                      body: { model: 'auto', messages: [] },
                    }
                  : { id, text: `document ${p.n}` },
              ) + '\n',
            ),
          ];
        case 'badJson':
          return [Buffer.from(`{"id": ${p.n}, \n`)];
        case 'badField':
          return [Buffer.from(JSON.stringify({ id, custom_id: id, unexpected: p.n }) + '\n')];
        case 'blank':
          return [Buffer.from('\n')];
        case 'binary':
          return [Buffer.from([0xff, 0xfe, 0x00, p.n & 0xff, 0x0a])];
        case 'huge': // a line past the 4 MiB limit, with no newline
          return [
            Buffer.from('{"id":"h","text":"'),
            ...Array.from({ length: 20 + (p.n % 8) }, () => Buffer.alloc(256 * 1024, 'h')),
          ];
      }
    };
    const health = async () => {
      const started = Date.now();
      const res = await fetch(`${stack.baseURL.replace(/\/v1$/, '')}/health`, { signal: AbortSignal.timeout(1_000) });
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1_000);
    };
    const rows = async () =>
      Number(
        (
          await stack.db.query<{ n: string }>(
            `select (select count(*) from files where tenant_id = $1) + (select count(*) from batches where tenant_id = $1) as n`,
            [stack.tenantId],
          )
        ).rows[0]!.n,
      );
    const statuses = new Map<string, number>();
    let ran = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('files' as const, 'batch' as const),
        // A third of the uploads valid line by line (the mode decides whether they arrive whole).
        fc.oneof(
          fc.array(piece, { minLength: 0, maxLength: 6 }),
          fc.array(piece, { minLength: 0, maxLength: 6 }),
          fc
            .array(
              fc.nat(1_000).map((n): Piece => ({ kind: 'valid', n })),
              { minLength: 1, maxLength: 6 },
            )
            .map((ps) => ps.filter((p, i) => ps.findIndex((q) => q.n === p.n) === i)),
        ),
        fc.constantFrom('complete', 'truncated', 'stalled', 'disconnected'),
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        async (target, pieces, mode, cut) => {
          ran++;
          const chunks = [
            ...(target === 'files' ? [multipartHead()] : []),
            ...pieces.flatMap((p) => fileLine(p, target)),
            ...(target === 'files' ? [multipartTail] : []),
          ];
          const size = chunks.reduce((n, c) => n + c.length, 0);
          const before = await rows();
          const whole = Buffer.concat(chunks);
          const part = whole.subarray(0, Math.max(1, Math.floor(size * cut)));
          const headers: Record<string, string | number> =
            target === 'files' ? { ...multipartHeaders } : { 'content-type': 'application/x-ndjson' };
          // Stalled: the declared length is the whole body, and only a part of it comes.
          if (mode === 'stalled') headers['content-length'] = size;
          if (mode === 'truncated') headers['content-length'] = part.length;
          const u = new RawUpload(
            `${stack.baseURL}${target === 'files' ? '/files' : '/operations/summarize/batches'}`,
            stack.apiKey,
            headers,
          );
          if (mode === 'complete') void u.send(chunks);
          else if (mode === 'truncated') void u.send([part]);
          else {
            await u.send([part], false);
            if (mode === 'disconnected') u.req.destroy();
          }
          const out = await within(STREAM_IDLE_MS + 20_000, `${mode} upload to ${target}`, u.outcome);
          const label = out.status !== undefined ? String(out.status) : `socket ${out.error}`;
          statuses.set(`${mode} ${label}`, (statuses.get(`${mode} ${label}`) ?? 0) + 1);
          if (out.status !== undefined) {
            expect(out.status).toBeLessThan(500);
            if (out.status >= 400) expect(out.body.error).toMatchObject({ type: 'invalid_request_error' });
          }
          if (mode === 'stalled' && out.status !== undefined) expect([400, 408, 413]).toContain(out.status);
          await health();
          const stored = (await rows()) - before;
          expect(stored).toBe(out.status !== undefined && out.status < 300 ? 1 : 0);
        },
      ),
      { seed: 20261206, numRuns: UPLOAD_RUNS },
    );
    console.log(`upload fuzz: ${ran} uploads, outcomes ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(ran).toBe(UPLOAD_RUNS);
  }, 300_000);
});
