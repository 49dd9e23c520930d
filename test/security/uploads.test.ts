/**
 * Uploads and request bodies an attacker controls (issue 28, findings 1, 2, 5 and 13), over real
 * HTTP on PGlite and on PostgreSQL: an upload that fails part-way, a 60,000-line file, a stalled
 * body, a client that disconnects mid-body, a line far past the limit, a truncated multipart
 * body and compressed JSON bodies (a bomb, bad gzip, an endless stream that decompresses to
 * nothing) each get a prompt 4xx (or a closed socket) and hold nothing: afterwards another
 * tenant's chat, readiness and the next upload complete, `/health` answers within 1 s, and no
 * temporary upload file is left. A tenant's uploads in progress are capped (429 beyond).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import OpenAI, { toFile } from 'openai';
import { upsertApiKey } from '../../src/db/apiKeys';
import { CatalogSchema } from '../../src/domain/catalog';
import { dbKinds, uniqueId } from '../support/db';
import {
  BOUNDARY,
  multipartHead,
  multipartHeaders,
  multipartTail,
  RawUpload,
  until,
  within,
} from '../support/rawUpload';
import { fakeCatalogProviders, fakeModel, useTestStack } from '../support/stack';

const IDLE_MS = 2_000;
const BATCHES = '/operations/summarize/batches';
const MiB = 1024 * 1024;
/** The JSON body limit of the API (jsonBody in app.ts). */
const JSON_LIMIT = 4 * MiB;
/** The API's default cap on a tenant's uploads in progress. */
const MAX_UPLOADS = 4;

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
  let otherKey: string;
  let otherTenant: string;
  let client: OpenAI;
  let otherClient: OpenAI;
  // The server's temporary upload files go to a directory of this test's own.
  let spoolRoot: string;

  const stack = useTestStack(() => {
    spoolRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'uploads-test-'));
    return {
      db: kind,
      bodyIdleMs: IDLE_MS,
      catalog: (f) => CatalogSchema.parse({ providers: fakeCatalogProviders(f), models: [fakeModel('oa', 'primary')] }),
      // Every upload past 1 KiB goes through a temporary file, the path that can leak one.
      uploads: { spoolMemoryBytes: 1024, spoolDir: spoolRoot },
    };
  });
  beforeAll(async () => {
    otherTenant = uniqueId('other');
    otherKey = `sk-sy-${uniqueId('other')}`;
    await upsertApiKey(stack.db, otherTenant, otherKey, 'other tenant');
    client = new OpenAI({ apiKey: stack.apiKey, baseURL: stack.baseURL, maxRetries: 0, timeout: 15_000 });
    otherClient = new OpenAI({ apiKey: otherKey, baseURL: stack.baseURL, maxRetries: 0, timeout: 15_000 });
  });
  afterAll(() => {
    if (spoolRoot) fs.rmSync(spoolRoot, { recursive: true, force: true });
  });

  const spoolDirs = () => fs.readdirSync(spoolRoot).filter((name) => name.startsWith('switchyard-upload-'));
  /** Every upload's temporary file is removed once its request has ended (promptly, not at some later sweep). */
  const noSpoolLeft = () => until(5_000, 'no temporary upload file left', () => spoolDirs().length === 0);

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
    await noSpoolLeft();
    await serviceAnswers();
    await otherTenantChats();
    await nextUploadSucceeds();
  });

  it('a stalled upload holds no transaction, and after the idle timeout gets 408 and its connection closed', async () => {
    const before = await count('files');
    const body = Buffer.concat([multipartHead(), ...lines(2_000), multipartTail]);
    const u = upload({ ...multipartHeaders, 'content-length': body.length });
    // A summarization batch's JSONL stalls at the same time (its reader waits on the request itself).
    const docs = Buffer.from(
      Array.from({ length: 2_000 }, (_, i) => JSON.stringify({ id: `d${i}`, text: `text ${i}` }) + '\n').join(''),
    );
    const b = upload({ 'content-type': 'application/x-ndjson', 'content-length': docs.length }, BATCHES);
    const batchesBefore = await count('batches');
    const stalledAt = Date.now();
    await u.send([body.subarray(0, body.length >> 1)], false);
    await b.send([docs.subarray(0, docs.length >> 1)], false);
    // While they stall: another upload writes, another tenant chats, the service answers.
    await nextUploadSucceeds();
    await otherTenantChats();
    await serviceAnswers();
    const out = await within(IDLE_MS + 10_000, 'the stalled upload', u.outcome);
    expect(out.status).toBe(408);
    expect(out.headers?.connection).toBe('close');
    expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code: 'body_timeout' });
    expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(IDLE_MS - 100);
    const stalledBatch = await within(IDLE_MS + 10_000, 'the stalled batch', b.outcome);
    expect(stalledBatch.status).toBe(408);
    expect(stalledBatch.body.error).toMatchObject({ code: 'body_timeout' });
    expect(await count('files')).toBe(before + 1); // the upload made while it stalled, not the stalled one
    expect(await count('batches')).toBe(batchesBefore);
    // Their readers let go after the 408 (Node says nothing more of such a request): spools removed.
    await noSpoolLeft();
  });

  it('a stalled JSON body is released too (the ordinary body parser)', async () => {
    const body = JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] });
    const u = upload({ 'content-type': 'application/json', 'content-length': body.length }, '/chat/completions');
    const stalledAt = Date.now();
    await u.send([Buffer.from(body.slice(0, 5_000))], false);
    const out = await within(IDLE_MS + 10_000, 'the stalled JSON body', u.outcome);
    expect(out.status).toBe(408);
    expect(out.headers?.connection).toBe('close');
    expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code: 'body_timeout' });
    expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(IDLE_MS - 100);
    await otherTenantChats();
  });

  it('clients that disconnect mid-body (more than the pool has connections) leave nothing open', async () => {
    const before = await count('files');
    // More than the client's and the server's socket buffers can hold unread (tcp_wmem's 4 MiB at
    // most, and a receive buffer that grows only as the server reads): that it all drained proves
    // the server was reading this upload, parsing and spooling it to disk, when the client left.
    const pad = 'p'.repeat(4_000);
    const fat = (i: number) => Buffer.from(line(i).replace('hello', `hello ${pad}`));
    const SEND = 8 * MiB;
    const bodyOf = function* () {
      yield multipartHead();
      for (let i = 1, sent = 0; sent < SEND; i++) {
        const b = fat(i);
        sent += b.length;
        yield b;
      }
    };
    // 12 in a row: more than the pool's 10 connections, and three times the tenant's uploads in
    // progress. An upload the server did not release would hold its slot, and a later one here
    // would get 429 instead of draining.
    for (let i = 0; i < 12; i++) {
      const u = upload();
      await within(30_000, 'sending the upload', u.send(bodyOf(), false));
      expect(u.settled).toBe(false);
      expect(u.sent).toBeGreaterThan(SEND);
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
    // Released on the server: the next upload and another tenant's chat complete promptly, and
    // every aborted upload's temporary file is gone (none created after its request failed).
    await within(5_000, 'the next upload after the aborted ones', nextUploadSucceeds());
    await within(5_000, "another tenant's chat", otherTenantChats());
    await serviceAnswers();
    await noSpoolLeft();
    expect(await count('files')).toBe(before + 1);
  });

  it('an upload refused while its last lines are still being read leaves no temporary file', async () => {
    const before = await count('files');
    const spooled = () => {
      const [dir] = spoolDirs();
      if (!dir) return 0;
      try {
        return fs.statSync(path.join(spoolRoot, dir, 'records.jsonl')).size;
      } catch {
        return 0;
      }
    };
    for (let round = 0; round < 5; round++) {
      const u = upload();
      await u.send([multipartHead(), ...lines(100)], false);
      // The server has read, checked and spooled all of it (to disk: past 1 KiB), and waits for more.
      await until(10_000, 'the first 100 lines spooled', () => spooled() >= 100 * line(1).length);
      // In one piece: 30 more lines, the file part's end and a malformed part header. The parser
      // refuses the form in the same step as it hands the line reader those lines, so the request
      // fails while they are being spooled: the spool must outlive that work, not be re-created by it.
      u.req.end(Buffer.concat([...lines(30, 101), Buffer.from(`\r\n--${BOUNDARY}\r\nnot a header\r\n\r\n`)]));
      const out = await within(5_000, 'the refused upload', u.outcome);
      expect(out.status).toBe(400);
      expect(out.body.error).toMatchObject({ code: 'invalid_multipart', param: 'file' });
      await noSpoolLeft();
    }
    expect(await count('files')).toBe(before);
    await nextUploadSucceeds();
  });

  it(`a tenant's uploads in progress are capped (${MAX_UPLOADS}): the next gets 429, another tenant's still works`, async () => {
    // Uploads fed slowly (a line every 250 ms, never idle long enough for the 408): the attack of
    // finding 5, which holds memory, a parser and a spool per upload for as long as it is fed.
    const hold = () => {
      const u = upload();
      // Past the spool's 1 KiB: an upload the server has taken in has a temporary file.
      void u.send([multipartHead(), ...lines(10)], false);
      return u;
    };
    const held = Array.from({ length: MAX_UPLOADS }, hold);
    let n = 1_000;
    const feeder = setInterval(() => {
      for (const u of held) void u.send([Buffer.from(line(++n))], false);
    }, 250);
    try {
      await until(10_000, `the server holding ${MAX_UPLOADS} uploads`, async () => {
        // One refused at once (an earlier request's slot given back a moment late) is sent again.
        for (const [i, u] of held.entries())
          if (u.settled) {
            expect((await u.outcome).status).toBe(429);
            held[i] = hold();
          }
        return spoolDirs().length === MAX_UPLOADS;
      });
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([line(1)]), 'one.jsonl');
      const refused = await fetch(`${stack.baseURL}/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}` },
        body: form,
        signal: AbortSignal.timeout(10_000),
      });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(await refused.json()).toMatchObject({
        error: { type: 'rate_limit_error', code: 'too_many_uploads' },
      });
      // The batch intake is an upload too (JSONL here), refused before its body is read.
      const batch = upload({ 'content-type': 'application/x-ndjson' }, BATCHES);
      void batch.send([Buffer.from(JSON.stringify({ id: 'a', text: 'hello' }) + '\n')]);
      const out = await within(10_000, 'the batch past the cap', batch.outcome);
      expect(out.status).toBe(429);
      expect(out.body.error).toMatchObject({ code: 'too_many_uploads' });
      // Another tenant's upload is not held up, and the service answers.
      const other = await within(
        15_000,
        "another tenant's upload",
        otherClient.files.create({ file: await toFile(Buffer.from(line(1)), 'other.jsonl'), purpose: 'batch' }),
      );
      expect(other).toMatchObject({ object: 'file', purpose: 'batch' });
      await serviceAnswers();
      expect(held.every((u) => !u.settled)).toBe(true);
    } finally {
      clearInterval(feeder);
      for (const u of held) u.req.destroy();
    }
    // The held uploads gone, their slots come back within seconds.
    await until(5_000, 'an upload accepted again', async () => {
      try {
        await client.files.create({ file: await toFile(Buffer.from(line(1)), 'again.jsonl'), purpose: 'batch' });
        return true;
      } catch (err) {
        expect(err).toMatchObject({ status: 429 });
        return false;
      }
    });
    await noSpoolLeft();
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
    expect(out.headers?.connection).toBe('close');
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
    expect(out.headers?.connection).toBe('close');
    expect(out.sentAtResponse).toBeLessThan(128 * 256 * 1024);
    await nextUploadSucceeds();
    await noSpoolLeft();
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
    await noSpoolLeft();
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
    expect(out.headers?.connection).toBe('close');
    expect(out.sentAtResponse).toBeLessThan(128 * 256 * 1024);
    await otherTenantChats();
  });

  const chatBody = (headers: Record<string, string | number>) =>
    upload({ 'content-type': 'application/json', ...headers }, '/chat/completions');

  it('a gzip bomb gets 413 at the limit of what it decompresses to', async () => {
    const bomb = zlib.gzipSync(
      Buffer.concat([
        Buffer.from('{"model":"auto","messages":[{"role":"user","content":"'),
        Buffer.alloc(64 * MiB, 'a'),
      ]),
    );
    expect(bomb.length).toBeLessThan(JSON_LIMIT / 16);
    const u = chatBody({ 'content-encoding': 'gzip', 'content-length': bomb.length });
    void u.send([bomb]);
    const out = await within(30_000, 'the gzip bomb', u.outcome);
    expect(out.status).toBe(413);
    expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code: 'body_too_large', param: 'body' });
    await otherTenantChats();
  });

  it('a body that is not valid gzip gets 400 naming the body', async () => {
    const res = await fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stack.apiKey}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: '{"model":"auto","messages":[]} is not gzip',
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'invalid_body_encoding',
      param: 'body',
    });
  });

  it('a compressed body whose Content-Length is past the limit gets 413 before any of it is read', async () => {
    const u = chatBody({ 'content-encoding': 'gzip', 'content-length': JSON_LIMIT + 1 });
    const sentAt = Date.now();
    // A little of it, then nothing: only the declared length can refuse it (not the idle timeout).
    await u.send([zlib.gzipSync(Buffer.from('{"model":"auto"'))], false);
    const out = await within(IDLE_MS + 10_000, 'the over-long compressed body', u.outcome);
    expect(out.status).toBe(413);
    expect(out.body.error).toMatchObject({ code: 'body_too_large', param: 'body' });
    expect(Date.now() - sentAt).toBeLessThan(IDLE_MS);
  });

  it('an endless deflate stream of empty blocks gets 413 once the bytes sent pass the limit', async () => {
    // A zlib header, then empty stored blocks (`00 00 00 ff ff`: not final, length 0) forever:
    // each decompresses to nothing, so only the count of bytes sent can end it.
    const empty = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);
    const chunk = Buffer.concat(Array.from({ length: 13_107 }, () => empty)); // 64 KiB less a byte
    const TOTAL = 64 * MiB;
    function* endless() {
      yield Buffer.from([0x78, 0x01]);
      for (let sent = 0; sent < TOTAL; sent += chunk.length) yield chunk;
    }
    const u = chatBody({ 'content-encoding': 'deflate' });
    void u.send(endless());
    // While it is sent, /health answers within 1 s each time.
    let probes = 0;
    for (const end = Date.now() + 30_000; !u.settled && Date.now() < end; probes++) await live();
    const out = await within(30_000, 'the endless deflate stream', u.outcome);
    expect(out.status).toBe(413);
    expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code: 'body_too_large', param: 'body' });
    expect(out.headers?.connection).toBe('close');
    expect(out.sentAtResponse).toBeGreaterThan(JSON_LIMIT);
    expect(out.sentAtResponse).toBeLessThan(TOTAL / 2);
    expect(probes).toBeGreaterThan(0);
    await otherTenantChats();
  });
});
