/**
 * The API's server span of a routed request (mounted only when tracing is on): `POST
 * /v1/chat/completions`, kind SERVER, with the HTTP conventions' attributes and what finds the
 * request again (tenant, request id). The handlers run in its context, so the request path's span
 * and the workflow's start (Temporal's client interceptor) are its children.
 */
import type { RequestHandler } from 'express';
import { context, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import { SpanKind, type Tracing } from '../services/tracing';

export function serverSpans(tracing: Tracing): RequestHandler {
  return (req, res, next) => {
    // A caller's own trace (a `traceparent` header) is continued: its request is part of it.
    const parent = propagation.extract(context.active(), req.headers);
    const route = req.originalUrl.split('?')[0]!;
    const span = tracing.tracer.startSpan(
      `${req.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': req.method, 'url.path': route, 'http.route': route },
      },
      parent,
    );
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      span.setAttribute('http.response.status_code', res.statusCode);
      if (req.auth?.tenantId) span.setAttribute('switchyard.tenant_id', req.auth.tenantId);
      const requestId = res.getHeader('x-switchyard-request-id');
      if (typeof requestId === 'string') span.setAttribute('switchyard.request_id', requestId);
      // A server span fails on a 5xx only (a 4xx is the client's: HTTP conventions).
      if (res.statusCode >= 500) {
        span.setAttribute('error.type', String(res.statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    };
    res.once('finish', end);
    res.once('close', end);
    const ctx = trace.setSpan(parent, span);
    // Body reads and the response's events run in the request's context too.
    context.bind(ctx, req);
    context.bind(ctx, res);
    context.with(ctx, next);
  };
}
