/**
 * A Responses API create, made into the chat request every route takes, and started: its chain
 * (`previous_response_id`) and its `item_reference`s are resolved from the tenant's stored
 * responses, so each request body holds its whole conversation (deleting an earlier link breaks
 * nothing); then the request is submitted (a background one with its own deadline) and its
 * `responses` row stored. Another tenant's, a deleted or an unstored response is not found.
 */
import { z } from 'zod';
import { DEFAULT_BACKGROUND_TIMEOUT_MS } from '../config';
import type { Db } from '../db';
import { getResponse, getResponses, insertResponse, requestReceivedAt } from '../db/responses';
import { ChatCompletionRequestSchema, type ChatCompletionRequest } from '../domain/chat';
import {
  echoedParams,
  hasInstructions,
  normalizeInputItems,
  parseItemId,
  prefixOf,
  referencedItem,
  refusalOf,
  responseIdOf,
  ResponsesCreateSchema,
  toChatRequest,
  type NormalInputItem,
  type ResponseHead,
  type ResponsesCreate,
} from '../domain/responses';
import { compileSchema } from '../services/jsonSchema';
import { fromZodError, HttpError } from './errors';
import type { PathRequest } from './requestPath/outcome';
import { checkModel, type PathDeps } from './requestPath/run';
import { unavailableOnError } from './routeFailure';
import { submitRequest, type Submission } from './submit';

export type ResponsesDeps = PathDeps & { backgroundTimeoutMs?: number; maxBackgroundPerTenant?: number };

/** The create body, validated: a refusal (a hosted tool, a file, `conversation`…) with its own code. */
export function readCreate(body: unknown): ResponsesCreate {
  if (body === undefined)
    throw HttpError.invalid('The request body must be JSON, sent with "Content-Type: application/json".', {
      code: 'invalid_json',
    });
  const parsed = ResponsesCreateSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const refusal = refusalOf(parsed.error);
  if (refusal) throw HttpError.invalid(refusal.message, { param: refusal.param, code: refusal.code });
  throw fromZodError(parsed.error);
}

/** A create resolved against the stored responses: the chat body, and what the `responses` row keeps. */
export interface ResolvedCreate {
  params: ResponsesCreate;
  chat: ChatCompletionRequest;
  /** This request's own input items, every reference resolved (what `input_items` lists). */
  items: NormalInputItem[];
  previousResponseId: string | null;
}

const notInChain = (id: string) =>
  HttpError.invalid(`Previous response with id '${id}' not found.`, {
    param: 'previous_response_id',
    code: 'previous_response_not_found',
  });

const TERMINAL = new Set(['succeeded', 'failed']);

export async function resolveCreate(db: Db, tenantId: string, params: ResponsesCreate): Promise<ResolvedCreate> {
  const previousId = params.previous_response_id ?? null;
  let prefix: ChatCompletionRequest['messages'] = [];
  if (previousId !== null) {
    const previous = await unavailableOnError('database', getResponse(db, previousId, tenantId));
    if (!previous) throw notInChain(previousId);
    if (!TERMINAL.has(previous.status))
      throw HttpError.invalid(`Previous response with id '${previousId}' is still in progress.`, {
        param: 'previous_response_id',
        code: 'previous_response_in_progress',
      });
    prefix = prefixOf({ body: previous.body, hasInstructions: previous.has_instructions, response: previous.response });
  }
  const items = await resolveItems(db, tenantId, params.input ?? []);
  const chat = toChatRequest(params, prefix, items);
  // A schema that does not compile is the client's mistake: say so before any provider is paid.
  const format = params.text?.format;
  if (format?.type === 'json_schema') {
    const compiled = compileSchema(format.schema);
    if (typeof compiled === 'string')
      throw HttpError.invalid(`Invalid JSON Schema: ${compiled}`, {
        param: 'text.format.schema',
        code: 'invalid_json_schema',
      });
  }
  // The activities read the stored body with the chat schema: what it refuses is refused here.
  const checked = ChatCompletionRequestSchema.safeParse(chat);
  if (!checked.success) {
    const e = fromZodError(checked.error);
    throw HttpError.invalid(`The input is not a conversation a model can take: ${e.message}`, {
      param: 'input',
      code: 'invalid_value',
    });
  }
  return { params, chat: checked.data, items, previousResponseId: previousId };
}

/**
 * The input's items with each `item_reference` replaced by the item it names (an output message
 * or call of a stored response, or one of its input items). A reference we never made, or to a
 * response the tenant cannot see, is a 400 at `input[i].id`.
 */
async function resolveItems(
  db: Db,
  tenantId: string,
  input: NonNullable<ResponsesCreate['input']>,
): Promise<NormalInputItem[]> {
  const refs = input.flatMap((item, i) =>
    item.type === 'item_reference' ? [{ i, id: item.id, parsed: parseItemId(item.id) }] : [],
  );
  const wanted = [...new Set(refs.flatMap((r) => (r.parsed ? [responseIdOf(r.parsed.requestId)] : [])))];
  const stored = await unavailableOnError('database', getResponses(db, wanted, tenantId));
  const rows = new Map(stored.map((row) => [row.request_id, row]));
  return input.flatMap((item, i): NormalInputItem[] => {
    if (item.type !== 'item_reference') return normalizeInputItems([item]);
    const ref = refs.find((r) => r.i === i)!;
    const row = ref.parsed && rows.get(ref.parsed.requestId);
    const found =
      ref.parsed && row
        ? referencedItem(ref.parsed, { response: row.response, inputItems: readInputItems(row.input_items) })
        : undefined;
    if (!found)
      throw HttpError.invalid(`Item with id '${ref.id}' not found.`, {
        param: `input[${i}].id`,
        code: 'item_not_found',
      });
    return [found];
  });
}

// What `input_items` holds: the normalized items `resolveCreate` stored (checked as they are read).
const NormalPartSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('input_text'), text: z.string() }),
  z.object({
    type: z.literal('input_image'),
    image_url: z.string(),
    detail: z.enum(['auto', 'low', 'high', 'original']),
  }),
  z.object({ type: z.literal('output_text'), text: z.string() }),
  z.object({ type: z.literal('refusal'), refusal: z.string() }),
]);
const NormalInputItemSchema: z.ZodType<NormalInputItem> = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('message'),
    role: z.enum(['user', 'system', 'developer', 'assistant']),
    content: z.array(NormalPartSchema),
  }),
  z.object({ type: z.literal('function_call'), call_id: z.string(), name: z.string(), arguments: z.string() }),
  z.object({ type: z.literal('function_call_output'), call_id: z.string(), output: z.string() }),
  z.object({ type: z.literal('item_reference'), id: z.string() }),
]);

/** A stored response's `input_items`. */
export const readInputItems = (stored: unknown): NormalInputItem[] => z.array(NormalInputItemSchema).parse(stored);

/**
 * Submits the request (a background one with `SWITCHYARD_BACKGROUND_TIMEOUT_MS` as its deadline
 * and no cache) and stores its `responses` row; returns the submission, the Response's head and
 * whether this call stored the row (false: a create retried with its Idempotency-Key).
 */
export async function startResponse(
  deps: ResponsesDeps,
  r: PathRequest,
  resolved: ResolvedCreate,
): Promise<{ sub: Submission } & StoredHead> {
  const background = resolved.params.background === true;
  checkModel(deps, r.route);
  const sub = await submitRequest(
    background ? { ...deps, requestTimeoutMs: deps.backgroundTimeoutMs ?? DEFAULT_BACKGROUND_TIMEOUT_MS } : deps,
    r,
  );
  return { sub, ...(await storeResponse(deps.db, r.tenantId, sub.requestId, resolved)) };
}

export interface StoredHead {
  head: ResponseHead;
  /** False when the row was already there: a retried create, whose response may have moved on. */
  inserted: boolean;
}

/** Stores the response's row (once per id: a retried create finds it) and returns its head. */
export async function storeResponse(
  db: Db,
  tenantId: string,
  requestId: string,
  resolved: ResolvedCreate,
): Promise<StoredHead> {
  const { params } = resolved;
  // The request row's time, as GET reads it (a sync create is stored only once it is answered).
  const createdAt = (await unavailableOnError('database', requestReceivedAt(db, requestId))) ?? new Date();
  const head: ResponseHead = {
    requestId,
    createdAt,
    params: echoedParams(params),
    previousResponseId: resolved.previousResponseId,
    background: params.background === true,
    store: params.store !== false,
  };
  const inserted = await unavailableOnError(
    'database',
    insertResponse(db, {
      id: responseIdOf(requestId),
      requestId,
      tenantId,
      previousResponseId: head.previousResponseId,
      background: head.background,
      store: head.store,
      hasInstructions: hasInstructions(params),
      params: head.params,
      inputItems: resolved.items,
    }),
  );
  return { head, inserted };
}
