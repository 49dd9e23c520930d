/**
 * Splitting a document into chunks a model can take in one call: whole sentences packed up to a
 * token budget (the project's tokenizer, not character counts), each chunk starting with the last
 * sentences of the one before up to an overlap budget, so a thought cut at a boundary is seen
 * whole on one side. A sentence longer than the budget is split at word boundaries.
 */
import { countTokens } from '../tokens';

export interface Chunk {
  index: number;
  text: string;
  tokens: number;
}

export interface ChunkOptions {
  /** The most tokens of document text in one chunk. */
  maxTokens: number;
  /** Tokens of the previous chunk's end repeated at the start of the next (0: none). */
  overlapTokens: number;
}

const sentenceSegmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

/** The text's sentences, whitespace kept with the sentence it follows (they join back to the text). */
export function sentencesOf(text: string): string[] {
  return [...sentenceSegmenter.segment(text)].map((s) => s.segment).filter((s) => s.length > 0);
}

/** Pieces of one over-long sentence, at word boundaries, each within `maxTokens`. */
function splitLong(sentence: string, maxTokens: number, count: (s: string) => number): string[] {
  const words = sentence.split(/(?<=\s)/);
  const pieces: string[] = [];
  let current = '';
  for (const w of words) {
    if (current && count(current + w) > maxTokens) {
      pieces.push(current);
      current = '';
    }
    // A single "word" over the budget (no spaces in it): cut it by characters.
    if (count(w) > maxTokens) {
      let step = Math.max(1, Math.floor((w.length * maxTokens) / count(w)));
      while (step > 1 && count(w.slice(0, step)) > maxTokens) step = Math.floor(step * 0.8);
      for (let i = 0; i < w.length; i += step) pieces.push(w.slice(i, i + step));
      continue;
    }
    current += w;
  }
  if (current) pieces.push(current);
  return pieces;
}

export function chunkText(text: string, opts: ChunkOptions, count: (s: string) => number = countTokens): Chunk[] {
  if (opts.maxTokens < 1) throw new RangeError('maxTokens must be at least 1');
  if (opts.overlapTokens < 0 || opts.overlapTokens >= opts.maxTokens)
    throw new RangeError('overlapTokens must be at least 0 and below maxTokens');
  const units = sentencesOf(text).flatMap((s) => {
    const t = count(s);
    return t > opts.maxTokens
      ? splitLong(s, opts.maxTokens, count).map((p) => ({ text: p, tokens: count(p) }))
      : [{ text: s, tokens: t }];
  });
  const chunks: Chunk[] = [];
  let current: typeof units = [];
  let tokens = 0;
  let added = 0; // units in `current` that no chunk holds yet (the rest is carried overlap)
  const close = () => {
    chunks.push({ index: chunks.length, text: current.map((u) => u.text).join(''), tokens });
    // The next chunk starts with the tail of this one, within the overlap budget.
    const carry: typeof units = [];
    let carried = 0;
    for (let i = current.length - 1; i > 0 && carried + current[i]!.tokens <= opts.overlapTokens; i--) {
      carry.unshift(current[i]!);
      carried += current[i]!.tokens;
    }
    current = carry;
    tokens = carried;
    added = 0;
  };
  for (const u of units) {
    if (added > 0 && tokens + u.tokens > opts.maxTokens) close();
    // The carried overlap may leave no room for a large unit: start clean instead.
    if (tokens + u.tokens > opts.maxTokens) {
      current = [];
      tokens = 0;
    }
    current.push(u);
    tokens += u.tokens;
    added++;
  }
  if (added > 0) close();
  return chunks;
}
