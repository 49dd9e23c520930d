/**
 * The request path's HTTP adapter (with `./context` and, for a stream, `./streaming`, the only code
 * besides the handlers that touches `req` and `res` on the path): it reads the headers into a
 * `PathRequest`, runs the path (`./requestPath/run`), and copies the headers of its outcome (or
 * failure) onto the response. The handler writes the body.
 */
import type { Request, Response } from 'express';
import { hasImages, maxOutputTokens, offersTools, type ChatCompletionRequest } from '../domain/chat';
import { routeContext, waitForRecovery, type HeaderSource } from './context';
import type { CacheDirective, Headers, Outcome, PathRequest, RouteInput } from './requestPath/outcome';
import { runRequest, type PathDeps } from './requestPath/run';
import type { RequestTemplate } from '../db/requests';

export { switchyardExtension } from './requestPath/outcome';

/** The route of a chat completion: what the workflow and the dry run both decide on. */
export function chatRouteInput(req: HeaderSource, tenantId: string, body: ChatCompletionRequest): RouteInput {
  return {
    operation: 'chat',
    requestedModel: body.model,
    maxOutputTokens: maxOutputTokens(body),
    needsJson: body.response_format !== undefined && body.response_format.type !== 'text',
    ...(hasImages(body.messages) && { needsVision: true }),
    ...(offersTools(body) && { needsTools: true }),
    // The messages only for the session key's hash: the text itself goes no further.
    context: routeContext(req, tenantId, {
      user: body.user,
      metadata: body.metadata,
      messages: body.messages,
      switchyard: body.switchyard,
    }),
    waitForRecovery: waitForRecovery(req),
    ...(body.stream && { stream: true }),
    ...(body.models && { fallbacks: body.models }),
  };
}

/** `Cache-Control: no-cache` (or `no-store`) or `X-Switchyard-Cache: off`: this request skips the cache. */
export function cacheDirective(header: (name: string) => string | undefined): CacheDirective {
  const off =
    /\bno-(cache|store)\b/i.test(header('cache-control') ?? '') || /^off$/i.test(header('x-switchyard-cache') ?? '');
  return off ? 'bypass' : 'use';
}

/** What the request path needs of an HTTP request, read from its headers. */
export function pathRequestOf(
  req: Request,
  res: Response,
  r: { tenantId: string; body: unknown; route: RouteInput; template?: RequestTemplate },
): PathRequest {
  return {
    ...r,
    idempotencyKey: req.header('idempotency-key'),
    timeout: req.header('x-switchyard-timeout-ms'),
    cache: cacheDirective((name) => req.header(name)),
    admissionMs: res.locals.admissionMs as number | undefined,
  };
}

export function setHeaders(res: Response, headers: Headers): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

/** Runs the request path for a handler: the outcome to answer with, its headers already set. */
export async function runRoute(
  deps: PathDeps,
  req: Request,
  res: Response,
  r: { tenantId: string; body: unknown; route: RouteInput; template?: RequestTemplate },
): Promise<Outcome> {
  const ran = await runRequest(deps, pathRequestOf(req, res, r));
  setHeaders(res, ran.headers);
  if ('error' in ran) throw ran.error;
  return ran.outcome;
}
