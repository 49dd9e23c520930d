/**
 * One route, one object: its method, path, role, documentation and handler. `mountRoutes` mounts
 * it behind the role check its `role` names, and `openApiDocument` (./openapi.ts) describes it from
 * the same object, so what a route enforces and what the document says of it cannot drift apart.
 * Handlers enforce no role themselves; tenant scoping (`tenantInScope`, `tenantFromPath`) stays in
 * them, as it depends on the object asked for.
 */
import type { IRouter, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { requireAdmin, requireMember, requireOperator } from './auth';

/** The least role that may call a route (`none`: no key). */
export type RouteRole = 'none' | 'member' | 'admin' | 'operator';
export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** What the OpenAPI document says of a route. */
export interface RouteDoc {
  method: RouteMethod;
  /** Express syntax: `/v1/keys/:id`, `/v1/models/:provider/*model`. */
  path: string;
  summary: string;
  tag: string;
  role: RouteRole;
  body?: z.ZodType;
  /** Default `application/json` (when `body` is set). */
  bodyType?: string;
  query?: z.ZodObject;
  response?: z.ZodType;
  /** Default `application/json`. */
  responseType?: string;
  /** A 202 it may answer instead of the 200 (work not finished yet), and that body's schema. */
  accepted?: { description: string; schema: z.ZodType };
  /** The error statuses it answers (default 400, 401). */
  errors?: number[];
}

export interface RouteSpec<D> extends RouteDoc {
  /** Middleware of this route alone, run ahead of the role check (a refused call passes through it too). */
  before?: (deps: D) => RequestHandler[];
  handle: (deps: D, req: Request, res: Response) => unknown;
}

/** A module's routes, typed by the dependencies their handlers use. */
export const routeSpecs = <D>(specs: Array<RouteSpec<D>>): ReadonlyArray<RouteSpec<D>> => specs;

/**
 * The check each role gets. A member route needs only an authenticated caller: `/v1` already
 * requires a key of every request, and the check holds a route mounted elsewhere to what its
 * document says (a route outside `/v1` authenticates in `before`).
 */
const ROLE_CHECK: Record<RouteRole, RequestHandler[]> = {
  none: [],
  member: [requireMember],
  admin: [requireAdmin],
  operator: [requireOperator],
};

/** Mounts each route, in order, behind its `before` middleware and its role's check. */
export function mountRoutes<D, R extends IRouter>(router: R, specs: ReadonlyArray<RouteSpec<D>>, deps: D): R {
  for (const spec of specs) {
    const handler: RequestHandler = async (req, res) => {
      await spec.handle(deps, req, res);
    };
    router[spec.method](spec.path, ...(spec.before?.(deps) ?? []), ...ROLE_CHECK[spec.role], handler);
  }
  return router;
}

/** Error statuses several modules share. */
export const ROUTED_ERRORS = [400, 401, 404, 409, 429, 502, 503, 504];
export const ADMIN_ERRORS = [400, 401, 403, 404];
/** A configuration write: `If-Match` may name the version it was computed from (409 if stale); size bounds (413). */
export const CONFIG_WRITE_ERRORS = [...ADMIN_ERRORS, 409, 413];
