/**
 * Configuration versions as HTTP validators. A read of the configuration (or of a tenant's part
 * of it) carries `ETag: "<version>"`; a write may send it back as `If-Match` to say which version
 * it was computed from, and is then refused with 409 if the configuration changed since. Without
 * If-Match, a write is applied to the latest version (a change to one tenant's budget, say, does
 * not undo another write that landed meanwhile). The version covers the whole configuration, so
 * any change in between, even to another tenant, is a conflict.
 */
import type { Request, Response } from 'express';
import type { WriteOptions } from '../services/configStore';
import { HttpError } from './errors';

/** The write's expected version from `If-Match` (absent or `*`: none). */
export function expectedVersion(req: Request): WriteOptions {
  const header = req.header('if-match')?.trim();
  if (header === undefined || header === '*') return {};
  const m = /^"?(\d{1,9})"?$/.exec(header);
  if (!m)
    throw HttpError.invalid(
      `If-Match must be a configuration version, as a read's ETag gives it (e.g. "12"); got '${header.slice(0, 40)}'.`,
      { param: 'If-Match', code: 'invalid_value' },
    );
  return { expectedVersion: Number(m[1]) };
}

/** Marks a response with the configuration version it was read from. */
export function tagVersion(res: Response, version: number): void {
  res.setHeader('ETag', `"${version}"`);
}
