/**
 * Uploads and request bodies an attacker controls (issue 28, findings 1, 2, 5 and 13), over real
 * HTTP on PGlite and on PostgreSQL: an upload that fails part-way, a 60,000-line file, a stalled
 * body, a client that disconnects mid-body, a line far past the limit and a truncated multipart
 * body each get a prompt 4xx (or a closed socket) and hold nothing: afterwards another tenant's
 * chat, readiness and the next upload complete, and `/health` answers within 1 s.
 */
import OpenAI, { toFile } from 'openai';
import { upsertApiKey } from '../../src/db/apiKeys';
import { CatalogSchema } from '../../src/domain/catalog';
import { dbKinds, uniqueId } from '../support/db';
import { multipartHead, multipartHeaders, multipartTail, RawUpload, within } from '../support/rawUpload';
import { fakeCatalogProviders, fakeModel, startTestStack, type TestStack } from '../support/stack';

const IDLE_MS = 2_000;
const BATCHES = '/operations/summarize/batches';

const line = (i: number) =>
  JSON.stringify({
    custom_id: `r${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'auto', messages: [{ role: 'user', content: `hello ${i}` }] },
  }) + '\n';

/** `n` request lines, a page of lines per chunk (generated as they are sent). */
function* lines(n: number, first = 1): Generator<Buffer> {
  for (let i = first; i < first + n; i += 500) {
    let page = '';
    for (let j = i; j < Math.min(first + n, i + 500); j++) page += line(j);
    yield Buffer.from(page);
  }
}

describe.each(dbKinds())('uploads and bodies on %s', (kind) => {
  let stack: TestStack;
  let otherKey: string;
  let otherTenant: string;
  let client: OpenAI;

  beforeAll(async () => {
    stack = await startTestStack({
      db: kind,
      bodyIdleMs: IDLE_MS,
      catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
    });
    otherTenant = uniqueId('other');
    otherKey = `sk-sy-${uniqueId('other')}`;
    await upsertApiKey(stack.db, otherTenant, otherKey, 'other tenant');
    client = new OpenAI({ apiKey: stack.apiKey, baseURL: stack.baseURL, maxRetries: 0, timeout: 15_000 });
  });
  afterAll(async () => stack?.stop());

  const upload = (headers: Record<string, string | number> = multipartHeaders, path = '/files') =>
    new RawUpload(`${stack.baseURL}${path}`, stack.apiKey, headers);
  const count = async (table: 'files' | 'batches', tenant = stack.tenantId) =>
    Number(
      (await stack.db.query<{ n: string }>(`select count(*) as n from ${table} where tenant_id = $1`, [tenant]))
        .rows[0]!.n,
    );
  /** `/health` within 1 s (the bound), readiness (which reads the database) within a few. */
  async function live() {
    const started = Date.now();
    const res = await fetch(`${stack.baseURL.replace(/\/v1$/, '')}/health`, { signal: AbortSignal.timeout(1_000) });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000);
  }
  async function serviceAnswers() {
    await live();
    const ready = await fetch(`${stack.baseURL.replace(/\/v1$/, '')}/health/ready`, {
      signal: AbortSignal.timeout(5_000),
    });
    expect(ready.status).toBe(200);
  }
  /** Another tenant's chat completes normally (it needs the database for its key and its record). */
  async function otherTenantChats() {
    const res = await fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${otherKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'still there?' }] }),
      signal: AbortSignal.timeout(15_000),
    });
    expect(res.status).toBe(200);
  }
  /** The next upload (the official SDK's files.create) is stored promptly: no transaction or connection is held. */
  async function nextUploadSucceeds() {
    const file = await within(
      15_000,
      'the next upload',
      client.files.create({ file: await toFile(Buffer.from(line(1) + line(2)), 'ok.jsonl'), purpose: 'batch' }),
    );
    expect(file).toMatchObject({ object: 'file', purpose: 'batch' });
  }

  it('a bad first line followed by 300 KB gets a prompt 400, stores nothing, and holds nothing', async () => {
    const before = await count('files');
    const u = upload();
    const body = [multipartHead(), Buffer.from('this is not json\n'), ...lines(2_500), multipartTail];
    expect(body.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(300_000);
    void u.send(body);
    const out = await within(10_000, 'the rejected upload', u.outcome);
    expect(out.status).toBe(400);
    expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json', line: 1 });
    expect(out.body.error.message).toMatch(/^line 1: not valid JSON/);
    expect(await count('files')).toBe(before);
    await serviceAnswers();
    await otherTenantChats();
    await nextUploadSucceeds();
  });

  it('a 60,000-line file against the 50,000 limit gets a prompt 400 and holds nothing', async () => {
    const before = await count('files');
    const u = upload();
    void u.send([multipartHead(), ...lines(60_000), multipartTail]);
    // While the server reads it, /health answers within 1 s each time.
    let probes = 0;
    for (const end = Date.now() + 60_000; !u.settled && Date.now() < end; probes++) await live();
    expect(probes).toBeGreaterThan(0);
    const out = await within(30_000, 'the 60,000-line upload', u.outcome);
    expect(out.status).toBe(400);
    expect(out.body.error).toMatchObject({ code: 'too_many_items', line: 50_001 });
    expect(await count('files')).toBe(before);
    await serviceAnswers();
    await otherTenantChats();
    await nextUploadSucceeds();
  });

  it('a stalled upload holds no transaction, and after the idle timeout gets 408 or its socket closed', async () => {
    const before = await count('files');
    const body = Buffer.concat([multipartHead(), ...lines(2_000), multipartTail]);
    const u = upload({ ...multipartHeaders, 'content-length': body.length });
    const stalledAt = Date.now();
    await u.send([body.subarray(0, body.length >> 1)], false);
    // While it stalls: another upload writes, another tenant chats, the service answers.
    await nextUploadSucceeds();
    await otherTenantChats();
    await serviceAnswers();
    const out = await within(IDLE_MS + 10_000, 'the stalled upload', u.outcome);
    if (out.status !== undefined) {
      expect(out.status).toBe(408);
      expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code: 'body_timeout' });
    } else expect(out.error).toBeDefined();
    expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(await count('files')).toBe(before + 1); // the upload made while it stalled, not the stalled one
  });

  it('a stalled JSON body is released too (the ordinary body parser)', async () => {
    const body = JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] });
    const u = upload({ 'content-type': 'application/json', 'content-length': body.length }, '/chat/completions');
    await u.send([Buffer.from(body.slice(0, 5_000))], false);
    const out = await within(IDLE_MS + 10_000, 'the stalled JSON body', u.outcome);
    if (out.status !== undefined) expect(out.status).toBe(408);
    else expect(out.error).toBeDefined();
    await otherTenantChats();
  });

  it('clients that disconnect mid-body (more than the pool has connections) leave nothing open', async () => {
    const before = await count('files');
    for (let i = 0; i < 12; i++) {
      const u = upload();
      await u.send([multipartHead(), ...lines(1_000)], false);
      u.req.destroy();
      await within(5_000, 'the aborted upload', u.outcome);
    }
    // Also mid-way through a summarization batch's JSONL.
    for (let i = 0; i < 3; i++) {
      const u = upload({ 'content-type': 'application/x-ndjson' }, BATCHES);
      await u.send([Buffer.from(JSON.stringify({ id: 'a', text: 'x' }) + '\n{"id":"b","te')], false);
      u.req.destroy();
      await within(5_000, 'the aborted batch', u.outcome);
    }
    await nextUploadSucceeds();
    await otherTenantChats();
    await serviceAnswers();
    expect(await count('files')).toBe(before + 1);
  });

  it('a line far past the limit to the summarization endpoint gets 413 while the body is still being sent', async () => {
    const before = await count('batches');
    const u = upload({ 'content-type': 'application/x-ndjson' }, BATCHES);
    const MB = 1024 * 1024;
    const total = 64 * MB;
    // One JSON string with no newline: `{"id":"big","text":"xxxx…` for 64 MB, generated as it is sent.
    function* oneLine() {
      yield Buffer.from('{"id":"big","text":"');
      const chunk = Buffer.alloc(256 * 1024, 'x');
      for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
    }
    void u.send(oneLine());
    const out = await within(30_000, 'the oversized line', u.outcome);
    expect(out.status).toBe(413);
    expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code: 'line_too_long', line: 1 });
    expect(out.body.error.param).toBeTruthy();
    // Answered when a fraction of the body had gone out: the server stopped reading at the limit.
    expect(out.sentAtResponse).toBeLessThan(total / 2);
    expect(await count('batches')).toBe(before);
    await serviceAnswers();
    await otherTenantChats();
  });

  it('a line past the limit in a /v1/files upload gets 413 naming the file', async () => {
    const u = upload();
    function* big() {
      yield multipartHead();
      yield Buffer.from('{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"x":"');
      const chunk = Buffer.alloc(256 * 1024, 'y');
      for (let i = 0; i < 128; i++) yield chunk;
    }
    void u.send(big());
    const out = await within(30_000, 'the oversized file line', u.outcome);
    expect(out.status).toBe(413);
    expect(out.body.error).toMatchObject({ code: 'line_too_long', param: 'file', line: 1 });
    expect(out.sentAtResponse).toBeLessThan(128 * 256 * 1024);
    await nextUploadSucceeds();
  });

  it('a truncated multipart body gets 400, not 500', async () => {
    const before = await count('files');
    const body = Buffer.concat([multipartHead(), ...lines(10)]); // no closing boundary
    const u = upload({ ...multipartHeaders, 'content-length': body.length });
    void u.send([body]);
    const out = await within(10_000, 'the truncated multipart body', u.outcome);
    expect(out.status).toBe(400);
    expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_multipart', param: 'file' });
    expect(await count('files')).toBe(before);
    await nextUploadSucceeds();
  });

  it('a JSON body over the limit gets 413 before it is all sent', async () => {
    const u = upload({ 'content-type': 'application/json' }, '/chat/completions');
    function* big() {
      yield Buffer.from('{"model":"auto","messages":[{"role":"user","content":"');
      const chunk = Buffer.alloc(256 * 1024, 'z');
      for (let i = 0; i < 128; i++) yield chunk;
    }
    void u.send(big());
    const out = await within(30_000, 'the oversized JSON body', u.outcome);
    expect(out.status).toBe(413);
    expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code: 'body_too_large' });
    expect(out.sentAtResponse).toBeLessThan(128 * 256 * 1024);
    await otherTenantChats();
  });
});
