/**
 * OpenAI's Responses API (`/v1/responses`), so `client.responses.*` of the official SDKs (and
 * the AI SDK's default OpenAI provider) work by changing the base URL. A response is a routed
 * chat request (the same workflow, fallbacks, budgets and record) plus a `responses` row: what
 * it echoes, its own input items, its chain, its cancel and delete.
 *
 * - A create runs like a chat completion: answered whole, or streamed as the Responses API's
 *   events (`response.created` with the first token, so a failure before it is an HTTP error).
 * - `background: true` only starts the workflow (its deadline `SWITCHYARD_BACKGROUND_TIMEOUT_MS`)
 *   and answers `queued` (retried with its Idempotency-Key: the response as it stands now); with
 *   `stream: true` it streams at once. GET builds the Response from the rows alone, so polls
 *   work from any API process while workers come and go.
 * - `GET …?stream=true&starting_after=N` reads the stream again from its first event (the relay
 *   keeps a request's events 10 minutes; after that, a finished response's stored answer is sent
 *   whole) and drops the events numbered N and below.
 * - A create is admitted and counted against concurrency (`../app`), and a GET stream takes a
 *   slot as a streamed create does; plain polls, cancels and deletes hold none. A tenant's
 *   background responses in flight are capped (`SWITCHYARD_MAX_BACKGROUND_PER_TENANT`; those
 *   older than their deadline and a minute no longer count). A database outage is a 503.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { DEFAULT_BACKGROUND_TIMEOUT_MS, DEFAULT_MAX_BACKGROUND_PER_TENANT } from '../../config';
import type { Db } from '../../db';
import { serialized } from '../../db/serialized';
import {
  clearCancelled,
  countBackgroundInFlight,
  getResponse,
  markCancelled,
  markDeleted,
  type StoredResponse,
} from '../../db/responses';
import {
  inputItemsPage,
  InputItemsQuerySchema,
  responseFactsOf,
  responseIdOf,
  responseObject,
  ResponsesCreateSchema,
} from '../../domain/responses';
import { responsesStreamWriter } from '../../domain/responsesStream';
import { answerAs } from '../../domain/storedAnswer';
import type { routeRequest } from '../../../workflows';
import { authOf } from '../auth';
import { HttpError } from '../errors';
import { headersOf } from '../requestPath/outcome';
import {
  readCreate,
  readInputItems,
  resolveCreate,
  startResponse,
  storeResponse,
  type ResponsesDeps,
} from '../responsesChain';
import { unavailable, unavailableOnError } from '../routeFailure';
import { ROUTED_ERRORS, routeSpecs, type RouteSpec } from '../routeSpec';
import { chatRouteInput, pathRequestOf, runRoute, setHeaders, switchyardExtension } from '../runRoute';
import { relayStream, sendStored } from '../streaming';
import { whileRunning, type Submission } from '../submit';
import { validate } from '../validate';

/** How long past its deadline a background response still counts as in flight: its workflow records the timeout. */
const BACKGROUND_COUNT_GRACE_MS = 60_000;

/**
 * A background create returns at once, so the concurrency limit does not bound a tenant's
 * background work: its responses still in flight are capped (`SWITCHYARD_MAX_BACKGROUND_PER_TENANT`).
 */
async function checkBackgroundCap(deps: ResponsesDeps, tenantId: string): Promise<void> {
  const limit = deps.maxBackgroundPerTenant ?? DEFAULT_MAX_BACKGROUND_PER_TENANT;
  // Only responses younger than their deadline (and a grace) count: one whose workflow was
  // terminated without recording an outcome stays `running`, and must not hold a slot for good.
  const maxAgeMs = (deps.backgroundTimeoutMs ?? DEFAULT_BACKGROUND_TIMEOUT_MS) + BACKGROUND_COUNT_GRACE_MS;
  const inFlight = await unavailableOnError('database', countBackgroundInFlight(deps.db, tenantId, maxAgeMs));
  if (inFlight >= limit)
    throw new HttpError(
      429,
      'rate_limit_error',
      `This tenant is limited to ${limit} background responses in flight at once.`,
      { code: 'too_many_background_responses', headers: { 'retry-after': '1' } },
    );
}

const create: RouteSpec<ResponsesDeps> = {
  method: 'post',
  path: '/v1/responses',
  summary: 'OpenAI Responses API: create (`stream: true`: typed events; `background: true`: answered `queued`)',
  tag: 'routing',
  role: 'member',
  body: ResponsesCreateSchema,
  errors: ROUTED_ERRORS,
  handle: async (deps, req, res) => {
    const startedAt = Date.now();
    const { tenantId } = authOf(req);
    const params = readCreate(req.body);
    const resolved = await resolveCreate(deps.db, tenantId, params);
    const route = chatRouteInput(req, tenantId, resolved.chat);
    const request = pathRequestOf(req, res, { tenantId, body: resolved.chat, route });
    if (params.background || params.stream) {
      // Counted and started under the tenant's lock: concurrent creates cannot all pass the count.
      const { sub, head, inserted } = params.background
        ? await serialized(deps.db, `background-responses:${tenantId}`, async () => {
            await checkBackgroundCap(deps, tenantId);
            return startResponse(deps, request, resolved);
          })
        : await startResponse(deps, request, resolved);
      setHeaders(res, headersOf({ sub }));
      if (!params.stream) {
        // A create retried with its Idempotency-Key answers the response as it stands now
        // (completed, failed, cancelled…), not `queued` again.
        const stored = inserted
          ? undefined
          : await unavailableOnError('database', getResponse(deps.db, responseIdOf(head.requestId), tenantId));
        res.json(stored ? responseObject(...responseFactsOf(stored)) : responseObject(head, { status: 'received' }));
        return;
      }
      // A background stream opens at once (`response.created` is its id); a sync one with its
      // first token, so a failure before it is an ordinary HTTP error, as chat's.
      await relayStream(deps, res, sub, responsesStreamWriter({ head, now: () => new Date() }), {
        eager: head.background,
        counted: { tenantId, operation: route.operation, startedAt },
      });
      return;
    }
    const outcome = await runRoute(deps, req, res, { tenantId, body: resolved.chat, route });
    const { head } = await storeResponse(deps.db, tenantId, outcome.requestId, resolved);
    res.json({
      ...responseObject(head, {
        status: 'succeeded',
        model: outcome.modelId,
        response: answerAs(outcome.answer, 'chat'),
        inputTokens: outcome.inputTokens,
        outputTokens: outcome.outputTokens,
        completedAt: new Date(),
      }),
      switchyard: switchyardExtension(outcome),
    });
  },
};

const RetrieveQuerySchema = z.object({
  stream: z.enum(['true', 'false']).optional(),
  /** Events numbered up to this one were received: the stream continues after it. */
  starting_after: z.coerce.number().int().min(0).optional(),
  // Sent by the SDKs, and ignored.
  include: z.unknown().optional(),
  include_obfuscation: z.unknown().optional(),
});

/** The tenant's response, or 404 (another tenant's, a deleted and an unstored one alike). */
async function found(db: Db, id: string, tenantId: string): Promise<StoredResponse> {
  const row = await unavailableOnError('database', getResponse(db, id, tenantId));
  if (!row)
    throw HttpError.notFound(`Response with id '${id}' not found.`, { param: 'id', code: 'response_not_found' });
  return row;
}

const isTerminal = (row: Pick<StoredResponse, 'status'>) => row.status === 'succeeded' || row.status === 'failed';

/** The submission a stored response's request was, to relay its stream again (its deadline as it was set). */
function submissionOf(deps: ResponsesDeps, row: StoredResponse): Submission {
  const timeoutMs = row.background
    ? (deps.backgroundTimeoutMs ?? DEFAULT_BACKGROUND_TIMEOUT_MS)
    : deps.requestTimeoutMs;
  return {
    requestId: row.request_id,
    requestedModel: row.requested_model,
    workflowId: row.workflow_id,
    deadlineAt: new Date(row.created_at).getTime() + timeoutMs,
    handle: deps.client.workflow.getHandle<typeof routeRequest>(row.workflow_id),
  };
}

const retrieve: RouteSpec<ResponsesDeps> = {
  method: 'get',
  path: '/v1/responses/:id',
  summary: 'A response (`?stream=true&starting_after=N`: its events again, from after N)',
  tag: 'routing',
  role: 'member',
  query: RetrieveQuerySchema,
  errors: [400, 401, 404, 503],
  handle: async (deps, req, res) => {
    const { tenantId } = authOf(req);
    const q = validate(RetrieveQuerySchema, req.query);
    const row = await found(deps.db, String(req.params.id), tenantId);
    const [head, progress] = responseFactsOf(row);
    if (q.stream !== 'true') {
      res.json(responseObject(head, progress));
      return;
    }
    // A finished response ends when its row says (the same events each time it is read).
    const writer = responsesStreamWriter({
      head,
      startingAfter: q.starting_after,
      now: () => row.completed_at ?? new Date(),
    });
    res.setHeader('x-switchyard-request-id', row.request_id);
    // Finished, and no relay holds its events: the stored answer (or failure), Temporal not asked.
    const relayed = deps.relay ? await deps.relay.count(row.request_id).catch(() => 0) : 0;
    if (isTerminal(row) && relayed === 0) {
      await sendStored(deps, res, row.request_id, writer);
      return;
    }
    await relayStream(deps, res, submissionOf(deps, row), writer, { eager: true });
  },
};

/**
 * Cancels a response's workflow (it records `Cancelled`); one that already ended is left as it is.
 * `marked` is the response as `markCancelled` left it, and `first` whether this call marked it:
 * when Temporal does not answer (503) that mark is cleared, as the workflow runs on.
 */
async function cancelRun(deps: ResponsesDeps, marked: StoredResponse, first: boolean) {
  try {
    // Tied to the process's stop as every Temporal call of the API is, so none outlives its connection.
    await whileRunning(deps, () =>
      deps.client.connection.withDeadline(Date.now() + 5_000, () =>
        deps.client.workflow.getHandle(marked.workflow_id).cancel(),
      ),
    );
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return; // it ended meanwhile: its row says how
    if (first && marked.cancelled_at)
      await clearCancelled(deps.db, marked.id, marked.tenant_id, marked.cancelled_at).catch(() => undefined);
    throw unavailable('Temporal', err, marked.request_id);
  }
}

const cancel: RouteSpec<ResponsesDeps> = {
  method: 'post',
  path: '/v1/responses/:id/cancel',
  summary: 'Cancel a background response (a finished one is returned as it is)',
  tag: 'routing',
  role: 'member',
  errors: [400, 401, 404, 503],
  handle: async (deps, req, res) => {
    const { tenantId } = authOf(req);
    const id = String(req.params.id);
    const row = await found(deps.db, id, tenantId);
    if (!row.background)
      throw HttpError.invalid('Only a background response can be cancelled.', { param: 'id', code: 'not_cancellable' });
    const marked = await unavailableOnError('database', markCancelled(deps.db, id, tenantId));
    if (marked) await cancelRun(deps, marked, row.cancelled_at === null);
    // Not marked: it had ended; read again, as it ended (a cancel never changes a finished response).
    const now = marked ?? (await found(deps.db, id, tenantId));
    res.json(responseObject(...responseFactsOf(now)));
  },
};

const remove: RouteSpec<ResponsesDeps> = {
  method: 'delete',
  path: '/v1/responses/:id',
  summary: 'Delete a response (its request stays on record: GET /v1/requests/{id})',
  tag: 'routing',
  role: 'member',
  errors: [401, 404, 503],
  handle: async (deps, req, res) => {
    const { tenantId } = authOf(req);
    const id = String(req.params.id);
    const row = await found(deps.db, id, tenantId);
    // A background response still running is cancelled first: nobody could read its answer.
    if (row.background && !isTerminal(row)) {
      const marked = await unavailableOnError('database', markCancelled(deps.db, id, tenantId));
      if (marked) await cancelRun(deps, marked, row.cancelled_at === null);
    }
    if (!(await unavailableOnError('database', markDeleted(deps.db, id, tenantId))))
      throw HttpError.notFound(`Response with id '${id}' not found.`, { param: 'id', code: 'response_not_found' });
    res.json({ id, object: 'response', deleted: true });
  },
};

const inputItems: RouteSpec<ResponsesDeps> = {
  method: 'get',
  path: '/v1/responses/:id/input_items',
  summary: "A response's input items (`after`, `limit`, `order`)",
  tag: 'routing',
  role: 'member',
  query: InputItemsQuerySchema,
  errors: [400, 401, 404, 503],
  handle: async (deps, req, res) => {
    const { tenantId } = authOf(req);
    const q = validate(InputItemsQuerySchema, req.query);
    const row = await found(deps.db, String(req.params.id), tenantId);
    const page = inputItemsPage(row.request_id, readInputItems(row.input_items), q);
    if (!page)
      throw HttpError.invalid(`No input item with id '${q.after}' in response '${row.id}'.`, {
        param: 'after',
        code: 'item_not_found',
      });
    res.json(page);
  },
};

export const responseRoutes = routeSpecs([create, retrieve, cancel, remove, inputItems]);
