/**
 * Turns a validated API request into a `routeRequest` workflow and waits for its answer.
 * The body goes to Postgres first; the workflow gets only the request id. The workflow id is
 * derived from the request id, and an `Idempotency-Key` derives the request id, so a client's
 * retry attaches to the same workflow (running or finished) instead of paying twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { ConfigStore } from '../configStore';
import { findModel } from '../domain/catalog';
import { maxOutputTokens, type ChatCompletionRequest } from '../domain/chat';
import { AUTO_MODELS } from '../domain/policy';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Db } from '../db';
import { getRequest, insertRequest, type RequestRow } from '../db/requests';
import type { RouteFailureDetails, RouteRequestInput, RouteResult } from '../domain/request';
import { SA_OPERATION, SA_STATUS, SA_TENANT } from '../temporal/searchAttributes';
import { routeRequest } from '../../workflows';
import { routeContext, waitForRecovery } from './context';
import { fromZodError, HttpError } from './errors';

export interface RunnerDeps {
  db: Db;
  client: Client;
  taskQueue: string;
  requestTimeoutMs: number;
}

const START_DEADLINE_MS = 5_000;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export const workflowIdFor = (requestId: string): string => `req-${requestId}`;

function canonicalHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

export function requestIdFor(tenantId: string, idempotencyKey: string | undefined): string {
  if (idempotencyKey === undefined) return randomUUID();
  if (!IDEMPOTENCY_KEY.test(idempotencyKey)) {
    throw new HttpError(400, 'invalid_request_error', 'Idempotency-Key must be 1-255 printable ASCII characters without spaces.', 'Idempotency-Key', 'invalid_idempotency_key');
  }
  // Scoped by tenant, so two tenants using the same key never share a request.
  return `idem-${createHash('sha256').update(`${tenantId}\n${idempotencyKey}`).digest('hex').slice(0, 32)}`;
}

export interface Submission {
  requestId: string;
  workflowId: string;
  deadlineAt: number;
  handle: WorkflowHandle<typeof routeRequest>;
}

// The workflow ends a request at its deadline with a 504 of its own; the API waits a little longer
// so that answer (with the attempt list) reaches the client, rather than a bare timeout.
const DEADLINE_GRACE_MS = 10_000;

/** The request's time budget: `X-Switchyard-Timeout-Ms` when given, never above the server's maximum. */
export function requestTimeoutMs(header: string | undefined, maxMs: number): number {
  if (header === undefined) return maxMs;
  const ms = Number(header);
  if (!Number.isInteger(ms) || ms < 1) {
    throw new HttpError(400, 'invalid_request_error', 'X-Switchyard-Timeout-Ms must be a positive integer (milliseconds).', 'X-Switchyard-Timeout-Ms', 'invalid_timeout');
  }
  return Math.min(ms, maxMs);
}

export async function submitRequest(
  deps: RunnerDeps,
  req: { tenantId: string; idempotencyKey?: string; timeoutMs?: number; body: unknown; route: Omit<RouteRequestInput, 'requestId' | 'tenantId' | 'deadlineAt'> },
): Promise<Submission> {
  const deadlineAt = Date.now() + (req.timeoutMs ?? deps.requestTimeoutMs);
  const requestId = requestIdFor(req.tenantId, req.idempotencyKey);
  const workflowId = workflowIdFor(requestId);
  const bodyHash = canonicalHash(req.body);
  const { row } = await unavailableOnError('database', insertRequest(deps.db, {
    requestId,
    workflowId,
    tenantId: req.tenantId,
    idempotencyKey: req.idempotencyKey,
    operation: req.route.operation,
    requestedModel: req.route.requestedModel,
    body: req.body,
    bodyHash,
  }));
  if (row.body_hash !== bodyHash || row.tenant_id !== req.tenantId) {
    throw new HttpError(409, 'idempotency_error', 'This Idempotency-Key was already used with a different request body.', 'Idempotency-Key', 'idempotency_key_reused');
  }
  const input: RouteRequestInput = { requestId, tenantId: req.tenantId, ...req.route, deadlineAt };
  try {
    // Bounded: during a Temporal outage the client gets a 503 in seconds, not after every gRPC retry.
    const handle = await deps.client.connection.withDeadline(Date.now() + START_DEADLINE_MS, () => deps.client.workflow.start(routeRequest, {
      taskQueue: deps.taskQueue,
      workflowId,
      args: [input],
      // Running: attach to it. Finished: refuse a second run and read the first one's result.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: SA_TENANT, value: req.tenantId },
        { key: SA_OPERATION, value: req.route.operation },
        { key: SA_STATUS, value: 'running' },
      ],
      staticSummary: `${req.route.operation} · requested ${req.route.requestedModel} · tenant ${req.tenantId}`,
    }));
    return { requestId, workflowId, deadlineAt, handle };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { requestId, workflowId, deadlineAt, handle: deps.client.workflow.getHandle<typeof routeRequest>(workflowId) };
    }
    throw unavailable('Temporal', err, requestId);
  }
}

/** An outage of a dependency is a 503 the client can retry (with the same Idempotency-Key), not a 500. */
function unavailable(what: string, err: unknown, requestId?: string): HttpError {
  const detail = err instanceof Error ? err.message : String(err);
  return new HttpError(503, 'server_error', `${what} is unavailable (${detail}). Retry the request${requestId ? ' with the same Idempotency-Key' : ''}.`, null, 'service_unavailable', requestId ? { request_id: requestId } : {});
}

async function unavailableOnError<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw unavailable(what, err);
  }
}

/** Waits for the workflow's result up to the request deadline; maps a failed route to its HTTP error. */
export async function awaitResult(deps: RunnerDeps, sub: Submission): Promise<RouteResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HttpError(504, 'timeout_error', `The request did not finish in time. Its workflow may still be recording; fetch it with GET /v1/requests/${sub.requestId}.`, null, 'request_timeout', {
            request_id: sub.requestId,
          }),
        ),
      Math.max(0, sub.deadlineAt - Date.now()) + DEADLINE_GRACE_MS,
    );
  });
  try {
    return await Promise.race([sub.handle.result(), deadline]);
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw routeFailureToHttp(err, sub.requestId);
    if (err instanceof HttpError) throw err;
    throw unavailable('Temporal', err, sub.requestId);
  } finally {
    clearTimeout(timer);
  }
}

export function routeFailureToHttp(err: WorkflowFailedError, requestId: string): HttpError {
  const cause = err.cause;
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as RouteFailureDetails | undefined;
    if (cause.type === 'NotFound') return new HttpError(404, 'not_found_error', cause.message, 'model', 'model_not_found', { request_id: requestId });
    if (cause.type === 'BudgetExceeded') return budgetExceeded(cause.message, requestId, details);
    const status = details?.httpStatus ?? 503;
    const type = status === 400 ? 'invalid_request_error' : status === 429 ? 'rate_limit_error' : status === 504 ? 'timeout_error' : 'provider_error';
    return new HttpError(status, type, cause.message, null, cause.type ?? null, {
      request_id: requestId,
      candidates: details?.candidates ?? [],
      attempts: details?.attempts ?? [],
    });
  }
  return new HttpError(503, 'provider_error', `The request failed: ${err.message}`, null, 'route_failed', { request_id: requestId });
}

/**
 * 429 `budget_exceeded`: which window, how much is left and when it resets. `x-should-retry:
 * false` stops the official SDKs from retrying a 429 that will not clear before the reset.
 */
function budgetExceeded(message: string, requestId: string, details: RouteFailureDetails | undefined): HttpError {
  const w = details?.budget;
  const retryAfter = w ? Math.max(1, Math.ceil((Date.parse(w.resetsAt) - Date.now()) / 1000)) : undefined;
  return new HttpError(
    429,
    'budget_exceeded',
    message,
    null,
    'budget_exceeded',
    {
      request_id: requestId,
      ...(w && { budget: { scope: w.scope, window: w.period, limit_usd: w.limitUsd, spent_usd: w.spentUsd, reserved_usd: w.reservedUsd, remaining_usd: w.remainingUsd, resets_at: w.resetsAt } }),
      candidates: details?.candidates ?? [],
    },
    { 'x-should-retry': 'false', ...(retryAfter !== undefined && { 'retry-after': String(retryAfter) }) },
  );
}

/** A value validated by a zod schema: 400 with the field path on any problem. */
export function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

/** The JSON body, validated. */
export function readBody<T>(req: Request, schema: z.ZodType<T>): T {
  if (req.body === undefined) {
    throw new HttpError(400, 'invalid_request_error', 'The request body must be JSON, sent with "Content-Type: application/json".', null, 'invalid_json');
  }
  return validate(schema, req.body);
}

export type RouteInput = Omit<RouteRequestInput, 'requestId' | 'tenantId' | 'deadlineAt'>;

/** The route of a chat completion: what the workflow and the dry run both decide on. */
export function chatRouteInput(req: Request, tenantId: string, body: ChatCompletionRequest): RouteInput {
  return {
    operation: 'chat',
    requestedModel: body.model,
    maxOutputTokens: maxOutputTokens(body),
    needsJson: body.response_format !== undefined && body.response_format.type !== 'text',
    context: routeContext(req, tenantId, { user: body.user, metadata: body.metadata }),
    waitForRecovery: waitForRecovery(req),
  };
}

export interface Routed {
  sub: Submission;
  result: RouteResult;
  row: RequestRow;
}

/**
 * The whole request path shared by chat and operations: check the model, store and submit,
 * wait for the workflow, and load the stored answer; sets the `x-switchyard-*` headers.
 */
export async function runRoute(deps: RunnerDeps & { configStore: ConfigStore }, req: Request, res: Response, tenantId: string, body: unknown, route: RouteInput): Promise<Routed> {
  const catalog = deps.configStore.current().config.catalog;
  if (!AUTO_MODELS.has(route.requestedModel) && !findModel(catalog, route.requestedModel)) {
    const known = catalog.models.map((m) => m.id).join(', ');
    throw new HttpError(404, 'not_found_error', `The model '${route.requestedModel}' does not exist. Use "auto" or one of: ${known}.`, 'model', 'model_not_found');
  }
  const sub = await submitRequest(deps, {
    tenantId,
    idempotencyKey: req.header('idempotency-key'),
    timeoutMs: requestTimeoutMs(req.header('x-switchyard-timeout-ms'), deps.requestTimeoutMs),
    body,
    route,
  });
  res.setHeader('x-switchyard-request-id', sub.requestId);
  res.setHeader('x-switchyard-workflow-id', sub.workflowId);
  const result = await awaitResult(deps, sub);
  const row = await getRequest(deps.db, sub.requestId);
  if (!row?.response) throw new Error(`request ${sub.requestId} succeeded but its response is not stored`);
  res.setHeader('x-switchyard-provider', result.provider);
  res.setHeader('x-switchyard-model', result.modelId);
  return { sub, result, row };
}

/** The `switchyard` extension field of a response (ignored by OpenAI clients): where the request went and why. */
export function switchyardExtension({ sub, result }: Routed) {
  return {
    request_id: sub.requestId,
    workflow_id: sub.workflowId,
    provider: result.provider,
    model: result.modelId,
    cost_usd: result.costUsd,
    decision: result.decisionSummary,
    route: result.route,
    classification: { task_type: result.classification.taskType, complexity: result.classification.complexity },
    candidates: result.candidates,
    attempts: result.attempts,
  };
}
