/**
 * The prompt classifier's featurizer (issue 23): text → a sparse vector over hashed buckets.
 * Pure and deterministic; the same settings must be used at training and at inference, so they are
 * stored in the model file (`FeaturizerSettings`).
 *
 * Why these features: word unigrams and bigrams carry the request ("prove", "write a", "summarize");
 * character n-grams inside words carry morphology and scripts without spaces (Chinese, Japanese), so a
 * Japanese prompt has features at all; symbol counts carry code and formulas in any language; a few
 * dense features carry size and shape (length, lines, code fences, digits, question marks), which is
 * most of what complexity needs. Every feature keeps its name, so a decision can say which ones decided.
 *
 * Hashing trick: FNV-1a (32-bit, over the UTF-16 code units of the feature's name) picks the bucket
 * (low `bucketBits` bits) and the sign (top bit), so collisions cancel on average instead of adding up.
 */

export interface FeaturizerSettings {
  /** log2 of the number of buckets. */
  bucketBits: number;
  /** Character n-grams of these lengths, inside words padded with ^ and $. */
  charMin: number;
  charMax: number;
  /**
   * Without `headChars`/`tailChars` (weights files before them): texts longer than this, after
   * normalisation, are featurized on their first and last halves of this many characters. With them it
   * is only a record of their sum.
   */
  maxChars: number;
  /**
   * A text longer than headChars + tailChars characters is featurized on its first `headChars` and last
   * `tailChars` (the ask is usually at the start or the end), cut before normalisation, so neither
   * normalising nor featurizing a long prompt costs more than these. Both or neither.
   */
  headChars?: number;
  tailChars?: number;
  /** Character n-grams count this much against words (before the vector is normalised). */
  charWeight: number;
}

export const DEFAULT_FEATURIZER: FeaturizerSettings = {
  bucketBits: 18,
  charMin: 2,
  charMax: 4,
  maxChars: 1000,
  charWeight: 0.5,
  // Chosen on the tune split (helper i23-acc2): 1,000+500, 700+300 and 500+250 characters scored alike
  // there (its prompts are short: one over 750 characters), 350+150 lost; 700+300 keeps most of a long
  // prompt's ask and halves predict()'s CPU on 4,000-character Chinese prompts (about 1.1 → 0.7 ms at
  // p50) against the old cut (1,500 normalised characters).
  headChars: 700,
  tailChars: 300,
};

/** A featurized text: parallel arrays, buckets unique and ascending. */
export interface FeatureVector {
  buckets: Int32Array;
  /** Signed value (hash sign × feature value). */
  values: Float64Array;
  /** The name of the first feature that landed in the j-th bucket (for explanations; built on demand). */
  nameOf: (j: number) => string;
}

/** FNV-1a 32-bit over UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const WORD = /[\p{L}\p{N}\p{M}]+/gu;
const SYMBOL = /[^\p{L}\p{N}\p{M}\s]/gu;
const DIGIT = /\p{N}/gu;

/**
 * NFKC, lowercase, and long texts cut to their head and tail: with `headChars`/`tailChars`, the raw
 * text is cut first (never inside a surrogate pair); without them (older weights files), the
 * normalised text is cut to halves of `maxChars`, exactly as those weights were trained.
 */
export function normalizeText(
  text: string,
  settings: Pick<FeaturizerSettings, 'maxChars' | 'headChars' | 'tailChars'>,
): string {
  const { headChars, tailChars } = settings;
  if (headChars !== undefined && tailChars !== undefined) {
    let t = text;
    if (t.length > headChars + tailChars) {
      let head = headChars;
      if (head > 0 && isHighSurrogate(t.charCodeAt(head - 1))) head--;
      let tail = t.length - tailChars;
      if (tail < t.length && isLowSurrogate(t.charCodeAt(tail))) tail++;
      t = `${t.slice(0, head)}\n${t.slice(tail)}`;
    }
    return t.normalize('NFKC').toLowerCase();
  }
  let t = text.normalize('NFKC').toLowerCase();
  if (t.length > settings.maxChars) {
    const half = Math.floor(settings.maxChars / 2);
    t = `${t.slice(0, half)}\n${t.slice(t.length - half)}`;
  }
  return t;
}
const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/**
 * The named features of a text with their values, before hashing: the readable definition of what
 * `featurize` computes (tests check the two agree). Character n-grams are over UTF-16 code units.
 */
export function namedFeatures(text: string, settings: FeaturizerSettings): Map<string, number> {
  const t = normalizeText(text, settings);
  const counts = new Map<string, number>();
  const add = (name: string) => counts.set(name, (counts.get(name) ?? 0) + 1);

  const words = t.match(WORD) ?? [];
  let prev = '^';
  for (const w of words) {
    add(`w:${w}`);
    add(`b:${prev} ${w}`);
    prev = w;
    const padded = `^${w}$`;
    for (let n = settings.charMin; n <= settings.charMax; n++)
      for (let i = 0; i + n <= padded.length; i++) add(`c:${padded.slice(i, i + n)}`);
  }
  if (words.length) add(`b:${prev} $`);
  for (const s of t.match(SYMBOL) ?? []) add(`s:${s}`);

  // Sparse part: sublinear term frequency, then L2-normalised so long and short texts weigh alike.
  const sparse = new Map<string, number>();
  let norm = 0;
  for (const [name, c] of counts) {
    const v = (1 + Math.log(c)) * (name.startsWith('c:') ? settings.charWeight : 1);
    sparse.set(name, v);
    norm += v * v;
  }
  norm = Math.sqrt(norm) || 1;
  for (const [name, v] of sparse) sparse.set(name, v / norm);

  for (const [name, v] of denseFeatures(t, words.length, (t.match(SYMBOL) ?? []).length))
    if (v !== 0) sparse.set(name, (sparse.get(name) ?? 0) + v);
  return sparse;
}

/** Shape and size, each scaled to about [0, 1]. */
function denseFeatures(t: string, words: number, symbols: number): Array<[string, number]> {
  const nonSpace = Math.max(1, t.replace(/\s/g, '').length);
  const lines = t.split('\n').length;
  return [
    ['d:words', Math.log1p(words) / 8],
    ['d:lines', Math.log1p(lines - 1) / 5],
    ['d:fence', t.includes('```') ? 1 : 0],
    ['d:backtick', t.includes('`') ? 1 : 0],
    ['d:digits', (t.match(DIGIT) ?? []).length / nonSpace],
    ['d:symbols', symbols / nonSpace],
    ['d:question', Math.min(3, (t.match(/[?？]/g) ?? []).length) / 3],
    // One-hot length bucket (powers of two in words), so length can act non-linearly.
    [`n:${Math.min(12, Math.floor(Math.log2(words + 1)))}`, 1],
  ];
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const step = (h: number, code: number) => Math.imul(h ^ code, FNV_PRIME);
const prefixState = (prefix: string) => {
  let h = FNV_OFFSET;
  for (let i = 0; i < prefix.length; i++) h = step(h, prefix.charCodeAt(i));
  return h;
};
const W0 = prefixState('w:');
const B0 = prefixState('b:');
const C0 = prefixState('c:');
const S0 = prefixState('s:');
const CARET = '^'.charCodeAt(0);
const DOLLAR = '$'.charCodeAt(0);
const SPACE = ' '.charCodeAt(0);

/**
 * Hashes the features of `namedFeatures` into buckets (summing collisions with their signs), without
 * building their names: FNV-1a runs incrementally over the text, and a feature's name is rebuilt only
 * when it is asked for (`nameOf`). Same result as hashing the names of `namedFeatures` one by one
 * (test/unit/classifier.test.ts checks it), several times faster.
 */
export function featurize(text: string, settings: FeaturizerSettings): FeatureVector {
  const t = normalizeText(text, settings);
  const table = scratch.reset(t.length * (settings.charMax - settings.charMin + 4) + 16);
  const hashRange = (h: number, from: number, to: number) => {
    for (let i = from; i < to; i++) h = step(h, t.charCodeAt(i));
    return h;
  };

  let words = 0;
  let prevStart = -1;
  let prevEnd = -1;
  const { charMin, charMax } = settings;
  WORD.lastIndex = 0;
  for (let m = WORD.exec(t); m; m = WORD.exec(t)) {
    const start = m.index;
    const end = start + m[0].length;
    words++;
    table.add(hashRange(W0, start, end), K_WORD, start, end, 0, 0);
    const prev = prevStart < 0 ? step(B0, CARET) : hashRange(B0, prevStart, prevEnd);
    table.add(hashRange(step(prev, SPACE), start, end), K_BIGRAM, prevStart, prevEnd, start, end);
    prevStart = start;
    prevEnd = end;
    // Character n-grams of ^word$ (positions start-1 and end stand for ^ and $).
    for (let i = start - 1; i <= end; i++) {
      let h = C0;
      for (let n = 1; n <= charMax && i + n - 1 <= end; n++) {
        const p = i + n - 1;
        h = step(h, p < start ? CARET : p >= end ? DOLLAR : t.charCodeAt(p));
        if (n >= charMin) table.add(h, K_CHARS, i, i + n, start, end);
      }
    }
  }
  if (words)
    table.add(step(step(hashRange(B0, prevStart, prevEnd), SPACE), DOLLAR), K_BIGRAM, prevStart, prevEnd, -1, -1);
  let symbols = 0;
  SYMBOL.lastIndex = 0;
  for (let m = SYMBOL.exec(t); m; m = SYMBOL.exec(t)) {
    symbols++;
    table.add(hashRange(S0, m.index, m.index + m[0].length), K_SYMBOL, m.index, m.index + m[0].length, 0, 0);
  }

  // Sparse part: sublinear term frequency, L2-normalised.
  const n = table.size;
  const values = new Float64Array(n + 16);
  let norm = 0;
  for (let i = 0; i < n; i++) {
    values[i] = (1 + Math.log(table.count[i]!)) * (table.origin[5 * i] === K_CHARS ? settings.charWeight : 1);
    norm += values[i]! * values[i]!;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < n; i++) values[i]! /= norm;

  const named = new Map<number, string>();
  for (const [name, v] of denseFeatures(t, words, symbols)) {
    if (v === 0) continue;
    const i = table.add(fnv1a(name), K_NAMED, 0, 0, 0, 0);
    if (i === table.size - 1 && !named.has(i)) named.set(i, name);
    values[i]! += v;
  }

  // Into buckets, ascending; features sharing a bucket add up with their signs.
  const mask = (1 << settings.bucketBits) - 1;
  const total = table.size;
  const keyed = new Float64Array(total);
  for (let i = 0; i < total; i++) keyed[i] = (table.hash[i]! & mask) * 2 ** 20 + i; // bucket, then first seen
  keyed.sort();
  const buckets: number[] = [];
  const out: number[] = [];
  const feature: number[] = [];
  for (let r = 0; r < total; r++) {
    const i = keyed[r]! % 2 ** 20;
    const bucket = Math.floor(keyed[r]! / 2 ** 20);
    const signed = table.hash[i]! >>> 31 ? -values[i]! : values[i]!;
    if (buckets.length && buckets[buckets.length - 1] === bucket) out[out.length - 1]! += signed;
    else {
      buckets.push(bucket);
      out.push(signed);
      feature.push(i);
    }
  }
  // The kept features' origins, copied out of the reused table.
  const origins = new Int32Array(feature.length * 5);
  feature.forEach((i, j) => origins.set(table.origin.subarray(5 * i, 5 * i + 5), 5 * j));
  const nameOf = (j: number): string => {
    const [kind, a, b, c, d] = Array.from(origins.subarray(5 * j, 5 * j + 5)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    if (kind === K_WORD) return `w:${t.slice(a, b)}`;
    if (kind === K_BIGRAM) return `b:${a < 0 ? '^' : t.slice(a, b)} ${c < 0 ? '$' : t.slice(c, d)}`;
    if (kind === K_SYMBOL) return `s:${t.slice(a, b)}`;
    if (kind === K_CHARS) {
      let s = '';
      for (let p = a; p < b; p++) s += p < c ? '^' : p >= d ? '$' : t[p];
      return `c:${s}`;
    }
    return named.get(feature[j]!) ?? '?';
  };
  return { buckets: Int32Array.from(buckets), values: Float64Array.from(out), nameOf };
}

/**
 * Distinct features by their 32-bit hash (open addressing), with a count and where each first
 * occurred (kind and four positions) so its name can be rebuilt. Typed arrays, reused between calls
 * (JavaScript runs one featurize at a time; nothing survives from one call into the next's answer).
 */
class FeatureTable {
  size = 0;
  hash = new Uint32Array(0);
  count = new Int32Array(0);
  origin = new Int32Array(0);
  private slots = new Int32Array(0); // feature index + 1, 0 = empty
  private mask = 0;

  /** Empties the table, with room for `maxFeatures`. */
  reset(maxFeatures: number): this {
    let cap = 16;
    while (cap < maxFeatures * 2) cap *= 2;
    if (this.slots.length < cap) this.slots = new Int32Array(cap);
    else this.slots.fill(0, 0, cap);
    this.mask = cap - 1;
    if (this.hash.length < maxFeatures) {
      this.hash = new Uint32Array(maxFeatures);
      this.count = new Int32Array(maxFeatures);
      this.origin = new Int32Array(maxFeatures * 5);
    }
    this.size = 0;
    return this;
  }

  /** Counts one occurrence of the feature with hash `h`; returns its index. */
  add(h: number, kind: number, a: number, b: number, c: number, d: number): number {
    h >>>= 0;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const at = this.slots[s]!;
      if (at === 0) {
        const i = this.size++;
        this.slots[s] = i + 1;
        this.hash[i] = h;
        this.count[i] = 1;
        const o = 5 * i;
        this.origin[o] = kind;
        this.origin[o + 1] = a;
        this.origin[o + 2] = b;
        this.origin[o + 3] = c;
        this.origin[o + 4] = d;
        return i;
      }
      if (this.hash[at - 1] === h) {
        this.count[at - 1]!++;
        return at - 1;
      }
    }
  }
}
const scratch = new FeatureTable();

const K_WORD = 0;
const K_BIGRAM = 1;
const K_CHARS = 2;
const K_SYMBOL = 3;
const K_NAMED = 4;
