/**
 * Token estimates with a real BPE tokenizer (o200k_base, the encoding of OpenAI's current models).
 * Other vendors tokenize differently; o200k is a close, deterministic estimate for routing and
 * worst-case cost. The rank table is built lazily and once: it is large.
 *
 * Counting is linear in the input for every input, hostile ones included (issue 28): the text is
 * split with the encoding's own pattern, every piece longer than `RUN` characters (a run of
 * spaces, of U+3000, of random letters, a URL…) is counted in parts of `RUN`, and each part is
 * merged with a pair-rank merge that looks up O(part) pairs (js-tiktoken's looks up O(part²),
 * each key built by joining the bytes). The counts equal js-tiktoken's `encode(text).length`
 * wherever no piece is longer than `RUN` (prose, code; the unit tests compare them); a longer run
 * is overcounted by about a token per part.
 */
import o200k from 'js-tiktoken/ranks/o200k_base';
import { contentText, type ChatMessage } from './chat';

/**
 * Beyond this many characters a text is counted on its first part and scaled: a 4 MB prompt
 * would otherwise hold the event loop for a second or more. Routing needs the size, not the last
 * token. A request's messages share one such allowance (`countMessageTokens`).
 */
export const EXACT_TOKEN_CHARS = 100_000;

/**
 * BPE merges a piece in time quadratic in its length (js-tiktoken took 2.9 s on 5,000 × "x" and
 * ~30 s on 6 KB of spaces): pieces longer than this are counted in parts of this size.
 */
export const RUN = 32;

/**
 * Token ranks keyed by the token's bytes as a byte string (one char per byte, as `atob` gives):
 * a pair's key is then a substring, not an array joined with commas. Two-byte tokens, the pairs
 * every merge starts from, are also in a flat table indexed by the two bytes (-1: not a token).
 */
let ranks: Map<string, number> | undefined;
const twoByteRanks = new Int32Array(65_536).fill(-1);
let pattern: RegExp | undefined;

function rankTable(): Map<string, number> {
  if (ranks) return ranks;
  const table = new Map<string, number>();
  // js-tiktoken's compressed format: per line, a label, the first rank, then base64 tokens.
  for (const line of o200k.bpe_ranks.split('\n')) {
    const [, first, ...tokens] = line.split(' ');
    if (first === undefined) continue;
    const offset = Number.parseInt(first, 10);
    tokens.forEach((t, i) => {
      const bytes = atob(t);
      table.set(bytes, offset + i);
      if (bytes.length === 2) twoByteRanks[bytes.charCodeAt(0) * 256 + bytes.charCodeAt(1)] = offset + i;
    });
  }
  ranks = table;
  return table;
}

const utf8 = new TextEncoder();

/** The piece's UTF-8 bytes as a byte string (a lone surrogate becomes U+FFFD, as js-tiktoken does). */
function byteString(piece: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(piece)) return piece;
  let out = '';
  for (const b of utf8.encode(piece)) out += String.fromCharCode(b);
  return out;
}

/** The rank of the token that parts `i` and `i + 1` would merge into (Infinity: none). */
function pairRank(bytes: string, starts: number[], i: number, table: Map<string, number>): number {
  if (i + 2 >= starts.length) return Infinity;
  return table.get(bytes.slice(starts[i], starts[i + 2])) ?? Infinity;
}

/**
 * How many tokens BPE merges these bytes into, with js-tiktoken's rule (merge the lowest-ranked
 * adjacent pair, the leftmost on a tie, until no adjacent pair is a token). Each merge looks up
 * only the two pairs next to it.
 */
function mergedLength(bytes: string, table: Map<string, number>): number {
  const starts: number[] = []; // part i is bytes[starts[i], starts[i + 1])
  const pairs: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    starts.push(i);
    if (i + 1 < bytes.length) {
      const r = twoByteRanks[bytes.charCodeAt(i) * 256 + bytes.charCodeAt(i + 1)]!;
      pairs.push(r < 0 ? Infinity : r);
    }
  }
  starts.push(bytes.length);
  for (;;) {
    let best = 0;
    for (let i = 1; i < pairs.length; i++) if (pairs[i]! < pairs[best]!) best = i;
    if (!(pairs[best]! < Infinity)) break;
    starts.splice(best + 1, 1);
    pairs.splice(best, 1);
    if (best < pairs.length) pairs[best] = pairRank(bytes, starts, best, table);
    if (best > 0) pairs[best - 1] = pairRank(bytes, starts, best - 1, table);
  }
  return starts.length - 1;
}

// Pieces seen recently (a run of one character, the commonest words) are counted once.
const pieceCounts = new Map<string, number>();

/** One pre-tokenized piece of at most `RUN` characters. */
function shortPieceLength(piece: string): number {
  let n = pieceCounts.get(piece);
  if (n !== undefined) return n;
  const table = rankTable();
  const bytes = byteString(piece);
  n = table.has(bytes) ? 1 : mergedLength(bytes, table);
  if (pieceCounts.size >= 4_096) pieceCounts.clear();
  pieceCounts.set(piece, n);
  return n;
}

/** A piece of any length: in parts of `RUN` characters, never cutting a surrogate pair. */
function pieceLength(piece: string): number {
  if (piece.length <= RUN) return shortPieceLength(piece);
  let n = 0;
  for (let i = 0; i < piece.length;) {
    let end = Math.min(i + RUN, piece.length);
    const last = piece.charCodeAt(end - 1);
    if (end < piece.length && last >= 0xd800 && last <= 0xdbff) end--; // keep the pair together
    n += shortPieceLength(piece.slice(i, end));
    i = end;
  }
  return n;
}

function encodedLength(text: string): number {
  // The encoding's own pre-tokenizer. Linear: each alternative scans one run and consumes it.
  // Special tokens (<|endoftext|>) are plain text here, as in `encode(text, [], [])`.
  pattern ??= new RegExp(o200k.pat_str, 'gu');
  let n = 0;
  for (const m of text.matchAll(pattern)) n += pieceLength(m[0]);
  return n;
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

/**
 * A request's tokens. Its texts share one allowance of `EXACT_TOKEN_CHARS` exactly counted
 * characters (forty 100 KB messages, or 20,000 short ones, cost what one 100 KB text does); what
 * lies beyond it is estimated at the rate counted so far.
 */
export function countMessageTokens(messages: ChatMessage[]): number {
  let total = TOKENS_PER_REPLY_PRIMER;
  let exactChars = 0;
  let exactTokens = 0;
  let uncounted = 0;
  const count = (text: string) => {
    const room = EXACT_TOKEN_CHARS - exactChars;
    const head = text.length <= room ? text : text.slice(0, room);
    const n = head ? encodedLength(head) : 0;
    exactChars += head.length;
    exactTokens += n;
    uncounted += text.length - head.length;
    return n;
  };
  for (const m of messages) {
    total += TOKENS_PER_MESSAGE + count(contentText(m.content));
    if ('name' in m && m.name) total += count(m.name);
  }
  return total + (uncounted && Math.ceil((uncounted * exactTokens) / exactChars));
}
