/** API-key authentication: `Authorization: Bearer <key>` (or `x-api-key`) → the key's tenant. */
import type { RequestHandler } from 'express';
import type { Db } from '../db';
import { findApiKey } from '../db/apiKeys';
import { FreshCache } from '../services/freshCache';
import { HttpError } from './errors';

export interface AuthContext {
  tenantId: string;
  keyId: string;
  role: 'admin' | 'member';
}

declare module 'express-serve-static-core' {
  interface Request {
    auth?: AuthContext;
  }
}

/** Keys found are remembered this long per process: the request path makes no key read in steady use. */
const KEY_CACHE_MS = 1_000;

export function requireApiKey(db: Db): RequestHandler {
  // Only keys that exist are cached (a miss throws, and FreshCache keeps nothing of a failed load).
  const keys = new FreshCache<AuthContext>(KEY_CACHE_MS);
  return (req, _res, next) => {
    const header = req.header('authorization');
    const key = header?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? req.header('x-api-key');
    if (!key) {
      next(
        HttpError.unauthenticated('Missing API key: send "Authorization: Bearer <key>".', { code: 'missing_api_key' }),
      );
      return;
    }
    keys
      .get(key, async () => {
        const owner = await findApiKey(db, key);
        if (!owner) throw HttpError.unauthenticated('Incorrect API key provided.', { code: 'invalid_api_key' });
        return owner;
      })
      .then((owner) => {
        req.auth = owner;
        next();
      })
      .catch(next);
  };
}

export function authOf(req: { auth?: AuthContext }): AuthContext {
  if (!req.auth) throw HttpError.unauthenticated('Not authenticated.', { code: 'missing_api_key' });
  return req.auth;
}

/** Admin endpoints (configuration, rules, overrides, replay): an admin key only. */
export const requireAdmin: RequestHandler = (req, _res, next) => {
  if (authOf(req).role !== 'admin') {
    next(HttpError.forbidden('This endpoint needs an admin API key.', { code: 'admin_required' }));
    return;
  }
  next();
};
