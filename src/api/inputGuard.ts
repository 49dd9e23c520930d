/**
 * What no schema should ever see, rejected before any route runs: strings PostgreSQL cannot store
 * (NUL) or that are not text (lone UTF-16 surrogates), JSON nested deeper than any real request
 * (a recursive validator would run out of stack), `__proto__` keys, and paths whose percent
 * encoding does not decode. Each is a 400 naming where it was; nothing reaches the database.
 */
import type { RequestHandler } from 'express';
import { formatPath, HttpError } from './errors';

export const MAX_JSON_DEPTH = 64;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function badString(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(s)) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return undefined;
}

/** The first problem in a parsed JSON value, with its path; undefined when clean. Iterative: no recursion. */
export function jsonProblem(value: unknown): { path: PropertyKey[]; message: string; code: string } | undefined {
  const stack: Array<{ v: unknown; path: PropertyKey[] }> = [{ v: value, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const why = badString(v);
      if (why) return { path, message: why, code: 'invalid_string' };
    } else if (v !== null && typeof v === 'object') {
      if (path.length >= MAX_JSON_DEPTH)
        return { path, message: `nested deeper than ${MAX_JSON_DEPTH} levels`, code: 'too_deep' };
      if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, path: [...path, i] }));
      else
        for (const [k, x] of Object.entries(v)) {
          const why = k === '__proto__' ? 'is not an allowed key' : badString(k);
          if (why) return { path: [...path, k], message: `the key ${why}`, code: 'invalid_key' };
          stack.push({ v: x, path: [...path, k] });
        }
    }
  }
  return undefined;
}

const reject = (where: string, p: { path: PropertyKey[]; message: string; code: string }) => {
  const param = formatPath(p.path);
  return HttpError.invalid(`Invalid ${where}${param ? ` '${param}'` : ''}: ${p.message}.`, {
    param: param || null,
    code: p.code,
  });
};

/** Before routing: every path segment decodes, to clean text. */
export const guardPath: RequestHandler = (req, _res, next) => {
  for (const segment of req.path.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      next(HttpError.invalid(`Malformed percent-encoding in the path: '${segment}'.`, { code: 'invalid_path' }));
      return;
    }
    const why = badString(decoded);
    if (why) {
      next(HttpError.invalid(`A path segment ${why}.`, { code: 'invalid_path' }));
      return;
    }
  }
  next();
};

/** After JSON parsing: the body and the query string. */
export const guardInput: RequestHandler = (req, _res, next) => {
  const inQuery = jsonProblem(req.query);
  if (inQuery) return next(reject('query parameter', inQuery));
  const inBody = req.body === undefined ? undefined : jsonProblem(req.body);
  if (inBody) return next(reject('value for', inBody));
  next();
};
