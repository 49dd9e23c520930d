/**
 * API-key authentication (`Authorization: Bearer <key>` or `x-api-key`) and the three roles:
 * `member` uses the API and reads its own tenant's data; `admin` also manages its own tenant (its
 * keys, policy, budgets, replay of its requests); `operator` manages everything shared (catalog,
 * providers, breakers, the configuration) and every tenant. Another tenant's object is reported
 * as missing (404), never as forbidden: ids must not leak.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Db } from '../db';
import { findApiKey, touchApiKey, type KeyRole } from '../db/apiKeys';
import { findConsoleSession, type ConsoleSession } from '../db/consoleSessions';
import type { Actor } from '../db/audit';
import { FreshCache } from '../services/freshCache';
import { noteSwallowed } from '../services/metrics';
import { TenantIdSchema } from '../domain/tenant';
import { HttpError } from './errors';
import { validate } from './validate';

export interface AuthContext {
  tenantId: string;
  keyId: string;
  role: KeyRole;
}

declare module 'express-serve-static-core' {
  interface Request {
    auth?: AuthContext;
  }
}

/** Keys found are remembered this long per process: the request path makes no key read in steady use. */
const KEY_CACHE_MS = 1_000;

const REFUSED = {
  unknown: 'Incorrect API key provided.',
  revoked: 'This API key has been revoked.',
  expired: 'This API key has expired.',
} as const;

/**
 * Authenticates an API key (HTTP's bearer token, gRPC's `authorization` metadata): its owner, or
 * a 401 saying why not. Only valid keys are cached (a refusal throws, and FreshCache keeps nothing
 * of a failed load), so a revoked or expired key stops working within KEY_CACHE_MS.
 */
export function keyAuthenticator(db: Db): (key: string) => Promise<AuthContext> {
  const keys = new FreshCache<AuthContext>(KEY_CACHE_MS);
  return (key) =>
    keys.get(key, async () => {
      const found = await findApiKey(db, key);
      if (!found.ok) throw HttpError.unauthenticated(REFUSED[found.why], { code: `${found.why}_api_key` });
      // Last use is kept to the minute: written only when the stored one is older than that.
      if (!found.lastUsedAt || Date.now() - found.lastUsedAt.getTime() > 60_000)
        void touchApiKey(db, found.owner.keyId).catch((err: unknown) =>
          noteSwallowed('api_key_touch', err, { keyId: found.owner.keyId }, "the API key's last use was not recorded"),
        );
      return found.owner;
    });
}

/** The key of `Authorization: Bearer <key>`, else of `x-api-key`. */
export const apiKeyOf = (header: (name: string) => string | undefined): string | undefined =>
  header('authorization')?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? header('x-api-key');

export const MISSING_KEY = 'Missing API key: send "Authorization: Bearer <key>".';

export function requireApiKey(db: Db): RequestHandler {
  const authenticate = keyAuthenticator(db);
  const sessions = new FreshCache<ConsoleSession>(KEY_CACHE_MS);
  return (req, _res, next) => {
    const key = apiKeyOf((name) => req.header(name));
    const session = key ? undefined : consoleSessionId(req);
    if (session) {
      // The console's cookie stands for its key. Every call it authenticates must also carry the
      // session's CSRF token in a header: a page on another site can make the browser send the
      // cookie (were SameSite ever bypassed) but can neither read the token nor set the header.
      sessions
        .get(session, async () => {
          const found = await findConsoleSession(db, session);
          if (!found)
            throw HttpError.unauthenticated('The console session has ended or its key is no longer valid.', {
              code: 'session_expired',
            });
          return found;
        })
        .then((s) => {
          if (!sameToken(req.header(CSRF_HEADER), s.csrfToken)) {
            next(
              HttpError.forbidden(`A console request needs its session's ${CSRF_HEADER} header.`, {
                code: 'csrf_token_mismatch',
              }),
            );
            return;
          }
          req.auth = s.owner;
          next();
        })
        .catch(next);
      return;
    }
    if (!key) {
      next(HttpError.unauthenticated(MISSING_KEY, { code: 'missing_api_key' }));
      return;
    }
    authenticate(key)
      .then((owner) => {
        req.auth = owner;
        next();
      })
      .catch(next);
  };
}

/** The cookie holding a console session's id, and the header its CSRF token travels in. */
export const SESSION_COOKIE = 'sy_console';
export const CSRF_HEADER = 'x-switchyard-csrf';

/** The console session id of a request's cookie, if any. */
export function consoleSessionId(req: Request): string | undefined {
  const cookies = req.header('cookie');
  if (!cookies) return undefined;
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

const sameToken = (given: string | undefined, expected: string) =>
  given !== undefined && given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));

export function authOf(req: { auth?: AuthContext }): AuthContext {
  if (!req.auth) throw HttpError.unauthenticated('Not authenticated.', { code: 'missing_api_key' });
  return req.auth;
}

/** Who made a change, for the audit log. */
export function actorOf(req: Request): Actor {
  const a = authOf(req);
  return { keyId: a.keyId, tenantId: a.tenantId, role: a.role };
}

const RANK: Record<KeyRole, number> = { member: 0, admin: 1, operator: 2 };

export const hasRole = (auth: AuthContext, role: KeyRole) => RANK[auth.role] >= RANK[role];

/** A route for `role` and above (an operator can do what an admin can, an admin what a member can). */
export function requireRole(role: Exclude<KeyRole, 'member'>): RequestHandler {
  return (req, _res, next) => {
    if (!hasRole(authOf(req), role)) {
      next(HttpError.forbidden(`This endpoint needs an ${role} API key.`, { code: `${role}_required` }));
      return;
    }
    next();
  };
}

/** Any key: a member route. Under `/v1` the key is already checked; elsewhere this is the check (401). */
export const requireMember: RequestHandler = (req, _res, next) => {
  authOf(req);
  next();
};
/** Admin endpoints (a tenant's own policy, budgets, keys, replay): admins and operators. */
export const requireAdmin = requireRole('admin');
/** What every tenant shares (catalog, providers, breakers, the configuration): operators only. */
export const requireOperator = requireRole('operator');

/**
 * The tenant a request may act on: an operator any, anyone else only its own. A tenant id other
 * than the caller's is answered as not found (`what` names the object for the message).
 */
export function tenantInScope(req: { auth?: AuthContext }, tenantId: string, what = 'tenant'): string {
  const auth = authOf(req);
  if (auth.role === 'operator' || auth.tenantId === tenantId) return tenantId;
  throw HttpError.notFound(`No ${what} '${tenantId}'.`, { param: 'tenant_id', code: 'not_found' });
}

/** The `:id` path parameter as a tenant id the caller may act on (400 if malformed, 404 if another's). */
export const tenantFromPath = (req: { auth?: AuthContext; params: Record<string, unknown> }): string =>
  tenantInScope(req, validate(TenantIdSchema, req.params.id));

/** The tenant filter of a listing: undefined (all) for an operator, else the caller's tenant. */
export const tenantFilterOf = (req: { auth?: AuthContext }): string | undefined =>
  authOf(req).role === 'operator' ? undefined : authOf(req).tenantId;
