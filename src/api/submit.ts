/**
 * Turns a validated API request into a `routeRequest` workflow and waits for its answer.
 * The body goes to Postgres first; the workflow gets only the request id. The workflow id is
 * derived from the request id, and an `Idempotency-Key` derives the request id, so a client's
 * retry attaches to the same workflow (running or finished) instead of paying twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Db } from '../db';
import type { StreamRelay } from '../services/streamRelay';
import type { Metrics } from '../services/metrics';
import type { CacheSettings } from './cached';
import { insertRequest } from '../db/requests';
import type { RouteRequestInput, RouteResult } from '../domain/request';
import type { PathRequest } from './requestPath/outcome';
import { SA_OPERATION, SA_STATUS, SA_TENANT } from '../temporal/searchAttributes';
import { routeRequest } from '../../workflows';
import { HttpError } from './errors';
import { noteRoute, type RoutedAs } from './requestPath/spans';
import { routeFailureToHttp, unavailable, unavailableOnError } from './routeFailure';

export interface RunnerDeps {
  /** The client shares the worker's NativeConnection (all in one): start workflows eagerly. */
  eagerStart?: boolean;
  db: Db;
  client: Client;
  taskQueue: string;
  requestTimeoutMs: number;
  /** Where streamed answers' pieces arrive from the workers (absent: streams are sent whole, when done). */
  relay?: StreamRelay;
  /** This process's Prometheus metrics (absent: none kept). */
  metrics?: Metrics;
  /** The response cache (absent: none). */
  cache?: CacheSettings;
  /** Aborted when the process stops: requests stop waiting on their workflows (which run on). */
  stopping?: AbortSignal;
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
    throw HttpError.invalid('Idempotency-Key must be 1-255 printable ASCII characters without spaces.', {
      param: 'Idempotency-Key',
      code: 'invalid_idempotency_key',
    });
  }
  // Scoped by tenant, so two tenants using the same key never share a request.
  return `idem-${createHash('sha256').update(`${tenantId}\n${idempotencyKey}`).digest('hex').slice(0, 32)}`;
}

export interface Submission {
  requestId: string;
  /** The model the client asked for (`auto` or a catalog id). */
  requestedModel: string;
  workflowId: string;
  deadlineAt: number;
  handle: WorkflowHandle<typeof routeRequest>;
}

// The workflow ends a request at its deadline with a 504 of its own; the API waits a little longer
// so that answer (with the attempt list) reaches the client, rather than a bare timeout.
const DEADLINE_GRACE_MS = 10_000;
/** A workflow task's timeout: how soon a dead worker's fast-path call is run again by another. */
export const WORKFLOW_TASK_TIMEOUT_MS = 10_000;

/** The request's time budget: `X-Switchyard-Timeout-Ms` when given, never above the server's maximum. */
export function requestTimeoutMs(header: string | undefined, maxMs: number): number {
  if (header === undefined) return maxMs;
  const ms = Number(header);
  // 0 is allowed: the request ends at once with 504 (a client's way to say "only if instant").
  if (!Number.isInteger(ms) || ms < 0) {
    throw HttpError.invalid('X-Switchyard-Timeout-Ms must be a non-negative integer (milliseconds).', {
      param: 'X-Switchyard-Timeout-Ms',
      code: 'invalid_timeout',
    });
  }
  return Math.min(ms, maxMs);
}

/**
 * Stores the request and starts its workflow. The timeout is checked first, then the key: a
 * request with both wrong is refused for its timeout, as it always was.
 */
export async function submitRequest(
  deps: RunnerDeps,
  req: Pick<PathRequest, 'tenantId' | 'idempotencyKey' | 'timeout' | 'body' | 'route' | 'template'>,
): Promise<Submission> {
  const deadlineAt = Date.now() + requestTimeoutMs(req.timeout, deps.requestTimeoutMs);
  const requestId = requestIdFor(req.tenantId, req.idempotencyKey);
  const workflowId = workflowIdFor(requestId);
  // The body and the routing attributes (headers such as X-Switchyard-Region): the same key with
  // another region is another request, not a replay of the first.
  const bodyHash = canonicalHash({ body: req.body, route: req.route });
  const { row } = await unavailableOnError(
    'database',
    insertRequest(deps.db, {
      requestId,
      workflowId,
      tenantId: req.tenantId,
      idempotencyKey: req.idempotencyKey,
      operation: req.route.operation,
      requestedModel: req.route.requestedModel,
      body: req.body,
      bodyHash,
      // Whom it was for (the body's `user`, Anthropic's metadata.user_id, X-Switchyard-User): the console filters by it.
      endUser: req.route.context.userId,
      ...(req.template && { template: req.template }),
    }),
  );
  if (row.body_hash !== bodyHash || row.tenant_id !== req.tenantId) {
    throw HttpError.conflict('This Idempotency-Key was already used with a different request body.', {
      type: 'idempotency_error',
      param: 'Idempotency-Key',
      code: 'idempotency_key_reused',
    });
  }
  const input: RouteRequestInput = {
    requestId,
    tenantId: req.tenantId,
    ...req.route,
    deadlineAt,
  };
  try {
    // Bounded: during a Temporal outage the client gets a 503 in seconds, not after every gRPC retry.
    const handle = await deps.client.connection.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      deps.client.workflow.start(routeRequest, {
        taskQueue: deps.taskQueue,
        workflowId,
        args: [input],
        // Running: attach to it. Finished: refuse a second run and read the first one's result.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        // A fast-path call runs inside a workflow task (a local activity): if its worker dies, the
        // task times out in this long and another worker replays the workflow and calls again.
        workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT_MS,
        // The first workflow task runs on this process's worker at once, skipping the server's dispatch.
        requestEagerStart: deps.eagerStart,
        typedSearchAttributes: [
          { key: SA_TENANT, value: req.tenantId },
          { key: SA_OPERATION, value: req.route.operation },
          { key: SA_STATUS, value: 'running' },
        ],
        staticSummary: `${req.route.operation} · requested ${req.route.requestedModel} · tenant ${req.tenantId}`,
      }),
    );
    return { requestId, requestedModel: req.route.requestedModel, workflowId, deadlineAt, handle };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return {
        requestId,
        requestedModel: req.route.requestedModel,
        workflowId,
        deadlineAt,
        handle: deps.client.workflow.getHandle<typeof routeRequest>(workflowId),
      };
    }
    // The deadline passed but the server answers: it is slow, not down. Ask for a retry later
    // (the same Idempotency-Key attaches to the workflow if this start went through after all).
    if (isDeadlineExceeded(err) && (await answers(deps.client))) {
      throw new HttpError(
        429,
        'rate_limit_error',
        'Temporal is slow to accept new work right now; retry shortly with the same Idempotency-Key.',
        {
          code: 'temporal_busy',
          extra: { request_id: requestId },
          headers: { 'retry-after': '2' },
        },
      );
    }
    throw unavailable('Temporal', err, requestId);
  }
}

/** Whether the Temporal server answers a trivial call within a second (slow, as opposed to unreachable). */
async function answers(client: Client): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + 1_000, () => client.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  }
}

/** gRPC DEADLINE_EXCEEDED (code 4) anywhere in the error's cause chain. */
function isDeadlineExceeded(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (e.code === 4) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/**
 * Runs a Temporal call that the process's stop aborts. Each call gets a signal of its own, tied
 * to the process's: the SDK leaves a listener on the signal it is given, one per gRPC call, and
 * on the process-wide signal those would pile up for as long as the process runs.
 */
export function whileRunning<T>(
  deps: Pick<RunnerDeps, 'client' | 'stopping'>,
  fn: () => Promise<T>,
  also?: AbortSignal,
): Promise<T> {
  const signals = [deps.stopping, also].filter((x): x is AbortSignal => x !== undefined);
  if (signals.length === 0) return fn();
  const own = new AbortController();
  const abort = () => own.abort();
  for (const x of signals) {
    if (x.aborted) own.abort();
    else x.addEventListener('abort', abort, { once: true });
  }
  return deps.client.connection
    .withAbortSignal(own.signal, fn)
    .finally(() => signals.forEach((x) => x.removeEventListener('abort', abort)));
}

/**
 * Waits for the workflow's result up to the request deadline (or until `cancel`: a stream that
 * ended first); maps a failed route to its HTTP error.
 */
export async function awaitResult(deps: RunnerDeps, sub: Submission, cancel?: AbortSignal): Promise<RouteResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HttpError(
            504,
            'timeout_error',
            `The request did not finish in time. Its workflow may still be recording; fetch it with GET /v1/requests/${sub.requestId}.`,
            {
              code: 'request_timeout',
              extra: {
                request_id: sub.requestId,
              },
            },
          ),
        ),
      Math.max(0, sub.deadlineAt - Date.now()) + DEADLINE_GRACE_MS,
    );
  });
  try {
    return await Promise.race([whileRunning(deps, () => sub.handle.result(), cancel), deadline]);
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw routeFailureToHttp(err, sub.requestId, sub.requestedModel);
    if (err instanceof HttpError) throw err;
    throw unavailable('Temporal', err, sub.requestId);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Counts a routed request's outcome: its status, latency, and the candidates it fell back from;
 * traced, the decision goes on the request's span.
 */
export function countRoute(
  deps: Pick<RunnerDeps, 'metrics'>,
  r: { tenantId: string; operation: string; startedAt: number },
  outcome: { result: RoutedAs } | { error: unknown },
): void {
  noteRoute(outcome);
  const m = deps.metrics;
  if (!m) return;
  const seconds = (Date.now() - r.startedAt) / 1000;
  if ('result' in outcome) {
    const { result } = outcome;
    m.requests.inc({
      tenant: r.tenantId,
      operation: r.operation,
      provider: result.provider,
      model: result.modelId,
      status: 'succeeded',
    });
    m.requestSeconds.observe({ operation: r.operation, status: 'succeeded' }, seconds);
    for (const c of result.candidates) if (c.outcome === 'error') m.fallbacks.inc({ reason: c.errorType ?? 'Unknown' });
    return;
  }
  const e = outcome.error;
  // A route's own failure names its type; a stream broken after its first piece passes its own.
  const status = e instanceof HttpError ? (e.code ?? e.type) : typeof e === 'string' ? e : 'error';
  m.requests.inc({ tenant: r.tenantId, operation: r.operation, provider: '', model: '', status });
  m.requestSeconds.observe({ operation: r.operation, status }, seconds);
  const candidates = (e instanceof HttpError ? e.extra.candidates : undefined) as
    Array<{ outcome: string; errorType?: string }> | undefined;
  for (const c of candidates ?? []) if (c.outcome === 'error') m.fallbacks.inc({ reason: c.errorType ?? 'Unknown' });
}
