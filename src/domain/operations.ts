/**
 * Structured operations (intent, sentiment, entities, summarize, embed): their request bodies,
 * the prompt each sends to a chat model, and the zod schema its output must pass. Output that
 * fails its schema is an `InvalidOutput` failure, which escalates to a stronger model.
 */
import { z } from 'zod';
import type { ChatMessage } from './chat';

const text = z.string().min(1, 'text must not be empty').max(400_000, 'text is longer than 400,000 characters');
const model = z.string().min(1).default('auto');
// Routing attributes, as on chat completions: who asks, and free-form metadata rules can test.
const attribution = {
  user: z.string().max(256).optional(),
  metadata: z.record(z.string().max(64), z.string().max(512)).optional(),
};

export const OperationBodySchemas = {
  intent: z
    .object({ text, intents: z.array(z.string().min(1).max(100)).min(2).max(50).optional(), model, ...attribution })
    .strict(),
  sentiment: z.object({ text, model, ...attribution }).strict(),
  entities: z
    .object({ text, types: z.array(z.string().min(1).max(50)).min(1).max(30).optional(), model, ...attribution })
    .strict(),
  summarize: z
    .object({
      text,
      maxWords: z.number().int().min(10).max(2_000).default(120),
      style: z.enum(['abstract', 'key_points']).optional(),
      model,
      ...attribution,
    })
    .strict(),
  embed: z
    .object({ input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(256)]), model, ...attribution })
    .strict(),
};
export type StructuredOperation = 'intent' | 'sentiment' | 'entities' | 'summarize';
export type OperationName = keyof typeof OperationBodySchemas;
export type OperationBody<O extends OperationName> = z.infer<(typeof OperationBodySchemas)[O]>;

export const STRUCTURED_OPERATIONS: StructuredOperation[] = ['intent', 'sentiment', 'entities', 'summarize'];
export const isStructured = (op: string): op is StructuredOperation => (STRUCTURED_OPERATIONS as string[]).includes(op);

const score = z.number().min(0).max(1);

export const IntentResultSchema = z.object({
  intent: z.string().min(1),
  confidence: score,
  alternatives: z.array(z.object({ intent: z.string().min(1), confidence: score })).default([]),
});
export const SentimentResultSchema = z.object({
  label: z.enum(['positive', 'negative', 'neutral', 'mixed']),
  scores: z.object({ positive: score, negative: score, neutral: score }),
});
export const EntitiesResultSchema = z.object({
  entities: z.array(
    z.object({
      text: z.string().min(1),
      type: z.string().min(1),
      start: z.number().int().min(0),
      end: z.number().int().min(1),
    }),
  ),
});
export const SummaryResultSchema = z.object({
  summary: z.string().min(1),
  keyPoints: z.array(z.string().min(1)).min(1).max(10),
});
export const EmbeddingResultSchema = z.object({
  embeddings: z.array(z.object({ index: z.number().int(), embedding: z.array(z.number()) })),
  dimensions: z.number().int().positive(),
});

/** The output schema for an operation, refined against its input (labels, spans, length). */
export function resultSchemaFor(op: StructuredOperation, body: Record<string, unknown>): z.ZodType {
  switch (op) {
    case 'intent': {
      const allowed = body.intents as string[] | undefined;
      return IntentResultSchema.refine((r) => !allowed || allowed.includes(r.intent), {
        message: `intent must be one of the given intents`,
        path: ['intent'],
      });
    }
    case 'sentiment':
      return SentimentResultSchema;
    case 'entities': {
      const source = String(body.text);
      return EntitiesResultSchema.superRefine((r, ctx) => {
        r.entities.forEach((e, i) => {
          if (e.end <= e.start || source.slice(e.start, e.end) !== e.text) {
            ctx.addIssue({
              code: 'custom',
              path: ['entities', i],
              message: `span ${e.start}-${e.end} does not hold "${e.text}"`,
            });
          }
        });
      });
    }
    case 'summarize': {
      const maxWords = Number(body.maxWords ?? 120);
      // Some slack: models count words loosely; twice the limit is a failure to follow instructions.
      return SummaryResultSchema.refine((r) => r.summary.split(/\s+/).filter(Boolean).length <= maxWords * 2, {
        message: `summary is far longer than ${maxWords} words`,
        path: ['summary'],
      });
    }
  }
}

const SHAPES: Record<StructuredOperation, string> = {
  intent:
    '{"intent": string, "confidence": number 0-1, "alternatives": [{"intent": string, "confidence": number 0-1}]}',
  sentiment:
    '{"label": "positive"|"negative"|"neutral"|"mixed", "scores": {"positive": number 0-1, "negative": number 0-1, "neutral": number 0-1}}',
  entities:
    '{"entities": [{"text": string, "type": string, "start": integer, "end": integer}]} where text equals input.slice(start, end)',
  summarize: '{"summary": string, "keyPoints": [string]}',
};

const TASKS: Record<StructuredOperation, (b: Record<string, unknown>) => string> = {
  intent: (b) =>
    `Classify the user's intent.${b.intents ? ` Choose from: ${(b.intents as string[]).join(', ')}.` : ''}`,
  sentiment: () => 'Classify the sentiment of the text.',
  entities: (b) =>
    `Extract the named entities${b.types ? ` of types ${(b.types as string[]).join(', ')}` : ' (PERSON, ORGANIZATION, LOCATION, DATE, ...)'} with their character offsets in the text.`,
  summarize: (b) =>
    b.style === 'key_points'
      ? `List the key points of the text, at most ${Number(b.maxWords ?? 120)} words in all, with a one-paragraph summary.`
      : `Summarize the text in at most ${Number(b.maxWords ?? 120)} words and list its key points.`,
};

/** The chat messages a structured operation sends. The marker line lets the simulator recognise it. */
export function operationMessages(op: StructuredOperation, body: Record<string, unknown>): ChatMessage[] {
  return [
    {
      role: 'system',
      content: `switchyard-operation: ${op}\n${TASKS[op](body)}\nReply with one JSON object only, no prose, of this shape: ${SHAPES[op]}`,
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
export function validateOutput(
  op: StructuredOperation,
  body: Record<string, unknown>,
  reply: string | null,
): ValidationResult {
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
