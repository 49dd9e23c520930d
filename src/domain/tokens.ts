/**
 * Token estimates with a real BPE tokenizer (o200k_base, the encoding of OpenAI's current models).
 * Other vendors tokenize differently; o200k is a close, deterministic estimate for routing and
 * worst-case cost. The encoder is built lazily and once: its rank table is large.
 */
import { Tiktoken } from 'js-tiktoken/lite';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { contentText, type ChatMessage } from './chat';

let encoder: Tiktoken | undefined;

function enc(): Tiktoken {
  encoder ??= new Tiktoken(o200k);
  return encoder;
}

/**
 * Beyond this many characters a text is counted on its first part and scaled: a 4 MB prompt
 * would otherwise hold the event loop for seconds. Routing needs the size, not the last token.
 */
export const EXACT_TOKEN_CHARS = 100_000;

/**
 * BPE merges a run without whitespace in time quadratic in its length (5,000 characters took
 * 2.9 s here): runs longer than this are counted in pieces of this size. Natural text has no such
 * runs; a URL or base64 blob is overcounted by a token or so per piece.
 */
const RUN = 32;
const LONG_RUN = new RegExp(`\\S{${RUN + 1},}`, 'g');

// Repeated pieces (a run of one character, the slowest for BPE) are counted once.
const pieceCounts = new Map<string, number>();
function pieceLength(piece: string): number {
  let n = pieceCounts.get(piece);
  if (n === undefined) {
    n = enc().encode(piece, [], []).length;
    if (pieceCounts.size >= 4_096) pieceCounts.clear();
    pieceCounts.set(piece, n);
  }
  return n;
}

function encodedLength(text: string): number {
  let pieces = 0;
  const rest = text.replace(LONG_RUN, (run) => {
    for (let i = 0; i < run.length; i += RUN) pieces += pieceLength(run.slice(i, i + RUN));
    return '';
  });
  return pieces + enc().encode(rest, [], []).length;
}

export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  if (text.length <= EXACT_TOKEN_CHARS) return encodedLength(text);
  const head = encodedLength(text.slice(0, EXACT_TOKEN_CHARS));
  return Math.ceil((head * text.length) / EXACT_TOKEN_CHARS);
}

// OpenAI's documented per-message framing overhead for chat models.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY_PRIMER = 3;

export function countMessageTokens(messages: ChatMessage[]): number {
  let total = TOKENS_PER_REPLY_PRIMER;
  for (const m of messages) {
    total += TOKENS_PER_MESSAGE + countTokens(contentText(m.content));
    if ('name' in m && m.name) total += countTokens(m.name);
  }
  return total;
}
