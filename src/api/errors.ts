/**
 * HTTP errors in OpenAI's error shape, `{error: {message, type, param, code}}`, so the official
 * SDKs raise their usual typed exceptions (BadRequestError, AuthenticationError, …) against us.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { z } from 'zod';
import { ConfigError } from '../config';
import { ConfigValidationError } from '../configStore';

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'idempotency_error'
  | 'rate_limit_error'
  | 'budget_exceeded'
  | 'provider_error'
  | 'timeout_error'
  | 'server_error';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** `messages[0].role` from zod's path `['messages', 0, 'role']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

/** The first validation issue, phrased for a client: which field, and what is wrong with it. */
export function fromZodError(error: z.ZodError): HttpError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const param = formatPath([...issue.path, key]);
    return new HttpError(400, 'invalid_request_error', `Unrecognized request argument supplied: ${param}`, param, 'unknown_parameter');
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
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem${error.issues.length > 2 ? 's' : ''})` : '';
  return new HttpError(400, 'invalid_request_error', `Invalid value for '${path || 'body'}': ${message}${more}`, path || null, 'invalid_value');
}

export function sendError(res: Parameters<RequestHandler>[1], err: HttpError): void {
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).json({ error: { message: err.message, type: err.type, param: err.param, code: err.code, ...err.extra } });
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'not_found_error', `Unknown endpoint: ${req.method} ${req.path}`, null, 'unknown_url'));
};

/** Last middleware: typed errors keep their status; body-parser errors become 400/413; the rest is a logged 500. */
export function errorHandler(log: (err: unknown) => void): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    if (err instanceof HttpError) return sendError(res, err);
    if (err instanceof ConfigValidationError) {
      const first = err.issues[0];
      return sendError(res, new HttpError(400, 'invalid_request_error', err.message, first?.path || null, 'invalid_config', { issues: err.issues }));
    }
    if (err instanceof ConfigError) return sendError(res, new HttpError(400, 'invalid_request_error', err.message, null, 'invalid_config'));
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed') {
      return sendError(res, new HttpError(400, 'invalid_request_error', `Invalid JSON in request body: ${e.message}`, null, 'invalid_json'));
    }
    if (e.type === 'entity.too.large') {
      return sendError(res, new HttpError(413, 'invalid_request_error', 'Request body too large.', null, 'body_too_large'));
    }
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      return sendError(res, new HttpError(415, 'invalid_request_error', e.message ?? 'Unsupported encoding.', null, 'unsupported_encoding'));
    }
    log(err);
    return sendError(res, new HttpError(500, 'server_error', 'Internal error; it has been logged.'));
  };
}
