/**
 * The operations of `POST /v1/operations/<name>` (intent, sentiment, entities, summarize, embed),
 * one entry each in `OPERATION_SPECS`: the request body, the task type routing classifies it as,
 * whether the response cache may keep its answers, whether it has batches, and, for a structured
 * operation, the prompt it sends to a chat model and the schema the model's JSON must pass. Every
 * list of operations elsewhere is derived from this registry. Output that fails its schema is an
 * `InvalidOutput` failure, which escalates to a stronger model.
 */
import { z } from 'zod';
import type { BatchOptions } from './batch/job';
import type { ChatMessage } from './chat';
import type { TaskType } from './classify';
import { SwitchyardRequestExtensionSchema } from './requestExtension';

type Body = Record<string, unknown>;

/** A structured operation asks a chat model for one JSON object. */
interface StructuredSpec<R extends z.ZodObject = z.ZodObject> {
  /** The instruction, from the request's body. */
  task: (body: Body) => string;
  /** The reply's shape as the prompt spells it for the model. */
  replyShape: string;
  /** The reply's schema. */
  result: R;
  /** What the reply must also respect of the input (labels, spans, length): issues added to `ctx`. */
  check?(body: Body, result: z.output<R>, ctx: z.RefinementCtx): void;
  /**
   * The result as the API answers it, when its stored shape is not the wire's: the wire spells
   * fields in snake_case, as the rest of the API (absent: answered as stored).
   */
  wire?(result: z.output<R>): Record<string, unknown>;
}
// Infers each entry's result type, so its `check` reads the result's fields.
const structured = <R extends z.ZodObject>(spec: StructuredSpec<R>) => spec;

/** An operation with batches (`POST /v1/operations/<name>/batches`). */
interface BatchSpec {
  /** The batch's options each item's body carries, when set (an intent batch's labels). */
  itemOptions?: ReadonlyArray<keyof BatchOptions>;
}

export interface OperationSpec {
  /** The request body (zod, strict). */
  body: z.ZodObject;
  /** What routing classifies it as: an operation knows its task; only chat is inferred from the text. */
  taskType: TaskType;
  /** `SWITCHYARD_CACHE_TTL` may name it: the response cache may keep its answers. */
  cacheable: boolean;
  /** Absent: not a chat prompt (embed calls a model's embeddings API). */
  structured?: StructuredSpec;
  /** Absent: no batches of it. */
  batch?: BatchSpec;
}

const text = z.string().min(1, 'text must not be empty').max(400_000, 'text is longer than 400,000 characters');
const model = z.string().min(1).default('auto');
// Routing attributes, as on chat completions: who asks, and free-form metadata rules can test.
const attribution = {
  user: z.string().max(256).optional(),
  metadata: z.record(z.string().max(64), z.string().max(512)).optional(),
  /** Switchyard's own settings for this request (e.g. `{ "quality": 0.8 }`, the cost–quality dial). */
  switchyard: SwitchyardRequestExtensionSchema.optional(),
};

const score = z.number().min(0).max(1);

/** The registry: one entry per operation. Its order is the order the API lists them in. */
export const OPERATION_SPECS = {
  intent: {
    body: z
      .object({ text, intents: z.array(z.string().min(1).max(100)).min(2).max(50).optional(), model, ...attribution })
      .strict(),
    taskType: 'analysis',
    cacheable: true,
    batch: { itemOptions: ['intents'] },
    structured: structured({
      task: (b) =>
        `Classify the user's intent.${b.intents ? ` Choose from: ${(b.intents as string[]).join(', ')}.` : ''}`,
      replyShape:
        '{"intent": string, "confidence": number 0-1, "alternatives": [{"intent": string, "confidence": number 0-1}]}',
      result: z.object({
        intent: z.string().min(1),
        confidence: score,
        alternatives: z.array(z.object({ intent: z.string().min(1), confidence: score })).default([]),
      }),
      check(b, r, ctx) {
        const allowed = b.intents as string[] | undefined;
        if (allowed && !allowed.includes(r.intent))
          ctx.addIssue({ code: 'custom', path: ['intent'], message: `intent must be one of the given intents` });
      },
    }),
  },
  sentiment: {
    body: z.object({ text, model, ...attribution }).strict(),
    taskType: 'analysis',
    cacheable: true,
    batch: {},
    structured: structured({
      task: () => 'Classify the sentiment of the text.',
      replyShape:
        '{"label": "positive"|"negative"|"neutral"|"mixed", "scores": {"positive": number 0-1, "negative": number 0-1, "neutral": number 0-1}}',
      result: z.object({
        label: z.enum(['positive', 'negative', 'neutral', 'mixed']),
        scores: z.object({ positive: score, negative: score, neutral: score }),
      }),
    }),
  },
  entities: {
    body: z
      .object({ text, types: z.array(z.string().min(1).max(50)).min(1).max(30).optional(), model, ...attribution })
      .strict(),
    taskType: 'extraction',
    cacheable: true,
    batch: { itemOptions: ['types'] },
    structured: structured({
      task: (b) =>
        `Extract the named entities${b.types ? ` of types ${(b.types as string[]).join(', ')}` : ' (PERSON, ORGANIZATION, LOCATION, DATE, ...)'} with their character offsets in the text.`,
      replyShape:
        '{"entities": [{"text": string, "type": string, "start": integer, "end": integer}]} where text equals input.slice(start, end)',
      result: z.object({
        entities: z.array(
          z.object({
            text: z.string().min(1),
            type: z.string().min(1),
            start: z.number().int().min(0),
            end: z.number().int().min(1),
          }),
        ),
      }),
      check(b, r, ctx) {
        const source = String(b.text);
        r.entities.forEach((e, i) => {
          if (e.end <= e.start || source.slice(e.start, e.end) !== e.text) {
            ctx.addIssue({
              code: 'custom',
              path: ['entities', i],
              message: `span ${e.start}-${e.end} does not hold "${e.text}"`,
            });
          }
        });
      },
    }),
  },
  summarize: {
    body: z
      .object({
        text,
        maxWords: z.number().int().min(10).max(2_000).default(120),
        style: z.enum(['abstract', 'key_points']).optional(),
        model,
        ...attribution,
      })
      .strict(),
    taskType: 'summarization',
    cacheable: true,
    // Its batches take documents, cut into chunks and combined (activities/batch.ts).
    batch: {},
    structured: structured({
      task: (b) =>
        b.style === 'key_points'
          ? `List the key points of the text, at most ${Number(b.maxWords ?? 120)} words in all, with a one-paragraph summary.`
          : `Summarize the text in at most ${Number(b.maxWords ?? 120)} words and list its key points.`,
      replyShape: '{"summary": string, "keyPoints": [string]}',
      result: z.object({
        summary: z.string().min(1),
        keyPoints: z.array(z.string().min(1)).min(1).max(10),
      }),
      check(b, r, ctx) {
        const maxWords = Number(b.maxWords ?? 120);
        // Some slack: models count words loosely; twice the limit is a failure to follow instructions.
        if (r.summary.split(/\s+/).filter(Boolean).length > maxWords * 2)
          ctx.addIssue({ code: 'custom', path: ['summary'], message: `summary is far longer than ${maxWords} words` });
      },
      // Stored (and asked of the model) as `keyPoints`; answered as `key_points`, as its batch results
      // are. `keyPoints` stays as a deprecated alias: clients of the first API read it.
      wire: (r) => ({ summary: r.summary, key_points: r.keyPoints, keyPoints: r.keyPoints }),
    }),
  },
  embed: {
    body: z
      .object({
        input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(256)]),
        model,
        ...attribution,
      })
      .strict(),
    taskType: 'extraction',
    cacheable: true,
  },
} satisfies Record<string, OperationSpec>;

type Specs = typeof OPERATION_SPECS;
export type OperationName = keyof Specs;
/** The operations a chat model answers with JSON (all but embed). */
export type StructuredOperation = {
  [O in OperationName]: Specs[O] extends { structured: StructuredSpec } ? O : never;
}[OperationName];
/** The operations with batches: each is a batch kind (`src/domain/batch/job.ts`). */
export type BatchableOperation = {
  [O in OperationName]: Specs[O] extends { batch: BatchSpec } ? O : never;
}[OperationName];

// The entries seen through their common interface, for lookups by a name the type system cannot narrow.
const SPECS: Record<OperationName, OperationSpec> = OPERATION_SPECS;

export const OPERATION_NAMES = Object.keys(OPERATION_SPECS) as OperationName[];
const namesWhere = (keep: (spec: OperationSpec) => boolean) => OPERATION_NAMES.filter((op) => keep(SPECS[op]));

export const STRUCTURED_OPERATIONS = namesWhere((s) => s.structured !== undefined) as StructuredOperation[];
export const CACHEABLE_OPERATIONS = namesWhere((s) => s.cacheable);
export const BATCHABLE_OPERATIONS = namesWhere((s) => s.batch !== undefined) as BatchableOperation[];

export const isOperation = (op: string): op is OperationName => Object.hasOwn(OPERATION_SPECS, op);
export const isStructured = (op: string): op is StructuredOperation => (STRUCTURED_OPERATIONS as string[]).includes(op);

/** The request body schema of each operation, by name. */
export const OperationBodySchemas = Object.fromEntries(OPERATION_NAMES.map((op) => [op, SPECS[op].body])) as {
  [O in OperationName]: Specs[O]['body'];
};
export type OperationBody<O extends OperationName> = z.infer<(typeof OperationBodySchemas)[O]>;

/** The task type an operation declares; undefined for chat (and any other name), whose text decides. */
export const taskTypeOf = (op: string): TaskType | undefined => (isOperation(op) ? SPECS[op].taskType : undefined);

/** The options of a batch that an item of `kind` carries in its body, those that are set. */
export function batchItemOptions(kind: BatchableOperation, options: BatchOptions): Partial<BatchOptions> {
  const picked: Partial<BatchOptions> = {};
  for (const key of SPECS[kind].batch?.itemOptions ?? [])
    if (options[key]) Object.assign(picked, { [key]: options[key] });
  return picked;
}

const structuredSpec = (op: StructuredOperation): StructuredSpec => OPERATION_SPECS[op].structured;

/** A summary's result, by name: the batch engine reads its chunks' summaries. */
export const SummaryResultSchema = OPERATION_SPECS.summarize.structured.result;

/**
 * A structured operation's stored result as the API answers it (`wire` of its spec); a result that
 * does not read as the operation's (or an operation without `wire`) is answered as stored.
 */
export function resultOnWire(op: string, result: unknown): unknown {
  if (!isStructured(op)) return result;
  const { result: schema, wire } = structuredSpec(op);
  if (!wire) return result;
  const parsed = schema.safeParse(result);
  return parsed.success ? wire(parsed.data) : result;
}

/** The output schema for an operation, refined against its input (labels, spans, length). */
export function resultSchemaFor(op: StructuredOperation, body: Body): z.ZodType {
  const { result, check } = structuredSpec(op);
  return check ? result.superRefine((r, ctx) => check(body, r, ctx)) : result;
}

/** The chat messages a structured operation sends. The marker line lets the simulator recognise it. */
export function operationMessages(op: StructuredOperation, body: Body): ChatMessage[] {
  const spec = structuredSpec(op);
  return [
    {
      role: 'system',
      content: `switchyard-operation: ${op}\n${spec.task(body)}\nReply with one JSON object only, no prose, of this shape: ${spec.replyShape}`,
    },
    { role: 'user', content: String(body.text) },
  ];
}

/** Extracts the JSON object from a model reply (tolerates code fences and prose around it). */
export function extractJson(reply: string): unknown {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(reply);
  const candidate = fenced ? fenced[1]! : reply;
  const start = candidate.indexOf('{');
  const end = candidate.lastIndexOf('}');
  if (start < 0 || end <= start) throw new SyntaxError('no JSON object in the reply');
  return JSON.parse(candidate.slice(start, end + 1));
}

export type ValidationResult = { ok: true; value: unknown } | { ok: false; reason: string };

/** Parses and validates a model's reply for a structured operation. */
export function validateOutput(op: StructuredOperation, body: Body, reply: string | null): ValidationResult {
  if (!reply) return { ok: false, reason: 'empty reply' };
  let json: unknown;
  try {
    json = extractJson(reply);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = resultSchemaFor(op, body).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: `${issue.path.join('.') || 'output'}: ${issue.message}` };
  }
  return { ok: true, value: parsed.data };
}
