/**
 * Request bodies a client controls, read with bounds. Lines are split from bytes and a line past
 * its limit is refused when the limit is crossed, not when its newline comes (a 600 MB line is
 * never held); a file and a request have a total; a client that leaves ends the read at once; a
 * body that stops arriving is answered 408 by `bodyIdleTimeout`. An answer sent before the body
 * ended closes the connection (the error handler's rule), so the rest of a refused body is never read.
 */
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { Request, RequestHandler, Response } from 'express';
import { HttpError, sendError } from './errors';

/** A body that sends nothing for this long is a stalled client: 408 and the connection closed. */
export const DEFAULT_BODY_IDLE_MS = 15_000;

export interface LineLimits {
  /** Bytes of one line, its newline excluded. */
  maxLineBytes: number;
  /** Bytes of the whole stream. */
  maxBytes: number;
  /** The request field the stream is (`file`, `body`), for the error's `param`. */
  param: string;
  /** What a failed source (an aborted request, a broken multipart body) becomes. */
  sourceError?: (err: unknown) => HttpError;
  /** Given, its `bytes` counts the bytes read so far. */
  counted?: { bytes: number };
}

/** The longest a line reader keeps the event loop before it lets other work run. */
const SLICE_MS = 10;

/** The client went away mid-body: nobody reads this answer, but the handler ends with it (no 500, no log). */
export const clientGone = (): HttpError =>
  HttpError.invalid('The client closed the request before its body was complete.', { code: 'request_aborted' });

/** 413 for a body past a limit (answered before the body ended, the connection then closes). */
export const tooLarge = (message: string, code: string, param: string, extra?: Record<string, unknown>): HttpError =>
  new HttpError(413, 'invalid_request_error', message, { code, param, extra });

/**
 * Resolves when a writable that refused more (`write` returned false) can take more ('drain'), or
 * never will ('close'), or on any of `also` (a client request's 'response', say): a writer waits
 * on it and cannot wait forever on a stream that went away.
 */
export function drained(stream: EventEmitter & { destroyed?: boolean }, also: readonly string[] = []): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  const events = ['drain', 'close', ...also];
  return new Promise<void>((resolve) => {
    const done = () => {
      for (const e of events) stream.off(e, done);
      resolve();
    };
    for (const e of events) stream.on(e, done);
  });
}

const mib = (n: number) => (n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`);

/**
 * The lines of a byte stream (UTF-8, `\n` or `\r\n`), numbered from 1, blank ones included. At
 * most one line is held; reading waits while the caller works on a line (back-pressure). Leaving
 * the loop early does not destroy `source` (a request must still be answered).
 */
export async function* boundedLines(
  source: Readable,
  limits: LineLimits,
): AsyncGenerator<{ text: string; lineNo: number }> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let total = 0;
  let lineNo = 0;
  const lineTooLong = () =>
    tooLarge(`line ${lineNo + 1}: longer than ${mib(limits.maxLineBytes)}`, 'line_too_long', limits.param, {
      line: lineNo + 1,
    });
  const decode = (last: Buffer) => {
    let text = (parts.length ? Buffer.concat([...parts, last]) : last).toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (lineNo === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    parts = [];
    partBytes = 0;
    return text;
  };
  // Lines already buffered come one after another with no I/O between them: every few ms of
  // work on them, let the event loop run, so other requests (and /health) are answered meanwhile.
  let slice = performance.now();
  const breathe = async () => {
    if (performance.now() - slice < SLICE_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    slice = performance.now();
  };
  const chunks = source.iterator({ destroyOnReturn: false });
  try {
    for await (const raw of chunks) {
      const chunk = typeof raw === 'string' ? Buffer.from(raw) : (raw as Buffer);
      total += chunk.length;
      if (limits.counted) limits.counted.bytes = total;
      if (total > limits.maxBytes)
        throw tooLarge(
          `The ${limits.param} is larger than ${mib(limits.maxBytes)}.`,
          limits.param === 'file' ? 'file_too_large' : 'body_too_large',
          limits.param,
        );
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
        if (partBytes + nl - start > limits.maxLineBytes) throw lineTooLong();
        const text = decode(chunk.subarray(start, nl));
        lineNo++;
        start = nl + 1;
        await breathe();
        yield { text, lineNo };
      }
      if (start < chunk.length) {
        partBytes += chunk.length - start;
        if (partBytes > limits.maxLineBytes) throw lineTooLong();
        parts.push(chunk.subarray(start));
      }
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw limits.sourceError ? limits.sourceError(err) : clientGone();
  }
  if (partBytes > 0) {
    const text = decode(Buffer.alloc(0));
    lineNo++;
    yield { text, lineNo };
  }
}

/**
 * Rejects as soon as the request is gone before its body ended (the client disconnected, or the
 * idle timeout closed it), so a read that waits on another stream (busboy's) does not wait forever.
 */
export function requestGone(req: Request): { promise: Promise<never>; dispose(): void } {
  let onClose: () => void = () => undefined;
  const promise = new Promise<never>((_, reject) => {
    onClose = () => {
      if (!req.complete) reject(clientGone());
    };
    if (req.destroyed && !req.complete) reject(clientGone());
    req.on('close', onClose);
    req.on('aborted', onClose);
  });
  promise.catch(() => undefined); // marked handled: the reader races it and gets the error there
  return {
    promise,
    dispose: () => {
      req.off('close', onClose);
      req.off('aborted', onClose);
    },
  };
}

const DECODERS: Record<string, (() => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress) | undefined> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

/**
 * The JSON body parser (`application/json`, UTF-8, optionally gzip, deflate or br): bytes counted
 * as they arrive, both as sent and after decompression, so a body past `limitBytes` either way is
 * a 413 at that byte (or at once, from its Content-Length) and the rest is never read: a bomb stops
 * at the limit of what it decompresses to, an endless compressed stream that decompresses to
 * nothing at the limit of what it sends. Strict, as express.json: an object or an array; an empty
 * body is `{}`. A client that leaves mid-body is let go with no 500.
 */
export function jsonBody(limitBytes: number): RequestHandler {
  return (req, _res, next) => {
    if (!hasBody(req) || !req.is('application/json')) return next();
    readJson(req, limitBytes).then((body) => {
      req.body = body;
      next();
    }, next);
  };
}

async function readJson(req: Request, limitBytes: number): Promise<unknown> {
  const tooBig = () => tooLarge(`The request body is larger than ${mib(limitBytes)}.`, 'body_too_large', 'body');
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8')
    throw new HttpError(415, 'invalid_request_error', `Unsupported charset "${charset}": send UTF-8.`, {
      code: 'unsupported_charset',
    });
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  const decoder = encoding === 'identity' ? undefined : DECODERS[encoding];
  if (encoding !== 'identity' && !decoder)
    throw new HttpError(415, 'invalid_request_error', `Unsupported content encoding "${encoding}".`, {
      code: 'unsupported_encoding',
    });
  // Compressed or not, the bytes sent are bounded too: no need to read a body declared too large.
  if (Number(req.headers['content-length'] ?? 0) > limitBytes) throw tooBig();
  const source: Readable = decoder ? req.pipe(decoder()) : req;
  const parts: Buffer[] = [];
  let total = 0;
  const gone = requestGone(req);
  // The bytes sent, counted as they arrive (a decoder may turn many into none, and be fed forever).
  let sent = 0;
  let rawTooBig: (err: HttpError) => void = () => undefined;
  const overSent = new Promise<never>((_, reject) => (rawTooBig = reject));
  overSent.catch(() => undefined); // marked handled: raced below, where the error is thrown
  const countSent = (chunk: Buffer) => {
    sent += chunk.length;
    if (sent > limitBytes) rawTooBig(tooBig());
  };
  if (decoder) req.on('data', countSent);
  const read = (async () => {
    try {
      for await (const chunk of source.iterator({ destroyOnReturn: false })) {
        total += (chunk as Buffer).length;
        if (total > limitBytes) throw tooBig();
        parts.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (decoder && !(req.destroyed && !req.complete))
        throw HttpError.invalid(`The body is not valid ${encoding}: ${(err as Error).message}`, {
          param: 'body',
          code: 'invalid_body_encoding',
        });
      throw clientGone();
    }
  })();
  try {
    // A decompressor does not end when its request is cut short: the request's end decides.
    await Promise.race([read, gone.promise, overSent]);
  } finally {
    gone.dispose();
    if (decoder) {
      req.off('data', countSent);
      req.unpipe(source as zlib.Gunzip);
      source.on('error', () => undefined);
      source.destroy();
    }
  }
  let text = Buffer.concat(parts).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return {};
  const first = text.trimStart()[0];
  try {
    const value: unknown = JSON.parse(text);
    if (first !== '{' && first !== '[') throw new SyntaxError(`expected an object or an array, got ${first}`);
    return value;
  } catch (err) {
    // V8 quotes the text around the error: that could be a secret being stored, so it is cut.
    const why = (err as Error).message.replace(/,\s*(\.\.\.)?".*$/s, '');
    throw HttpError.invalid(`Invalid JSON in request body: ${why}`, {
      param: 'body',
      code: 'invalid_json',
    });
  }
}

/** Whether the request has a body to read (the rule of type-is and body-parser). */
const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/**
 * While a request's body is read, its socket has an idle timeout (Node refreshes it on every piece
 * of the body parsed). When it fires and the client is to blame (the body is incomplete and nothing
 * waits unread on our side), the answer is 408 and the connection closes: every reader of the body
 * (the JSON parser, busboy, the JSONL reader) then sees the request end and lets go. Cleared when
 * the body has been read, so a slow answer is never cut.
 */
export function bodyIdleTimeout(idleMs: number): RequestHandler {
  return (req, res, next) => {
    if (!hasBody(req) || idleMs <= 0) return next();
    const socket = req.socket;
    const serverTimeout = (socket as { server?: { timeout?: number } }).server?.timeout ?? 0;
    const release = () => {
      req.off('timeout', onIdle);
      res.off('timeout', onIdle);
      req.off('end', onEnd);
      res.off('finish', release);
      res.off('close', release);
    };
    // The body is in: back to the server's own timeout (Node sets keep-alive's after the answer).
    const onEnd = () => {
      release();
      if (!res.writableFinished) socket.setTimeout(serverTimeout);
    };
    function onIdle() {
      if (req.complete) return onEnd();
      // Unread data on our side: we are the slow one, not the client.
      if (req.readableLength > 0 || res.headersSent) return;
      release();
      stalled(req, res, idleMs);
    }
    req.setTimeout(idleMs);
    req.on('timeout', onIdle);
    res.on('timeout', onIdle);
    req.on('end', onEnd);
    res.on('finish', release);
    res.on('close', release);
    next();
  };
}

function stalled(req: Request, res: Response, idleMs: number) {
  sendError(
    res,
    // Sent from here, not through the error handler: the connection's close is said here too.
    new HttpError(408, 'invalid_request_error', `No part of the request body arrived for ${idleMs} ms.`, {
      code: 'body_timeout',
      headers: { connection: 'close' },
    }),
  );
  // Node closes the connection once the answer is written; a client that reads nothing cannot hold it.
  const timer = setTimeout(() => res.socket?.destroy(), 1_000);
  timer.unref();
  res.once('close', () => {
    clearTimeout(timer);
    // Node signals nothing more on a request answered before its body ended (no 'close', no
    // 'aborted'): destroyed, it ends every read still waiting on it (busboy, a line reader).
    if (!req.complete) req.destroy();
  });
}
