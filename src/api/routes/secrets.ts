/**
 * Provider keys stored in Switchyard (operators only): a catalog provider refers to one as
 * `apiKey: { secret: name }`. A value goes in and is never given back: not by these routes, not
 * in the audit log (which records the name and when), not in a log line (the request body is
 * replaced before the request is logged), not in the configuration (which holds only the name).
 * A secret an instance of the current configuration refers to is not deleted (409 `secret_in_use`):
 * that instance would lose its key at the workers' next read, with nothing saying why.
 */
import type { Request, RequestHandler } from 'express';
import { z } from 'zod';
import { SECRET_NAME_PATTERN } from '../../domain/catalog';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import type { SecretInfo } from '../../db/providerSecrets';
import type { ConfigStore } from '../../services/configStore';
import { MasterKeyMissingError, type SecretStore } from '../../services/secretStore';
import { actorOf } from '../auth';
import { HttpError } from '../errors';
import { ADMIN_ERRORS, routeSpecs } from '../routeSpec';
import { readBody, validate } from '../validate';

/** A stored value's bound: keys, tokens and service-account JSON fit; megabytes do not. */
export const SECRET_VALUE_MAX = 8 * 1024;

export const SecretValue = z
  .object({
    value: z.string().min(1, 'must not be empty').max(SECRET_VALUE_MAX, `at most ${SECRET_VALUE_MAX} characters`),
  })
  .strict();

export const SecretName = z
  .string()
  .regex(
    SECRET_NAME_PATTERN,
    'a secret name: up to 63 lowercase letters, digits, . _ - (starting with a letter or digit)',
  );

export const SecretInfoSchema = z.object({ name: z.string(), createdAt: z.string(), updatedAt: z.string() });

const shown = (s: SecretInfo) => ({
  name: s.name,
  createdAt: s.createdAt.toISOString(),
  updatedAt: s.updatedAt.toISOString(),
});

const nameOf = (req: Request) => validate(SecretName, req.params.name);

/** The body as sent, kept out of `req.body` (which the request log prints at debug level). */
const SENT = Symbol('sent body');
type Scrubbed = Request & { [SENT]?: unknown };

/**
 * Takes the value out of the request before anything else sees it: every later log line, a
 * refusal's included (a member's PUT is still logged), shows `[redacted]` instead. The app runs it
 * on the whole prefix (an unrouted method or path is logged too) and each route again, for a router
 * mounted without the app: the second pass keeps the body the first one took.
 */
export const scrubBody: RequestHandler = (req, _res, next) => {
  if (SENT in req) return next();
  (req as Scrubbed)[SENT] = req.body;
  if (req.body && typeof req.body === 'object') req.body = { value: '[redacted]' };
  next();
};

const masterKeyMissing = () =>
  HttpError.unavailable(new MasterKeyMissingError().message, { code: 'master_key_missing' });

type SecretDeps = { db: Db; secrets?: SecretStore; configStore?: ConfigStore };

export const secretRoutes = routeSpecs<SecretDeps>([
  {
    method: 'get',
    path: '/v1/admin/secrets',
    summary: 'Stored provider keys: names and dates, never values',
    tag: 'providers',
    role: 'operator',
    before: () => [scrubBody],
    response: z.object({ object: z.literal('list'), data: z.array(SecretInfoSchema) }),
    errors: [401, 403],
    handle: async (deps, _req, res) => {
      // Listing needs no master key: names and dates are not encrypted.
      const all = deps.secrets ? await deps.secrets.list() : [];
      res.json({ object: 'list', data: all.map(shown) });
    },
  },
  {
    method: 'put',
    path: '/v1/admin/secrets/:name',
    summary: 'Store or rotate a provider key, encrypted (a provider names it as `apiKey: { secret: name }`)',
    tag: 'providers',
    role: 'operator',
    before: () => [scrubBody],
    body: SecretValue,
    response: SecretInfoSchema,
    // 503: SWITCHYARD_MASTER_KEY is not set (`master_key_missing`).
    errors: [400, 401, 403, 503],
    handle: async (deps, req, res) => {
      const name = nameOf(req);
      const { value } = readBody({ body: (req as Scrubbed)[SENT] } as Request, SecretValue);
      if (!deps.secrets?.enabled) throw masterKeyMissing();
      const stored = await deps.secrets.put(name, value);
      await recordAudit(deps.db, {
        actor: actorOf(req),
        action: stored.created ? 'secret.create' : 'secret.rotate',
        target: name,
        after: shown(stored),
      });
      res.json(shown(stored));
    },
  },
  {
    method: 'delete',
    path: '/v1/admin/secrets/:name',
    summary: 'Delete a stored provider key',
    tag: 'providers',
    role: 'operator',
    before: () => [scrubBody],
    response: z.object({ name: z.string(), deleted: z.literal(true) }),
    // 409: a provider instance of the current configuration refers to it (`secret_in_use`).
    errors: [...ADMIN_ERRORS, 409],
    handle: async (deps, req, res) => {
      const name = nameOf(req);
      // The latest version, not this process's cached one: an instance added a moment ago counts.
      const providers = deps.configStore ? (await deps.configStore.refresh()).config.catalog.providers : [];
      const users = providers
        .filter((p) => p.apiKey && 'secret' in p.apiKey && p.apiKey.secret === name)
        .map((p) => p.id);
      if (users.length)
        throw HttpError.conflict(
          `The stored secret '${name}' is the key of provider instance${users.length > 1 ? 's' : ''} ${users.map((u) => `'${u}'`).join(', ')}: give ${users.length > 1 ? 'them' : 'it'} another apiKey (or remove ${users.length > 1 ? 'them' : 'it'}) first. Nothing was deleted.`,
          { param: 'name', code: 'secret_in_use' },
        );
      const deleted = deps.secrets ? await deps.secrets.delete(name) : false;
      if (!deleted) throw HttpError.notFound(`No stored secret '${name}'.`, { param: 'name', code: 'not_found' });
      await recordAudit(deps.db, { actor: actorOf(req), action: 'secret.delete', target: name });
      res.json({ name, deleted: true });
    },
  },
]);
