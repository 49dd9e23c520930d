import fc from 'fast-check';
import { chunkText, sentencesOf } from '../../src/domain/batch/chunk';
import { reductionGroups, reductionRounds } from '../../src/domain/batch/reduce';
import { countTokens } from '../../src/domain/tokens';

const sentence = (i: number) =>
  `Sentence ${i} says that the river rose ${i % 7} metres after the ${['storm', 'thaw', 'rain'][i % 3]}. `;
const document = (n: number) => Array.from({ length: n }, (_, i) => sentence(i)).join('');

describe('chunking a document by tokens', () => {
  it('packs whole sentences up to the budget, and the chunks put back together are the document', () => {
    const text = document(200);
    const chunks = chunkText(text, { maxTokens: 300, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(countTokens(c.text)).toBeLessThanOrEqual(300);
    expect(chunks.map((c) => c.text).join('')).toBe(text);
    // Whole sentences: every chunk ends where a sentence ends.
    for (const c of chunks) expect(c.text.trimEnd().endsWith('.')).toBe(true);
  });

  it('starts each chunk with the end of the one before, within the overlap budget', () => {
    const chunks = chunkText(document(100), { maxTokens: 200, overlapTokens: 40 });
    expect(chunks.length).toBeGreaterThan(2);
    for (let i = 1; i < chunks.length; i++) {
      // The longest run of this chunk's first sentences that the previous chunk ends with.
      const sentences = sentencesOf(chunks[i]!.text);
      let carried = '';
      for (let k = 1; k <= sentences.length; k++) {
        const head = sentences.slice(0, k).join('');
        if (chunks[i - 1]!.text.endsWith(head)) carried = head;
      }
      expect(carried.length).toBeGreaterThan(0);
      expect(countTokens(carried)).toBeLessThanOrEqual(40);
    }
  });

  it('a document five times the budget becomes at least five chunks, none over it', () => {
    const text = document(400);
    const budget = Math.ceil(countTokens(text) / 5);
    const chunks = chunkText(text, { maxTokens: budget, overlapTokens: 20 });
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    for (const c of chunks) expect(c.tokens).toBeLessThanOrEqual(budget);
  });

  it('splits a sentence longer than the budget at word boundaries, and a word longer than it by characters', () => {
    const long = `${'word '.repeat(500)}end.`;
    const chunks = chunkText(long, { maxTokens: 50, overlapTokens: 0 });
    expect(chunks.map((c) => c.text).join('')).toBe(long);
    for (const c of chunks) expect(countTokens(c.text)).toBeLessThanOrEqual(50);
    const unbroken = 'x'.repeat(5_000);
    const pieces = chunkText(unbroken, { maxTokens: 30, overlapTokens: 0 });
    expect(pieces.map((c) => c.text).join('')).toBe(unbroken);
    for (const c of pieces) expect(c.tokens).toBeLessThanOrEqual(30);
  });

  it('refuses budgets that cannot work', () => {
    expect(() => chunkText('a.', { maxTokens: 0, overlapTokens: 0 })).toThrow(RangeError);
    expect(() => chunkText('a.', { maxTokens: 10, overlapTokens: 10 })).toThrow(RangeError);
  });

  it('for any text and budget: no chunk over the budget, and nothing of the text lost', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.lorem({ maxCount: 12 }), fc.constantFrom('. ', '! ', '? ', '\n\n')), { maxLength: 40 }),
        fc.integer({ min: 8, max: 120 }),
        fc.integer({ min: 0, max: 100 }),
        (parts, max, overlapPct) => {
          const text = parts.map(([w, end]) => `${w}${end}`).join('');
          const overlap = Math.floor(((max - 1) * overlapPct) / 100);
          const chunks = chunkText(text, { maxTokens: max, overlapTokens: overlap });
          for (const c of chunks) expect(c.tokens).toBeLessThanOrEqual(max);
          if (overlap === 0) expect(chunks.map((c) => c.text).join('')).toBe(text);
          for (const s of sentencesOf(text))
            if (countTokens(s) <= max) expect(chunks.some((c) => c.text.includes(s))).toBe(true);
        },
      ),
      { seed: 20261202, numRuns: 200 },
    );
  });
});

describe('reducing chunk summaries', () => {
  it('groups consecutive summaries while they fit one call', () => {
    expect(reductionGroups([40, 40, 40, 40, 40], 100)).toEqual([[0, 1], [2, 3], [4]]);
    expect(reductionGroups([150, 10, 10], 100)).toEqual([[0], [1, 2]]);
    expect(reductionGroups([], 100)).toEqual([]);
  });

  it('counts the combine rounds, and refuses a budget that cannot converge', () => {
    expect(reductionRounds(1, 50, 1000)).toBe(0);
    expect(reductionRounds(20, 50, 1000)).toBe(1);
    expect(reductionRounds(21, 50, 1000)).toBe(2);
    expect(() => reductionRounds(5, 600, 1000)).toThrow(RangeError);
  });
});
