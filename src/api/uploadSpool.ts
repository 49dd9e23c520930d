/**
 * The checked records of one upload, kept until the whole upload has parsed: in memory up to
 * 1 MiB, then in a temporary file, so a large upload (several at once, per tenant) costs disk
 * rather than heap. The transaction that stores them opens only once the input is known good, and
 * reads them back at the server's pace: no client's pace ever holds a transaction or a pool
 * connection. Once disposed, a spool takes nothing more (a record still in flight from a refused
 * upload cannot create a file that nobody removes).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { drained } from './bodyStream';

export const SPOOL_MEMORY_BYTES = 1024 * 1024;

export class RecordSpool {
  private memory: string[] = [];
  private memoryChars = 0;
  private file?: { dir: string; path: string; out: fs.WriteStream };
  private failure?: Error;
  private records = 0;

  /** `dir`: where its temporary directory goes (default: the system's temporary directory). */
  constructor(
    private readonly memoryLimit = SPOOL_MEMORY_BYTES,
    private readonly dir?: string,
  ) {}

  get count(): number {
    return this.records;
  }

  /** Adds one record: a JSON text with no raw newline (JSON.stringify's output). */
  async add(json: string): Promise<void> {
    // First: after `dispose` (or a disk error) nothing is kept, and above all no file is created.
    this.check();
    this.records++;
    if (!this.file && this.memoryChars + json.length <= this.memoryLimit) {
      this.memory.push(json);
      this.memoryChars += json.length;
      return;
    }
    const out = this.file?.out ?? this.spill();
    // Back-pressure: wait for the disk, or for `dispose` (a refused upload) to end the wait.
    if (!out.write(`${json}\n`)) await drained(out);
    this.check();
  }

  /** Pages of records as JSON array text: at most `maxRows` records and about `maxChars` each (at least one). */
  async *pages(maxRows = 1_000, maxChars = 4 * 1024 * 1024): AsyncGenerator<string> {
    let page: string[] = [];
    let chars = 0;
    for await (const json of this.records_()) {
      if (page.length > 0 && (page.length >= maxRows || chars + json.length > maxChars)) {
        yield `[${page.join(',')}]`;
        page = [];
        chars = 0;
      }
      page.push(json);
      chars += json.length;
    }
    if (page.length > 0) yield `[${page.join(',')}]`;
  }

  /** Removes the temporary file, if any. Safe to call more than once. */
  async dispose(): Promise<void> {
    this.memory = [];
    this.memoryChars = 0;
    this.failure ??= new Error('the upload spool was disposed');
    const file = this.file;
    this.file = undefined;
    if (!file) return;
    file.out.destroy();
    await fs.promises.rm(file.dir, { recursive: true, force: true });
  }

  private async *records_(): AsyncGenerator<string> {
    yield* this.memory;
    if (!this.file) return;
    const { out, path: file } = this.file;
    this.check();
    if (!out.writableFinished)
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    this.check();
    // Our own records, one a line (JSON.stringify escapes every \n and \r): no client's bytes, no limits.
    const input = fs.createReadStream(file);
    const lines = readline.createInterface({ input, crlfDelay: Infinity });
    try {
      for await (const text of lines) if (text !== '') yield text;
    } finally {
      lines.close();
      input.destroy();
    }
  }

  private spill(): fs.WriteStream {
    const dir = fs.mkdtempSync(path.join(this.dir ?? os.tmpdir(), 'switchyard-upload-'));
    const file = path.join(dir, 'records.jsonl');
    const out = fs.createWriteStream(file, { mode: 0o600 });
    // A write error (disk full) fails the upload at its next step, never as an uncaught exception.
    out.on('error', (err) => (this.failure ??= err));
    this.file = { dir, path: file, out };
    for (const json of this.memory) out.write(`${json}\n`);
    this.memory = [];
    this.memoryChars = 0;
    return out;
  }

  private check() {
    if (this.failure) throw this.failure;
  }
}
