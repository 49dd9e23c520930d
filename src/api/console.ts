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
import express, { type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { Db } from '../db';
import { findApiKey, type ApiKeyOwner } from '../db/apiKeys';
import { endConsoleSession, findConsoleSession, startConsoleSession } from '../db/consoleSessions';
import { consoleSessionId, CSRF_HEADER, SESSION_COOKIE } from './auth';
import { jsonBody } from './bodyStream';
import { HttpError } from './errors';
import { routeSpecs } from './routeSpec';
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

/** The console's headers on everything under /console (its API routes and assets alike). */
export const consoleHeaders: RequestHandler = (_req, res, next) => {
  secureHeaders(res);
  res.setHeader('cache-control', 'no-store');
  next();
};

/** The assets (ES modules, CSS) by file; anything else under /console is the API's JSON 404. */
export const consoleAssets = express.static(CONSOLE_DIR, { index: false });

// The package exports only its module entry; its browser build sits next to it.
const CHART_JS = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');

const sessionJson = (s: { owner: ApiKeyOwner; csrfToken: string; expiresAt: Date }, keyPrefix?: string) => ({
  object: 'console.session',
  signed_in: true,
  tenant_id: s.owner.tenantId,
  role: s.owner.role,
  key_id: s.owner.keyId,
  ...(keyPrefix !== undefined && { key_prefix: keyPrefix }),
  csrf_token: s.csrfToken,
  expires_at: s.expiresAt.toISOString(),
});

export const consoleRoutes = routeSpecs<{ db: Db }>([
  {
    method: 'get',
    path: '/console',
    summary: 'The operator console (sign in with an API key)',
    tag: 'console',
    role: 'none',
    responseType: 'text/html',
    errors: [],
    handle: (_deps, _req, res) => res.sendFile(path.join(CONSOLE_DIR, 'index.html')),
  },
  {
    method: 'get',
    path: '/console/assets/vendor/chart.umd.js',
    summary: "The console's charting library (Chart.js, from its npm package)",
    tag: 'console',
    role: 'none',
    responseType: 'text/javascript',
    errors: [],
    handle: (_deps, _req, res) => res.sendFile(CHART_JS),
  },
  {
    method: 'post',
    path: '/console/session',
    summary: 'Sign in: an API key for a session cookie (HttpOnly, SameSite=Strict) and its CSRF token',
    tag: 'console',
    role: 'none',
    body: SignIn,
    before: () => [jsonBody(4096)],
    errors: [400, 401],
    handle: async (deps, req, res) => {
      // The key leaves the request before anything can log it (the request log's body, at debug).
      const sent: unknown = req.body;
      req.body = undefined;
      const { key } = validate(SignIn, sent ?? {});
      const found = await findApiKey(deps.db, key);
      if (!found.ok)
        throw HttpError.unauthenticated(
          found.why === 'unknown' ? 'Incorrect API key provided.' : `This API key is ${found.why}.`,
          { code: `${found.why}_api_key` },
        );
      const s = await startConsoleSession(deps.db, found.owner.keyId, SESSION_TTL_MS);
      res.cookie(SESSION_COOKIE, s.id, cookieOptions(req, SESSION_TTL_MS));
      res.status(201).json(sessionJson({ owner: found.owner, ...s }));
    },
  },
  {
    method: 'get',
    path: '/console/session',
    summary: 'The signed-in session (from its cookie), or `signed_in: false`',
    tag: 'console',
    role: 'none',
    errors: [],
    handle: async (deps, req, res) => {
      const id = consoleSessionId(req);
      const s = id ? await findConsoleSession(deps.db, id) : undefined;
      // Not signed in is an answer, not an error: the page asks before it knows.
      if (!s) return void res.json({ object: 'console.session', signed_in: false });
      res.json(sessionJson(s, s.keyPrefix));
    },
  },
  {
    method: 'delete',
    path: '/console/session',
    summary: "Sign out (needs the session's CSRF header)",
    tag: 'console',
    role: 'none',
    errors: [403],
    handle: async (deps, req, res) => {
      const id = consoleSessionId(req);
      const s = id ? await findConsoleSession(deps.db, id) : undefined;
      if (id && s) {
        if (req.header(CSRF_HEADER) !== s.csrfToken)
          throw HttpError.forbidden(`Signing out needs the session's ${CSRF_HEADER} header.`, {
            code: 'csrf_token_mismatch',
          });
        await endConsoleSession(deps.db, id);
      }
      res.clearCookie(SESSION_COOKIE, { path: '/' });
      res.status(204).end();
    },
  },
]);
