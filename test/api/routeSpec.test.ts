/**
 * A route's documented role is the role it enforces, by construction: `mountRoutes` puts the check
 * `spec.role` names in front of the handler, and `/openapi.json` gives each route's `role` as its
 * `x-switchyard-role`. Checked here on throwaway routes (each role, each caller), on the app's own
 * routes (the document against the specs mounted), and on the route modules' source (no handler
 * checks a role by itself). `test/security/roles.test.ts` calls every real route as every role.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import pino from 'pino';
import { createApp, mountedRoutes } from '../../src/api/app';
import { errorHandler } from '../../src/api/errors';
import { openApiDocument, openApiPath } from '../../src/api/openapi';
import { mountRoutes, routeSpecs, type RouteRole } from '../../src/api/routeSpec';
import type { KeyRole } from '../../src/db/apiKeys';
import { Metrics } from '../../src/services/metrics';

type Caller = 'none' | KeyRole;

/** What a call saw: its status, the error code, whether `before` and the handler ran. */
interface Seen {
  status: number;
  code?: string;
  before: boolean;
  handled: boolean;
}

/** One route of `role` on a throwaway app whose caller's role comes from a header (as a key would set it). */
async function callAs(role: RouteRole, caller: Caller): Promise<Seen> {
  const ran = { before: false, handled: false };
  const app = express();
  app.use((req, _res, next) => {
    const r = req.header('x-test-role') as KeyRole | undefined;
    if (r) req.auth = { tenantId: 't1', keyId: 'k1', role: r };
    next();
  });
  const specs = routeSpecs<typeof ran>([
    {
      method: 'post',
      path: '/v1/thing/:id',
      summary: 'A thing',
      tag: 'test',
      role,
      before: (deps) => [
        (_req, _res, next) => {
          deps.before = true;
          next();
        },
      ],
      handle: (deps, _req, res) => {
        deps.handled = true;
        res.json({ ok: true });
      },
    },
  ]);
  mountRoutes(app, specs, ran);
  app.use(errorHandler(() => undefined));
  const server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/thing/x`, {
      method: 'POST',
      headers: caller === 'none' ? {} : { 'x-test-role': caller },
    });
    const body = (await res.json()) as { error?: { code?: string } };
    return { status: res.status, code: body.error?.code, ...ran };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('mountRoutes enforces the role a spec names', () => {
  it.each<[RouteRole, Caller, number, string | undefined]>([
    ['admin', 'member', 403, 'admin_required'],
    ['admin', 'admin', 200, undefined],
    ['admin', 'operator', 200, undefined],
    ['operator', 'member', 403, 'operator_required'],
    ['operator', 'admin', 403, 'operator_required'],
    ['operator', 'operator', 200, undefined],
    ['member', 'member', 200, undefined],
    // Mounted without the key check `/v1` has: the member check still wants an authenticated caller.
    ['member', 'none', 401, 'missing_api_key'],
    ['none', 'none', 200, undefined],
  ])('a %s route called by %s: %d', async (role, caller, status, code) => {
    const seen = await callAs(role, caller);
    expect(seen).toMatchObject({ status, code, handled: status === 200 });
    // `before` runs ahead of the role check: a refused call passes through it too.
    expect(seen.before).toBe(true);
  });
});

describe("the app's routes", () => {
  const app = createApp({
    db: {} as never,
    client: {} as never,
    taskQueue: 'route-spec-test',
    requestTimeoutMs: 1_000,
    configStore: { current: () => ({ config: { tenants: {} } }) } as never,
    logger: pino({ level: 'silent' }),
    metrics: new Metrics(),
  });
  const routes = mountedRoutes(app);

  it("document each mounted spec once, with the spec's role as x-switchyard-role", () => {
    const doc = openApiDocument(routes) as unknown as {
      paths: Record<string, Record<string, { 'x-switchyard-role'?: string }>>;
    };
    expect(routes.length).toBeGreaterThan(60);
    const documented = Object.values(doc.paths).flatMap((ops) => Object.keys(ops));
    expect(documented).toHaveLength(routes.length);
    for (const r of routes)
      expect([r.method, r.path, doc.paths[openApiPath(r.path)]?.[r.method]?.['x-switchyard-role']]).toEqual([
        r.method,
        r.path,
        r.role,
      ]);
  });

  it('enforce no role in a handler: the only role checks are the ones mountRoutes derives', () => {
    const dir = path.join(__dirname, '../../src/api/routes');
    const enforcing = readdirSync(dir).filter((f) =>
      /\b(requireAdmin|requireOperator|requireRole)\b/.test(readFileSync(path.join(dir, f), 'utf8')),
    );
    expect(enforcing).toEqual([]);
  });
});
