/**
 * The answer a request stores (`requests.response`, and the response cache's copy of it), as one
 * type with one reader. The provider call writes it (`activities/providerCall.ts`): a chat or a
 * structured operation's answer (the operation's validated value in `result`), or embeddings.
 * Every reader goes through `readAnswer`, so a shape the readers do not expect is an error here,
 * not an `undefined` in a response body. Unknown keys are kept: the row is the record.
 */
import { z } from 'zod';
import type { ToolCall } from './chat';

// Loose, like the answer: what is read is checked, and nothing of the record is dropped.
const ToolCallSchema: z.ZodType<ToolCall> = z.looseObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

export const ChatAnswerSchema = z.looseObject({
  content: z.string().nullable(),
  finishReason: z.string(),
  providerModel: z.string(),
  providerRequestId: z.string().optional(),
  toolCalls: z.array(ToolCallSchema).optional(),
  /** A structured operation's value, checked against its result schema when it was stored. */
  result: z.unknown().optional(),
});

// A vector is checked to be an array, not number by number: an answer holds up to 256 vectors of
// thousands of numbers, which the call wrote as numbers, and checking each costs a large part of
// sending them (50 ms against 190 ms for the largest).
const Vector = z.custom<number[]>((v) => Array.isArray(v), { message: 'an array of numbers' });

export const EmbeddingsAnswerSchema = z.looseObject({
  embeddings: z.array(z.looseObject({ index: z.number(), embedding: Vector })),
  dimensions: z.number(),
  providerModel: z.string(),
});

export type ChatAnswer = z.infer<typeof ChatAnswerSchema>;
export type EmbeddingsAnswer = z.infer<typeof EmbeddingsAnswerSchema>;
export type StoredAnswer = ChatAnswer | EmbeddingsAnswer;
/** Which answer a request stores: embeddings for `embed`, a chat answer for every other operation. */
export type AnswerKind = 'chat' | 'embeddings';

export const answerKindOf = (operation: string): AnswerKind => (operation === 'embed' ? 'embeddings' : 'chat');

/** A stored answer of another shape than its request's: a bug or a damaged row, never a client's fault. */
export class StoredAnswerError extends Error {
  constructor(kind: AnswerKind, detail: string) {
    super(`the stored answer is not of the ${kind} kind: ${detail}`);
    this.name = 'StoredAnswerError';
  }
}

/** The stored answer of the kind the request's operation stores; throws `StoredAnswerError` otherwise. */
export function readAnswer(response: unknown, kind: 'chat'): ChatAnswer;
export function readAnswer(response: unknown, kind: 'embeddings'): EmbeddingsAnswer;
export function readAnswer(response: unknown, kind: AnswerKind): StoredAnswer;
export function readAnswer(response: unknown, kind: AnswerKind): StoredAnswer {
  const parsed = (kind === 'embeddings' ? EmbeddingsAnswerSchema : ChatAnswerSchema).safeParse(response);
  if (!parsed.success) throw new StoredAnswerError(kind, z.prettifyError(parsed.error));
  return parsed.data;
}

export const isEmbeddings = (a: StoredAnswer): a is EmbeddingsAnswer => 'embeddings' in a;

/** An answer `readAnswer` already read, as the kind its route stores: which kind is checked, nothing parsed again. */
export function answerAs(answer: StoredAnswer, kind: 'chat'): ChatAnswer;
export function answerAs(answer: StoredAnswer, kind: 'embeddings'): EmbeddingsAnswer;
export function answerAs(answer: StoredAnswer, kind: AnswerKind): StoredAnswer {
  if (isEmbeddings(answer) !== (kind === 'embeddings'))
    throw new StoredAnswerError(kind, 'it was read as the other kind');
  return answer;
}
