/**
 * Raw uploads for security tests: a request written piece by piece with node:http (real HTTP), so
 * a test can stall it, cut it, disconnect mid-body or keep sending past a limit, and see when the
 * answer came relative to what had been sent. Also the multipart framing the SDKs use.
 */
import http from 'node:http';
import { drained } from '../../src/api/bodyStream';

export const BOUNDARY = 'switchyard-test-boundary';

/** What a raw upload got: a response (status, headers, parsed body, how much had been sent by then) or a socket error. */
export interface Outcome {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: any;
  error?: string;
  sentAtResponse?: number;
}

/** One request written piece by piece with node:http, so a test can stall, cut or over-send it. */
export class RawUpload {
  readonly req: http.ClientRequest;
  readonly outcome: Promise<Outcome>;
  sent = 0;
  settled = false;
  private responded = false;

  constructor(url: string, key: string, headers: Record<string, string | number>) {
    this.req = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers } });
    this.outcome = new Promise<Outcome>((resolve) => {
      this.req.on('response', (res) => {
        this.responded = true;
        const sentAtResponse = this.sent;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        const done = () => {
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = text;
          }
          resolve({ status: res.statusCode, headers: res.headers, body, sentAtResponse });
        };
        res.on('end', done);
        res.on('error', done);
      });
      this.req.on('error', (err: NodeJS.ErrnoException) => {
        if (!this.responded) resolve({ error: err.code ?? err.message });
      });
      this.req.on('close', () => {
        if (!this.responded) resolve({ error: 'closed' });
      });
    }).finally(() => (this.settled = true));
  }

  /** Writes chunks with back-pressure until they run out, the server answers or the socket fails. */
  async send(chunks: Iterable<Buffer>, end = true): Promise<void> {
    for (const chunk of chunks) {
      if (this.settled || this.responded || this.req.destroyed) return;
      this.sent += chunk.length;
      // The server answering (a 413 mid-body) ends the wait too: it may never read the rest.
      if (!this.req.write(chunk)) await drained(this.req, ['response']);
    }
    if (end && !this.settled && !this.req.destroyed) this.req.end();
  }
}

/** Polls `check` every 50 ms until it holds; throws naming `what` when it has not within `ms`. */
export async function until(ms: number, what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (const end = Date.now() + ms; !(await check());) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Rejects when `p` has not settled within `ms` (a bound on a wait, not a sleep). */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const multipartHead = (filename = 'batch.jsonl') =>
  Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
      'Content-Type: application/jsonl\r\n\r\n',
  );
export const multipartTail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
export const multipartHeaders = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
