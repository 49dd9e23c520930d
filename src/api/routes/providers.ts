/**
 * `GET /v1/providers`: every endpoint's breaker (`data`: state, open-until, EWMA latency, error
 * rate, last error: its type and time only, as a provider's own error text can echo what it was
 * sent), and every provider instance (`providers`: its kind, region, residency, models and the
 * worst of their breakers). Operators also see each instance's host and where its key comes
 * from (the reference, never a value); other roles do not see how the deployment is wired.
 * `POST /v1/providers/{provider}/{model}/breaker` (operator): force it open or closed.
 */
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { nudgeAlertMonitor } from '../../clients/alertMonitor';
import type { ConfigStore } from '../../services/configStore';
import type { HealthClient } from '../../clients/providerHealth';
import type { Db } from '../../db';
import { recordAudit } from '../../db/audit';
import type { BreakerSnapshot, BreakerStatus } from '../../domain/breaker';
import { kindOf, residencyOf, type Catalog, type Provider } from '../../domain/catalog';
import { kindNamed } from '../../providers/kinds';
import { actorOf, authOf, hasRole } from '../auth';
import { HttpError } from '../errors';
import { ADMIN_ERRORS, routeSpecs } from '../routeSpec';
import { modelParam, readBody } from '../validate';

// Forcing a breaker open needs a reason (it stops traffic for every tenant); closing may give one.
export const ForceBody = z.discriminatedUnion('action', [
  z.object({ action: z.literal('open'), reason: z.string().trim().min(1, 'a reason is required').max(500) }).strict(),
  z
    .object({ action: z.literal('close'), reason: z.string().trim().min(1).max(500).default('closed by an operator') })
    .strict(),
]);

const breakerView = z.object({ status: z.enum(['closed', 'half-open', 'open']) }).loose();
const providerList = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({ id: z.string(), provider: z.string(), model: z.string(), status: z.string(), breaker: breakerView }),
  ),
  providers: z.array(
    z.object({
      id: z.string(),
      kind: z.string(),
      label: z.string(),
      host: z.string().nullable().optional().meta({ description: 'The base URL host (operators only)' }),
      region: z.string().nullable(),
      residency: z.string().nullable(),
      apiKey: z
        .union([
          z.object({ env: z.string() }),
          z.object({ secret: z.string() }),
          z.literal('environment'),
          z.literal('none'),
        ])
        .optional()
        .meta({ description: 'Where the key comes from, never its value (operators only)' }),
      models: z.array(z.string()),
      breaker: z.object({
        status: z.enum(['closed', 'half-open', 'open']),
        open: z.number().int(),
        lastError: z.object({ type: z.string(), at: z.string() }).optional(),
      }),
    }),
  ),
});

/** What every tenant may see of a breaker: no provider prose (it is shared by every tenant). */
function publicBreaker(s: BreakerSnapshot) {
  const { lastError, ...rest } = s;
  return { ...rest, ...(lastError && { lastError: { type: lastError.type, at: lastError.at } }) };
}

type PublicBreaker = ReturnType<typeof publicBreaker>;

/**
 * Where an instance's key comes from, never the key: `{ env: NAME }`, `{ secret: name }` (stored
 * encrypted), `'environment'` (the key the environment has for its id, OPENAI_API_KEY for
 * `openai`…), or `'none'`.
 */
export function keyReference(p: Provider): { env: string } | { secret: string } | 'environment' | 'none' {
  if (p.apiKey) return 'env' in p.apiKey ? { env: p.apiKey.env } : { secret: p.apiKey.secret };
  if (p.simulated || p.credential === 'none') return 'none';
  if (p.credential?.startsWith('env:')) return { env: p.credential.slice('env:'.length) };
  return 'environment';
}

/** The base URL's host and port only: a path, query or credentials in it stay out. */
const hostOf = (baseUrl: string | undefined): string | null => {
  if (!baseUrl) return null;
  try {
    return new URL(baseUrl).host;
  } catch {
    return null;
  }
};

const SEVERITY: Record<BreakerStatus, number> = { closed: 0, 'half-open': 1, open: 2 };

/** One instance: what it is, where it runs, and the worst of its models' breakers with the latest error. */
function instanceView(p: Provider, catalog: Catalog, breakers: Map<string, PublicBreaker>, operator: boolean) {
  const kind = kindOf(p);
  const models = catalog.models.filter((m) => m.provider === p.id);
  const snaps = models.flatMap((m) => breakers.get(m.id) ?? []);
  const status = snaps.reduce<BreakerStatus>((w, s) => (SEVERITY[s.status] > SEVERITY[w] ? s.status : w), 'closed');
  const lastError = snaps
    .flatMap((s) => (s.lastError ? [s.lastError] : []))
    .reduce<{ type: string; at: string } | undefined>((a, e) => (!a || e.at > a.at ? e : a), undefined);
  return {
    id: p.id,
    kind,
    label: p.simulated ? 'Simulator (built in, no network)' : (kindNamed(kind)?.label ?? kind),
    ...(operator && { host: hostOf(p.baseUrl) }),
    region: p.region ?? null,
    residency: residencyOf(p) ?? null,
    ...(operator && { apiKey: keyReference(p) }),
    models: models.map((m) => m.id),
    breaker: {
      status,
      open: snaps.filter((s) => s.status === 'open').length,
      ...(lastError && { lastError: { type: lastError.type, at: lastError.at } }),
    },
  };
}

type ProviderDeps = { configStore: ConfigStore; health?: HealthClient; db: Db; client?: Client };

const healthOf = (deps: ProviderDeps) => {
  if (!deps.health)
    throw HttpError.unavailable('Breakers are not available in this process.', { code: 'service_unavailable' });
  return deps.health;
};

export const providerRoutes = routeSpecs<ProviderDeps>([
  {
    method: 'get',
    path: '/v1/providers',
    summary:
      "Every endpoint's breaker (data) and every provider instance (providers): kind, region, breaker, last error",
    tag: 'breakers',
    role: 'member',
    response: providerList,
    errors: [401, 503],
    handle: async (deps, req, res) => {
      const { catalog } = deps.configStore.current().config;
      const snaps = await healthOf(deps).snapshots(catalog.models.map((m) => m.id));
      const breakers = new Map(
        catalog.models.map((m) => [
          m.id,
          publicBreaker(
            snaps[m.id] ?? { endpoint: m.id, status: 'closed', tripCount: 0, consecutiveTrips: 0, errorRate: 0 },
          ),
        ]),
      );
      const operator = hasRole(authOf(req), 'operator');
      res.json({
        object: 'list',
        data: catalog.models.map((m) => ({
          id: m.id,
          provider: m.provider,
          model: m.model,
          status: m.status,
          breaker: breakers.get(m.id)!,
        })),
        providers: catalog.providers.map((p) => instanceView(p, catalog, breakers, operator)),
      });
    },
  },

  {
    method: 'post',
    path: '/v1/providers/:provider/*model/breaker',
    summary: 'Force a breaker open or closed',
    tag: 'breakers',
    role: 'operator',
    body: ForceBody,
    errors: ADMIN_ERRORS,
    handle: async (deps, req, res) => {
      const id = `${req.params.provider}/${modelParam(req.params.model)}`;
      if (!deps.configStore.current().config.catalog.models.some((m) => m.id === id))
        throw HttpError.notFound(`No model '${id}'.`, { param: 'model', code: 'model_not_found' });
      const body = readBody(req, ForceBody);
      const before = await healthOf(deps).query(id);
      const snap = await healthOf(deps).force(id, body.action === 'open' ? 'open' : 'closed', body.reason);
      await recordAudit(deps.db, {
        actor: actorOf(req),
        action: `breaker.${body.action}`,
        target: id,
        before: before && publicBreaker(before),
        after: publicBreaker(snap),
      });
      // Its alert's webhooks go out now rather than at the monitor's next look.
      if (deps.client) void nudgeAlertMonitor(deps.client);
      res.json({ id, breaker: publicBreaker(snap) });
    },
  },
]);
