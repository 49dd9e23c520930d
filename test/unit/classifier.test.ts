/**
 * The trained prompt classifier (issue 23): featurizer, codec, prediction, the shipped weights file,
 * reproducible training, and the loader.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import prompts from '../fixtures/classifier-prompts.json';
import {
  decodeAscending,
  decodeInt16,
  encodeAscending,
  encodeInt16,
  fromBase64,
  toBase64,
} from '../../src/domain/classifier/codec';
import {
  DEFAULT_FEATURIZER,
  featurize,
  fnv1a,
  namedFeatures,
  normalizeText,
} from '../../src/domain/classifier/features';
import oldVersions from '../fixtures/classifier-old-versions.json';
import { COMPLEXITIES, predict, TASK_TYPES } from '../../src/domain/classifier/model';
import {
  classifierVersions,
  currentClassifierVersion,
  loadClassifierModel,
  UnknownClassifierVersionError,
} from '../../src/services/classifierModels';
import { type CorpusRow } from '../../scripts/classifier/corpus';
import { contentHash, fitClassifier } from '../../scripts/classifier/fit';

const MODELS = path.resolve(__dirname, '..', '..', 'models', 'classifier');

describe('featurizer', () => {
  const S = DEFAULT_FEATURIZER;

  it('is deterministic and agrees with the readable definition (namedFeatures, hashed)', () => {
    for (const text of [
      'Prove that the square root of 2 is irrational.',
      'def f(x):\n    return x ** 2  # 😀 𠀀',
      '請證明勾股定理，然後舉一個例子。',
      'Fasse den folgenden Text in drei Sätzen zusammen: …',
      '',
    ]) {
      const a = featurize(text, S);
      const b = featurize(text, S);
      expect(Array.from(a.buckets)).toEqual(Array.from(b.buckets));
      expect(Array.from(a.values)).toEqual(Array.from(b.values));

      const mask = (1 << S.bucketBits) - 1;
      const reference = new Map<number, number>();
      for (const [name, v] of namedFeatures(text, S)) {
        const h = fnv1a(name);
        reference.set(h & mask, (reference.get(h & mask) ?? 0) + (h >>> 31 ? -v : v));
      }
      expect([...reference.keys()].sort((x, y) => x - y)).toEqual(Array.from(a.buckets));
      a.buckets.forEach((bucket, j) => expect(a.values[j]).toBeCloseTo(reference.get(bucket)!, 12));
      const names = new Set(namedFeatures(text, S).keys());
      for (let j = 0; j < a.buckets.length; j++) expect(names.has(a.nameOf(j))).toBe(true);
    }
  });

  it('normalises Unicode (NFKC, case) and gives scripts without spaces character n-grams', () => {
    const names = (t: string) => [...namedFeatures(t, S).keys()];
    // Full-width letters and the ﬁ ligature are the same words as their plain forms.
    expect(names('ＰＲＯＶＥ the ﬁrst')).toEqual(names('prove the first'));
    const ja = names('この定理を証明してください');
    expect(ja).toContain('c:証明');
    expect(ja).toContain('c:^この');
    // Devanagari with combining vowel signs stays one word.
    expect(names('सारांश लिखें')).toContain('w:लिखें');
    expect(fnv1a('a')).toBe(0xe40c292c); // the published FNV-1a 32-bit test vector
  });

  it('cuts long texts to their head and tail', () => {
    const long = `summarize this: ${'lorem ipsum '.repeat(2000)} the end`;
    const n = namedFeatures(long, S);
    expect(n.has('w:summarize')).toBe(true);
    expect(n.has('w:end')).toBe(true);
  });

  it('featurizes only headChars + tailChars of a long text, cut before normalising, never inside a surrogate pair', () => {
    const cut = { ...S, headChars: 20, tailChars: 10 };
    const head = 'Summarize THIS memo'; // 19 characters, then the 20th is the first half of 𠀀
    const text = `${head}𠀀 ${'middle words '.repeat(50)}zz FINAL ask`;
    expect(normalizeText(text, cut)).toBe('summarize this memo\n final ask');
    const names = [...namedFeatures(text, cut).keys()];
    expect(names).toContain('w:summarize');
    expect(names).toContain('w:ask');
    expect(names.some((n) => n.includes('middle'))).toBe(false);
    expect(names.some((n) => /[\ud800-\udfff]/.test(n))).toBe(false); // no lone surrogate from the cut
    // The same vector as featurizing the cut text itself: the cut is all that changes.
    const a = featurize(text, cut);
    const b = featurize(`${head}\n${text.slice(text.length - 10)}`, { ...cut, headChars: 1000 });
    expect(Array.from(a.buckets)).toEqual(Array.from(b.buckets));
    expect(Array.from(a.values)).toEqual(Array.from(b.values));
    // Short texts are not cut; without headChars/tailChars the old maxChars cut (of the normalised text) applies.
    expect(normalizeText('Ｓｈｏｒｔ', cut)).toBe('short');
    const old = { ...S, headChars: undefined, tailChars: undefined, maxChars: 8 };
    expect(normalizeText('ＡＢＣＤefghIJKL', old)).toBe('abcd\nijkl');
  });
});

describe('codec', () => {
  it('round-trips bytes, ascending integers and int16', () => {
    const bytes = Uint8Array.from({ length: 257 }, (_, i) => (i * 37) & 255);
    for (let n = 0; n < 5; n++)
      expect(Array.from(fromBase64(toBase64(bytes.subarray(n))))).toEqual(Array.from(bytes.subarray(n)));
    expect(toBase64(Uint8Array.from([102, 111, 111, 98]))).toBe('Zm9vYg==');
    const asc = [0, 1, 127, 128, 300, 16_384, 262_143];
    expect(decodeAscending(encodeAscending(asc))).toEqual(asc);
    const q = [0, 1, -1, 32_767, -32_767, 1234, -4321];
    expect(Array.from(decodeInt16(encodeInt16(q)))).toEqual(q);
  });
});

describe('the shipped model', () => {
  const model = loadClassifierModel();

  it('is named in CURRENT, and its version is the hash of its file', () => {
    const version = currentClassifierVersion();
    expect(model.version).toBe(version);
    const file = path.join(MODELS, `${version}.json`);
    expect(version.endsWith(`-${contentHash(readFileSync(file, 'utf8'))}`)).toBe(true);
    expect(statSync(file).size).toBeLessThan(5_000_000);
    expect(model.heads.taskType.labels).toEqual([...TASK_TYPES]);
    expect(model.heads.complexity.labels).toEqual([...COMPLEXITIES]);
  });

  it('gives calibrated probabilities that sum to 1, the argmax as label, and at most 5 features', () => {
    for (const text of ['hi', 'Write a haiku about autumn.', 'x'.repeat(5000), '', '🙂🙂🙂']) {
      const p = predict(model, text);
      expect(p.version).toBe(model.version);
      for (const head of [p.taskType, p.complexity]) {
        const values = Object.values(head.probs) as number[];
        expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 9);
        expect(Math.max(...values)).toBe(head.confidence);
        expect((head.probs as Record<string, number>)[head.label]).toBe(head.confidence);
        expect(head.features.length).toBeLessThanOrEqual(5);
      }
      expect(predict(model, text)).toEqual(p);
    }
  });

  // Hand-written for this test (not in the corpus): the obvious cases, in several languages.
  it.each([
    ['Prove that there are infinitely many prime numbers.', 'math', 'complex'],
    ['hi, how are you?', 'chat', 'simple'],
    ['Write a Python function that checks whether a string is a palindrome.', 'code', undefined],
    [
      'Summarize the following article in three sentences: The city council met on Tuesday to discuss the new budget. After hours of debate, the members agreed to raise spending on parks and reduce it on roads.',
      'summarization',
      undefined,
    ],
    ['Schreibe ein kurzes Gedicht über den Herbst.', 'writing', undefined],
    ['¿Cuánto es 15 por ciento de 240?', 'math', undefined],
    ['请用Python写一个快速排序函数。', 'code', undefined],
    ['Bonjour ! Comment ça va aujourd’hui ?', 'chat', 'simple'],
  ])('"%s" → %s / %s', (text, taskType, complexity) => {
    const p = predict(model, text);
    expect(p.taskType.label).toBe(taskType);
    if (complexity) expect(p.complexity.label).toBe(complexity);
    expect(p.taskType.features.length).toBeGreaterThan(0);
  });
});

describe('older weights files', () => {
  // Recorded with the featurizer before headChars/tailChars existed (it cut the normalised text to halves
  // of maxChars): files without those fields must load and predict exactly as they did, long texts included.
  it.each(oldVersions.map((v) => [v.version, v.cases] as const))('%s predicts as it did', (version, cases) => {
    const model = loadClassifierModel(version);
    expect(model.featurizer.headChars).toBeUndefined();
    expect(cases.some((c) => c.text.length > model.featurizer.maxChars)).toBe(true);
    for (const c of cases) expect(predict(model, c.text)).toEqual(c.prediction);
  });
});

describe('training', () => {
  // A small fixture: the labelled prompts of test/fixtures, spread over three pretend sources.
  const rows: CorpusRow[] = (prompts as Array<{ prompt: string; taskType: string; complexity: string }>).map(
    (p, i) => ({
      id: `fx-${i}`,
      source: `fx${i % 3}`,
      text: p.prompt,
      taskType: p.taskType as CorpusRow['taskType'],
      complexity: p.complexity as CorpusRow['complexity'],
      lang: 'en',
    }),
  );
  const options = {
    featurizers: [{ ...DEFAULT_FEATURIZER, bucketBits: 14 }],
    grid: [{}, { l2: 1e-4 }],
    policy: { testSources: [], tuneSources: ['fx2'], trainSources: [], testPercent: 0, tunePercent: 0 },
  };

  it('gives byte-identical weights from the same data', () => {
    const a = JSON.stringify(fitClassifier(rows, 'fixture', options));
    const b = JSON.stringify(fitClassifier(rows, 'fixture', options));
    expect(a).toBe(b);
    // …and different weights from different data (the comparison can fail).
    const c = JSON.stringify(fitClassifier(rows.slice(1), 'fixture', options));
    expect(c).not.toBe(a);
  });
});

describe('loader', () => {
  it('lists the shipped versions and refuses an unknown one', () => {
    expect(classifierVersions()).toContain(currentClassifierVersion());
    expect(() => loadClassifierModel('clf-1999-01-01-00000000')).toThrow(UnknownClassifierVersionError);
    expect(() => loadClassifierModel('../../package')).toThrow(/unknown classifier version/);
    expect(loadClassifierModel()).toBe(loadClassifierModel(currentClassifierVersion()));
  });
});
