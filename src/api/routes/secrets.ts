/**
 * Provider keys stored in Switchyard (operators only): a catalog provider refers to one as
 * `apiKey: { secret: name }`. A value goes in and is never given back: not by these routes, not
 * in the audit log (which records the name and when), not in a log line (the request body is
 * replaced before the request is logged), not in the configuration (which holds only the name).
 * A secret an instance of the current configuration refers to is not deleted (409 `secret_in_use`):
 * that instance would lose its key at the workers' next read, with nothing saying why.
 */
import { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import { SECRET_NAME_PATTERN } from '../../domain/catalog';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import type { SecretInfo } from '../../db/providerSecrets';
import type { ConfigStore } from '../../services/configStore';
import { MasterKeyMissingError, type SecretStore } from '../../services/secretStore';
import { actorOf, requireOperator } from '../auth';
import { HttpError } from '../errors';
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
 * refusal's included (a member's PUT is still logged), shows `[redacted]` instead.
 */
const scrubBody: RequestHandler = (req, _res, next) => {
  (req as Scrubbed)[SENT] = req.body;
  if (req.body && typeof req.body === 'object') req.body = { value: '[redacted]' };
  next();
};

const masterKeyMissing = () =>
  HttpError.unavailable(new MasterKeyMissingError().message, { code: 'master_key_missing' });

export function secretRoutes(deps: { db: Db; secrets?: SecretStore; configStore?: ConfigStore }): Router {
  const router = Router();
  router.use('/v1/admin/secrets', scrubBody, requireOperator);

  router.get('/v1/admin/secrets', async (_req, res) => {
    // Listing needs no master key: names and dates are not encrypted.
    const all = deps.secrets ? await deps.secrets.list() : [];
    res.json({ object: 'list', data: all.map(shown) });
  });
  router.put('/v1/admin/secrets/:name', async (req, res) => {
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
  });
  router.delete('/v1/admin/secrets/:name', async (req, res) => {
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
  });
  return router;
}
