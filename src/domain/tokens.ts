/**
 * Token estimates with a real BPE tokenizer (o200k_base, the encoding of OpenAI's current models).
 * Other vendors tokenize differently; o200k is a close, deterministic estimate for routing and
 * worst-case cost. The rank table is built lazily and once: it is large.
 *
 * Counting is linear in the input for every input, hostile ones included (issue 28): the text is
 * split with the encoding's own pattern, every piece longer than `RUN` characters (a run of
 * spaces, of U+3000, of random letters, a URL…) is counted in parts of `RUN`, and each part is
 * merged with a pair-rank merge that looks up O(part) pairs (js-tiktoken's looks up O(part²),
 * each key built by joining the bytes), in flat arrays of the vocabulary. The counts equal
 * js-tiktoken's `encode(text).length` wherever no piece is longer than `RUN` (prose, code; the
 * unit tests compare them); a longer run is overcounted by about a token per part.
 */
import o200k from 'js-tiktoken/ranks/o200k_base';
import { contentText, type ChatMessage } from './chat';

/**
 * Beyond this many characters a text is not merged: a 4 MB prompt would otherwise hold the event
 * loop for a second or more. What lies beyond is counted as its UTF-8 bytes, an upper bound (a
 * token is at least one byte), never a rate scaled from the head: the count feeds the context-
 * window check and the budget reservation, and a cheap head (100,000 spaces) followed by dense
 * text (a million digits, three to a token) was estimated at a tenth of its tokens, so a
 * reservation could be far below the call's cost. A request's messages share one such allowance
 * (`countMessageTokens`). 400,000 characters is about 100,000 tokens of English, past most
 * context windows, so the bound's overcount (about 4x for English) only reaches prompts that fit
 * few models anyway; counting them takes ~25 ms here (the merges are cheap since issue 23).
 */
export const EXACT_TOKEN_CHARS = 400_000;

/**
 * BPE merges a piece in time quadratic in its length (js-tiktoken took 2.9 s on 5,000 × "x" and
 * ~30 s on 6 KB of spaces): pieces longer than this are counted in parts of this size.
 */
export const RUN = 32;

/**
 * The vocabulary as flat arrays, so a merge never builds a string (a key string per pair lookup
 * was most of the time on a long Chinese prompt): token `r`'s bytes are `bytes[start[r],
 * start[r + 1])`, and an open-addressing table maps the FNV-1a hash of a token's bytes to its
 * rank (a hit is confirmed byte by byte, so a collision costs a probe, never a wrong count). Two-
 * byte tokens, the pairs every merge starts from, are also in a flat table indexed by the two
 * bytes (-1: not a token). o200k's ranks are 0…N−1, so a rank is also the token's index.
 */
interface Vocab {
  bytes: Uint8Array;
  start: Int32Array;
  /** Per slot, two numbers side by side (one cache line per probe): a hash, and rank + 1 (0: empty). */
  slots: Int32Array;
  mask: number;
  /** 32 − log2(slots.length): a hash's first slot is its Fibonacci-scrambled top bits. */
  shift: number;
}
let vocab: Vocab | undefined;
const twoByteRanks = new Int32Array(65_536).fill(-1);
let pattern: RegExp | undefined;

/** The longest piece in bytes: `RUN` UTF-16 units, at most 3 bytes each (a surrogate pair: 4 for 2). */
const MAX_PIECE_BYTES = 3 * RUN;

function vocabulary(): Vocab {
  if (vocab) return vocab;
  // js-tiktoken's compressed format: per line, a label, the first rank, then base64 tokens.
  const decoded: string[] = [];
  let total = 0;
  for (const line of o200k.bpe_ranks.split('\n')) {
    const [, first, ...tokens] = line.split(' ');
    if (first === undefined) continue;
    const offset = Number.parseInt(first, 10);
    tokens.forEach((t, i) => {
      const b = atob(t);
      decoded[offset + i] = b;
      total += b.length;
    });
  }
  const bytes = new Uint8Array(total);
  const start = new Int32Array(decoded.length + 1);
  let size = 1;
  let shift = 32;
  while (size < decoded.length * 2.5) {
    size *= 2;
    shift--;
  }
  const slots = new Int32Array(2 * size);
  const mask = size - 1;
  let at = 0;
  for (let r = 0; r < decoded.length; r++) {
    const b = decoded[r] ?? ''; // the ranks are 0…N-1; a gap would be an empty, unmatchable token
    start[r] = at;
    let h = FNV_BASIS;
    for (let k = 0; k < b.length; k++) {
      const c = b.charCodeAt(k);
      bytes[at++] = c;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    if (b.length === 2) twoByteRanks[b.charCodeAt(0) * 256 + b.charCodeAt(1)] = r;
    if (b.length === 0) continue;
    let slot = Math.imul(h, 0x9e3779b1) >>> shift;
    while (slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
    slots[2 * slot] = h;
    slots[2 * slot + 1] = r + 1;
  }
  start[decoded.length] = at;
  vocab = { bytes, start, slots, mask, shift };
  return vocab;
}

/**
 * Builds the vocabulary now (a fraction of a second), so the first request a process classifies
 * does not pay for it. The worker calls it at start.
 */
export function warmTokenizer(): void {
  vocabulary();
}

// FNV-1a, 32 bits: a byte string's hash in integer arithmetic.
const FNV_BASIS = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

const utf8 = new TextEncoder();
// The piece being merged (one piece at a time, reused).
const buf = new Uint8Array(MAX_PIECE_BYTES);
// A piece's parts as a linked list over their first bytes (a merge unlinks one, no array shifts).
const next = new Int32Array(MAX_PIECE_BYTES);
const prev = new Int32Array(MAX_PIECE_BYTES);
const NONE = 0x7fffffff;
const pairs = new Int32Array(MAX_PIECE_BYTES);
const alive = new Uint8Array(MAX_PIECE_BYTES);
/**
 * The pairs to merge, lowest rank first, then leftmost: a binary min-heap of `rank << 7 | start`
 * (a start is under 128), stale entries skipped when popped, instead of a scan of every pair at
 * each merge (a 32-character Chinese part is 96 bytes and about 70 merges).
 */
const heap = new Int32Array(4 * MAX_PIECE_BYTES);
let heapSize = 0;

function push(x: number): void {
  let i = heapSize++;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= x) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = x;
}

function pop(): number {
  const top = heap[0]!;
  const x = heap[--heapSize]!;
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= heapSize) break;
    if (child + 1 < heapSize && heap[child + 1]! < heap[child]!) child++;
    if (heap[child]! >= x) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = x;
  return top;
}

/** The piece's UTF-8 bytes into `buf` (a lone surrogate becomes U+FFFD, as js-tiktoken does); their count. */
function loadBytes(piece: string): number {
  let n = 0;
  for (; n < piece.length; n++) {
    const c = piece.charCodeAt(n);
    if (c > 0x7f) return utf8.encodeInto(piece, buf).written;
    buf[n] = c;
  }
  return n;
}

/** The rank of the token spelled by `buf[i, j)`, or NONE. */
function rankOf(v: Vocab, i: number, j: number): number {
  const len = j - i;
  let h = FNV_BASIS;
  for (let k = i; k < j; k++) h = Math.imul(h ^ buf[k]!, FNV_PRIME);
  for (let slot = Math.imul(h, 0x9e3779b1) >>> v.shift; ; slot = (slot + 1) & v.mask) {
    const r = v.slots[2 * slot + 1]! - 1;
    if (r < 0) return NONE;
    if (v.slots[2 * slot] !== h) continue;
    const s = v.start[r]!;
    if (v.start[r + 1]! - s !== len) continue;
    let k = 0;
    while (k < len && v.bytes[s + k] === buf[i + k]) k++;
    if (k === len) return r;
  }
}

/**
 * How many tokens BPE merges `buf[0, n)` into, with js-tiktoken's rule (merge the lowest-ranked
 * adjacent pair, the leftmost on a tie, until no adjacent pair is a token). Each merge looks up
 * only the two pairs next to it.
 */
function mergedLength(v: Vocab, n: number): number {
  if (rankOf(v, 0, n) !== NONE) return 1;
  // The part starting at byte k is buf[k, next[k]); pairs[k] is the rank it and the next part
  // merge into (NONE: they do not, or it is the last part).
  heapSize = 0;
  for (let k = 0; k < n; k++) {
    next[k] = k + 1;
    prev[k] = k - 1;
    alive[k] = 1;
    const r = k + 1 < n ? twoByteRanks[buf[k]! * 256 + buf[k + 1]!]! : -1;
    pairs[k] = r < 0 ? NONE : r;
    if (r >= 0) push((r << 7) | k);
  }
  let parts = n;
  while (heapSize > 0) {
    const x = pop();
    const best = x & 127;
    if (!alive[best] || pairs[best] !== x >> 7) continue; // merged away, or its pair changed
    // The part at `best` takes in the next one.
    const gone = next[best]!;
    alive[gone] = 0;
    const after = next[gone]!;
    next[best] = after;
    if (after < n) prev[after] = best;
    parts--;
    const r = after < n ? rankOf(v, best, next[after]!) : NONE;
    pairs[best] = r;
    if (r !== NONE) push((r << 7) | best);
    const before = prev[best]!;
    if (before >= 0) {
      const q = rankOf(v, before, after);
      pairs[before] = q;
      if (q !== NONE) push((q << 7) | before);
    }
  }
  return parts;
}

// Pieces seen recently (a run of one character, the commonest words) are counted once.
const pieceCounts = new Map<string, number>();

/** One pre-tokenized piece of at most `RUN` characters. */
function shortPieceLength(piece: string): number {
  let n = pieceCounts.get(piece);
  if (n !== undefined) return n;
  n = mergedLength(vocabulary(), loadBytes(piece));
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

/**
 * The UTF-8 length of `text[from…]`, more tokens than o200k can make of it (a lone surrogate
 * counts as U+FFFD, three bytes, as the encoder writes it).
 */
export function utf8Bytes(text: string, from = 0): number {
  let n = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** A text's tokens: exact up to `EXACT_TOKEN_CHARS` characters, an upper bound beyond. */
export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  if (text.length <= EXACT_TOKEN_CHARS) return encodedLength(text);
  return encodedLength(text.slice(0, EXACT_TOKEN_CHARS)) + utf8Bytes(text, EXACT_TOKEN_CHARS);
}

// OpenAI's documented per-message framing overhead for chat models.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY_PRIMER = 3;

/**
 * A request's tokens. Its texts share one allowance of `EXACT_TOKEN_CHARS` exactly counted
 * characters (forty 100 KB messages, or 20,000 short ones, cost what one 100 KB text does); what
 * lies beyond it counts as its UTF-8 bytes, so the total is never below what o200k would count.
 */
export function countMessageTokens(messages: ChatMessage[]): number {
  let total = TOKENS_PER_REPLY_PRIMER;
  let room = EXACT_TOKEN_CHARS;
  const count = (text: string) => {
    if (text.length <= room) {
      room -= text.length;
      return encodedLength(text);
    }
    const head = room ? encodedLength(text.slice(0, room)) : 0;
    const rest = utf8Bytes(text, room);
    room = 0;
    return head + rest;
  };
  for (const m of messages) {
    total += TOKENS_PER_MESSAGE + count(contentText(m.content));
    if ('name' in m && m.name) total += count(m.name);
  }
  return total;
}
