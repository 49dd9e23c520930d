/**
 * The operator console (issue 25), served by the API itself at `/console`: static pages (plain
 * ES modules and Chart.js from its npm package; nothing fetched from elsewhere) that call the same
 * `/v1` endpoints as every client, so a page shows and allows exactly what its key may.
 *
 * Sign-in trades an API key for a session: an opaque id in an `HttpOnly; SameSite=Strict` cookie
 * (the key never stays in the page, a URL or browser storage) and a CSRF token the page sends in a
 * header with every call (checked in `requireApiKey`).
 */
import path from 'node:path';
import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db';
import { findApiKey } from '../db/apiKeys';
import { endConsoleSession, findConsoleSession, startConsoleSession } from '../db/consoleSessions';
import { consoleSessionId, CSRF_HEADER, SESSION_COOKIE } from './auth';
import { jsonBody } from './bodyStream';
import { HttpError } from './errors';
import { validate } from './validate';

/** A session lasts a working day; signing in again starts a new one. */
const SESSION_TTL_MS = 8 * 3_600_000;

/** Where the pages are: next to this file in the sources and in the build alike. */
export const CONSOLE_DIR = path.join(__dirname, '..', 'console', 'web');

// The pages load only what this server serves; no inline script, no framing by other sites.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const SignIn = z.object({ key: z.string().min(1).max(512) }).strict();

function secureHeaders(res: Response) {
  res.setHeader('content-security-policy', CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
}

const cookieOptions = (req: Request, maxAgeMs: number) => ({
  httpOnly: true,
  sameSite: 'strict' as const,
  secure: req.secure,
  path: '/',
  maxAge: maxAgeMs,
});

export function consoleRouter(db: Db): Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    secureHeaders(res);
    res.setHeader('cache-control', 'no-store');
    next();
  });

  // Mounted at /console: `/console` and `/console/` are the page; its links are absolute.
  router.get('/', (_req, res) => res.sendFile(path.join(CONSOLE_DIR, 'index.html')));
  // The package exports only its module entry; its browser build sits next to it.
  const chartJs = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');
  router.get('/assets/vendor/chart.umd.js', (_req, res) => res.sendFile(chartJs));
  router.use('/assets', express.static(CONSOLE_DIR, { index: false }));

  router.post('/session', jsonBody(4096), async (req, res, next) => {
    try {
      // The key leaves the request before anything can log it (the request log's body, at debug).
      const sent: unknown = req.body;
      req.body = undefined;
      const { key } = validate(SignIn, sent ?? {});
      const found = await findApiKey(db, key);
      if (!found.ok)
        throw HttpError.unauthenticated(
          found.why === 'unknown' ? 'Incorrect API key provided.' : `This API key is ${found.why}.`,
          { code: `${found.why}_api_key` },
        );
      const s = await startConsoleSession(db, found.owner.keyId, SESSION_TTL_MS);
      res.cookie(SESSION_COOKIE, s.id, cookieOptions(req, SESSION_TTL_MS));
      res.status(201).json({
        object: 'console.session',
        tenant_id: found.owner.tenantId,
        role: found.owner.role,
        key_id: found.owner.keyId,
        csrf_token: s.csrfToken,
        expires_at: s.expiresAt.toISOString(),
      });
    } catch (err) {
      next(err);
    }
  });

  router.get('/session', async (req, res, next) => {
    try {
      const id = consoleSessionId(req);
      const s = id ? await findConsoleSession(db, id) : undefined;
      if (!s) throw HttpError.unauthenticated('Not signed in.', { code: 'no_session' });
      res.json({
        object: 'console.session',
        tenant_id: s.owner.tenantId,
        role: s.owner.role,
        key_id: s.owner.keyId,
        key_prefix: s.keyPrefix,
        csrf_token: s.csrfToken,
        expires_at: s.expiresAt.toISOString(),
      });
    } catch (err) {
      next(err);
    }
  });

  router.delete('/session', async (req, res, next) => {
    try {
      const id = consoleSessionId(req);
      const s = id ? await findConsoleSession(db, id) : undefined;
      if (id && s) {
        if (req.header(CSRF_HEADER) !== s.csrfToken)
          throw HttpError.forbidden(`Signing out needs the session's ${CSRF_HEADER} header.`, {
            code: 'csrf_token_mismatch',
          });
        await endConsoleSession(db, id);
      }
      res.clearCookie(SESSION_COOKIE, { path: '/' });
      res.status(204).end();
    } catch (err) {
      next(err);
    }
  });
  // Anything else under /console: the API's JSON 404, with the console's headers.
  router.use((req, _res, next) =>
    next(HttpError.notFound(`No console page at ${req.originalUrl.split('?')[0]}.`, { code: 'not_found' })),
  );
  return router;
}
