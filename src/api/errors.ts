/**
 * HTTP errors in OpenAI's error shape, `{error: {message, type, param, code}}`, so the official
 * SDKs raise their usual typed exceptions (BadRequestError, AuthenticationError, …) against us.
 */
import type { Socket } from 'node:net';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { ConfigError } from '../config';
import { ConfigConflictError, ConfigValidationError } from '../services/configStore';

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'idempotency_error'
  | 'rate_limit_error'
  | 'budget_exceeded'
  | 'provider_error'
  | 'model_unavailable'
  | 'timeout_error'
  | 'server_error';

export interface HttpErrorOptions {
  /** The request field at fault (a body path such as `messages[0].role`, or a header name). */
  param?: string | null;
  /** A stable, machine-readable reason (`model_not_found`, `invalid_value`, …). */
  code?: string | null;
  /** More fields for the error object (`request_id`, `attempts`, `budget`, …). */
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export class HttpError extends Error {
  readonly param: string | null;
  readonly code: string | null;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    opts: HttpErrorOptions = {},
  ) {
    super(message);
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
    this.extra = opts.extra ?? {};
    this.headers = opts.headers ?? {};
  }

  /** 400: the client's request is wrong; `param` says where. */
  static invalid(message: string, opts?: HttpErrorOptions): HttpError {
    return new HttpError(400, 'invalid_request_error', message, opts);
  }

  static unauthenticated(message: string, opts?: HttpErrorOptions): HttpError {
    return new HttpError(401, 'authentication_error', message, opts);
  }

  static forbidden(message: string, opts?: HttpErrorOptions): HttpError {
    return new HttpError(403, 'permission_error', message, opts);
  }

  static notFound(message: string, opts?: HttpErrorOptions): HttpError {
    return new HttpError(404, 'not_found_error', message, opts);
  }

  /** 409: the request conflicts with what exists (an id taken, an Idempotency-Key reused). */
  static conflict(message: string, opts?: HttpErrorOptions & { type?: ErrorType }): HttpError {
    return new HttpError(409, opts?.type ?? 'invalid_request_error', message, opts);
  }

  /** 503: a dependency is down; the client may retry. */
  static unavailable(message: string, opts?: HttpErrorOptions): HttpError {
    return new HttpError(503, 'server_error', message, opts);
  }
}

/** `messages[0].role` from zod's path `['messages', 0, 'role']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    '',
  );
}

/** The first validation issue, phrased for a client: which field, and what is wrong with it. */
export function fromZodError(error: z.ZodError): HttpError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const param = formatPath([...issue.path, key]);
    return HttpError.invalid(`Unrecognized request argument supplied: ${param}`, { param, code: 'unknown_parameter' });
  }
  let path = formatPath(issue.path);
  let message = issue.message;
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator) {
    const key = String(issue.discriminator);
    // zod 4 already ends the path at the discriminator; older shapes end at the object.
    if (issue.path[issue.path.length - 1] !== key) path = formatPath([...issue.path, key]);
    message = `unsupported value for '${key}'`;
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'is required';
  const more =
    error.issues.length > 1
      ? ` (and ${error.issues.length - 1} more problem${error.issues.length > 2 ? 's' : ''})`
      : '';
  return HttpError.invalid(`Invalid value for '${path || 'body'}': ${message}${more}`, {
    param: path || null,
    code: 'invalid_value',
  });
}

/** Statuses the official SDKs would retry but a retry cannot fix (409: a reused Idempotency-Key). */
const NOT_RETRYABLE = new Set([400, 401, 403, 404, 409, 413, 415, 422]);

export function sendError(res: Parameters<RequestHandler>[1], err: HttpError): void {
  // The client's own mistake: say so, so the SDKs do not send it again (they retry 409s, for one).
  if (NOT_RETRYABLE.has(err.status)) res.setHeader('x-should-retry', 'false');
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res
    .status(err.status)
    .json({ error: { message: err.message, type: err.type, param: err.param, code: err.code, ...err.extra } });
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(HttpError.notFound(`Unknown endpoint: ${req.method} ${req.path}`, { code: 'unknown_url' }));
};

/**
 * Closes a connection whose request is answered before its body ended, without losing the answer.
 * Node destroys such a socket as soon as the answer is flushed (`destroySoon`); the client's bytes
 * still arriving then meet a closed socket and the kernel resets the connection, which can discard
 * the answer before the client reads it (a 413 seen as ECONNRESET). So: end our side, discard what
 * still arrives for at most `lingerMs`, then destroy (a lingering close, as web servers do).
 */
export function closeWhenAnswered(socket: Socket, res: Response, lingerMs = 2_000): void {
  res.setHeader('connection', 'close');
  socket.destroySoon = function lingeringClose(this: Socket) {
    const timer = setTimeout(() => this.destroy(), lingerMs).unref();
    this.once('close', () => clearTimeout(timer));
    this.once('end', () => this.destroy());
    this.end();
    this.on('data', () => undefined);
    this.resume();
  };
}

/** Last middleware: typed errors keep their status; body-parser errors become 400/413; the rest is a logged 500. */
export function errorHandler(log: (err: unknown) => void): ErrorRequestHandler {
  return (err, req, res, _next) => {
    // An answer already under way (a 408 for a stalled body, a stream cut short): nothing more to send.
    if (res.headersSent) {
      if (!(err instanceof HttpError)) log(err);
      if (!res.writableEnded) res.destroy();
      return;
    }
    // Answered before the body was read to its end: close the connection rather than read the rest.
    if (!req.complete) closeWhenAnswered(req.socket, res);
    if (err instanceof HttpError) return sendError(res, err);
    if (err instanceof ConfigValidationError) {
      const first = err.issues[0];
      return sendError(
        res,
        new HttpError(err.status, 'invalid_request_error', err.message, {
          param: first?.path || null,
          code: first?.code ?? 'invalid_config',
          extra: { issues: err.issues },
        }),
      );
    }
    if (err instanceof ConfigConflictError)
      return sendError(
        res,
        HttpError.conflict(err.message, {
          param: err.expected !== undefined ? 'If-Match' : null,
          code: err.expected !== undefined ? 'version_conflict' : 'config_busy',
          extra: { current_version: err.current },
        }),
      );
    if (err instanceof ConfigError) return sendError(res, HttpError.invalid(err.message, { code: 'invalid_config' }));
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed') {
      return sendError(res, HttpError.invalid(`Invalid JSON in request body: ${e.message}`, { code: 'invalid_json' }));
    }
    if (e.type === 'entity.too.large') {
      return sendError(
        res,
        new HttpError(413, 'invalid_request_error', 'Request body too large.', { code: 'body_too_large' }),
      );
    }
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      return sendError(
        res,
        new HttpError(415, 'invalid_request_error', e.message ?? 'Unsupported encoding.', {
          code: 'unsupported_encoding',
        }),
      );
    }
    log(err);
    return sendError(res, new HttpError(500, 'server_error', 'Internal error; it has been logged.'));
  };
}
