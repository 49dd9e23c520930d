/**
 * The bounded line reader and the upload spool, on in-memory streams: lines split from bytes
 * whatever the chunking, a line or a total past its limit refused as soon as it is crossed (not
 * at its newline), a failed source mapped to the caller's error, records spilled to a temporary
 * file read back in pages and removed (and none created once the spool is disposed), and the
 * wait for a writable to drain.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import fc from 'fast-check';
import { boundedLines, drained, type LineLimits } from '../../src/api/bodyStream';
import { HttpError } from '../../src/api/errors';
import { RecordSpool } from '../../src/api/uploadSpool';

const limits = (over: Partial<LineLimits> = {}): LineLimits => ({
  maxLineBytes: 1_000,
  maxBytes: 100_000,
  param: 'file',
  ...over,
});

async function collect(source: Readable, l = limits()) {
  const out: Array<{ text: string; lineNo: number }> = [];
  for await (const x of boundedLines(source, l)) out.push(x);
  return out;
}

describe('boundedLines', () => {
  it('splits UTF-8 lines at any chunking, \\r\\n and a last line without newline included', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !/[\r\n]/.test(s)),
          {
            minLength: 1,
            maxLength: 20,
          },
        ),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }),
        async (lines, crlf, cuts) => {
          const bytes = Buffer.from(lines.join(crlf ? '\r\n' : '\n'));
          const chunks: Buffer[] = [];
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const n = cuts[i % cuts.length]!;
            chunks.push(bytes.subarray(at, at + n));
            at += n;
          }
          const got = await collect(Readable.from(chunks));
          const expected = lines.map((text, i) => ({ text, lineNo: i + 1 }));
          // A trailing empty line has no bytes: it is not a line.
          if (lines[lines.length - 1] === '') expected.pop();
          expect(got).toEqual(expected);
        },
      ),
      { seed: 28, numRuns: 200 },
    );
  });

  it('refuses a line past its limit when the limit is crossed, before any newline arrives', async () => {
    const source = new PassThrough();
    const lines = collect(source, limits({ maxLineBytes: 100 }));
    source.write('{"ok":1}\n');
    source.write('x'.repeat(60));
    source.write('x'.repeat(60)); // 120 bytes, no newline yet, the stream not ended
    const err = await lines.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ status: 413, code: 'line_too_long', param: 'file', extra: { line: 2 } });
    // The reader left the source alone (a request must still be answered) and stopped reading it.
    expect(source.destroyed).toBe(false);
    source.destroy();
  });

  it('refuses a stream past its total as soon as it is crossed', async () => {
    const source = new PassThrough();
    const lines = collect(source, limits({ maxBytes: 1_000, param: 'body' }));
    for (let i = 0; i < 30; i++) source.write('{"line":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}\n');
    await expect(lines).rejects.toMatchObject({ status: 413, code: 'body_too_large', param: 'body' });
    source.destroy();
  });

  it('counts the bytes it read and strips a UTF-8 byte order mark', async () => {
    const counted = { bytes: 0 };
    const got = await collect(Readable.from([Buffer.from('\ufeffa\nb\n')]), limits({ counted }));
    expect(got.map((l) => l.text)).toEqual(['a', 'b']);
    expect(counted.bytes).toBe(7);
  });

  it('a failed source becomes the caller’s error (a client gone by default), never a raw exception', async () => {
    const gone = new PassThrough();
    const a = collect(gone);
    gone.write('partial');
    gone.destroy(new Error('aborted'));
    await expect(a).rejects.toMatchObject({ status: 400, code: 'request_aborted' });
    const broken = new PassThrough();
    const b = collect(
      broken,
      limits({ sourceError: (e) => HttpError.invalid(`bad: ${(e as Error).message}`, { code: 'invalid_multipart' }) }),
    );
    broken.destroy(new Error('Unexpected end of form'));
    await expect(b).rejects.toMatchObject({ status: 400, code: 'invalid_multipart' });
  });
});

describe('RecordSpool', () => {
  it('keeps small uploads in memory and reads them back in pages', async () => {
    const spool = new RecordSpool();
    for (let i = 0; i < 2_500; i++) await spool.add(JSON.stringify({ seq: i }));
    const pages: unknown[][] = [];
    for await (const p of spool.pages(1_000)) pages.push(JSON.parse(p) as unknown[]);
    expect(pages.map((p) => p.length)).toEqual([1_000, 1_000, 500]);
    expect(pages.flat()[2_499]).toEqual({ seq: 2_499 });
    await spool.dispose();
  });

  it('spills to a temporary file past its memory limit, pages by size, and removes the file', async () => {
    const spool = new RecordSpool(1_000);
    const text = 'é'.repeat(200);
    for (let i = 0; i < 50; i++) await spool.add(JSON.stringify({ seq: i, text }));
    const dir = (spool as unknown as { file?: { dir: string } }).file?.dir;
    expect(dir && fs.existsSync(dir)).toBeTruthy();
    const pages: unknown[][] = [];
    for await (const p of spool.pages(1_000, 2_500)) pages.push(JSON.parse(p) as unknown[]);
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.flat()).toEqual(Array.from({ length: 50 }, (_, seq) => ({ seq, text })));
    expect(spool.count).toBe(50);
    await spool.dispose();
    expect(fs.existsSync(dir!)).toBe(false);
  });

  describe('once disposed (a refused upload whose last records are still being read)', () => {
    let tmp: string;
    beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spool-test-'))));
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('takes no record and creates no file, whatever was in memory', async () => {
      const spool = new RecordSpool(100, tmp);
      await spool.add(JSON.stringify({ text: 'x'.repeat(60) })); // in memory, near the limit
      await spool.dispose();
      // Before the fix: the memory's size was still counted, so this record spilled to a new file.
      await expect(spool.add(JSON.stringify({ text: 'y'.repeat(60) }))).rejects.toThrow(/disposed/);
      expect(fs.readdirSync(tmp)).toEqual([]);
    });

    it('after a spill too: no record taken back into memory, no second file', async () => {
      const spool = new RecordSpool(100, tmp);
      for (let i = 0; i < 5; i++) await spool.add(JSON.stringify({ seq: i, text: 'x'.repeat(60) }));
      expect(fs.readdirSync(tmp)).toHaveLength(1);
      await spool.dispose();
      expect(fs.readdirSync(tmp)).toEqual([]);
      await expect(spool.add(JSON.stringify({ seq: 5, text: 'x'.repeat(60) }))).rejects.toThrow(/disposed/);
      await expect(spool.add(JSON.stringify({ seq: 6 }))).rejects.toThrow(/disposed/);
      expect(fs.readdirSync(tmp)).toEqual([]);
    });
  });
});

describe('drained', () => {
  /** A writable that takes writes only when told to (`flush`), with a tiny buffer. */
  function slowWritable() {
    const pending: Array<() => void> = [];
    const stream = new Writable({
      highWaterMark: 4,
      write(_chunk, _enc, callback) {
        pending.push(callback);
      },
    });
    return { stream, flush: () => pending.splice(0).forEach((cb) => cb()) };
  }
  const settledYet = async (p: Promise<void>) => {
    let done = false;
    void p.then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    return done;
  };

  it("resolves on 'drain', and leaves no listener behind", async () => {
    const { stream, flush } = slowWritable();
    expect(stream.write('more than four bytes')).toBe(false);
    const wait = drained(stream);
    expect(await settledYet(wait)).toBe(false);
    flush();
    await wait;
    expect(stream.listenerCount('drain')).toBe(0);
    expect(stream.listenerCount('close')).toBe(0);
  });

  it("resolves on 'close' (the stream went away) or at once if it is gone already", async () => {
    const { stream } = slowWritable();
    stream.on('error', () => undefined);
    stream.write('more than four bytes');
    const wait = drained(stream);
    stream.destroy();
    await wait;
    await drained(stream); // destroyed: nothing to wait for
  });

  it('resolves on an extra event given (a response to a request still being written)', async () => {
    const { stream } = slowWritable();
    stream.write('more than four bytes');
    const wait = drained(stream, ['response']);
    expect(await settledYet(wait)).toBe(false);
    stream.emit('response');
    await wait;
    expect(stream.listenerCount('response')).toBe(0);
  });
});

describe('jsonBody', () => {
  it('a malformed body is a 400 that quotes none of it (it may be a secret being stored)', async () => {
    const express = (await import('express')).default;
    const { jsonBody } = await import('../../src/api/bodyStream');
    const app = express();
    app.use(jsonBody(1_000_000));
    app.post('/x', (_req, res) => res.json({ ok: true }));
    app.use((err: HttpError, _req: unknown, res: { status(n: number): { json(b: unknown): void } }, _next: unknown) =>
      res.status(err.status).json({ message: err.message }),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as { port: number };
      const secret = 'sk-live-abcdefghijklmnopqrstuvwx';
      const res = await fetch(`http://127.0.0.1:${port}/x`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"value": ${secret}}`,
      });
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(text).toMatch(/Invalid JSON in request body: Unexpected token/);
      expect(text).not.toMatch(/abcdef/);
    } finally {
      server.close();
    }
  });
});
