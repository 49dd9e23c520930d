/**
 * Token counting on hostile prompts: js-tiktoken's encoder against `countTokens` (the encoding's
 * pre-tokenizer, pieces over 32 characters counted in parts, a pair-rank merge; texts over 100,000
 * characters counted on their first part and scaled), next to prose. Issue 28: runs of spaces,
 * U+3000 and other Unicode spaces, random letters, no whitespace at all, 4 MB.
 *
 *   npm run bench:tokens
 *
 * The raw encoder runs only where it finishes in seconds; its time on the rest is the reason for
 * this file (6 KB of spaces took ~30 s in the API and the worker).
 */
import { Tiktoken } from 'js-tiktoken/lite';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { countMessageTokens, countTokens } from '../src/domain/tokens';

const raw = new Tiktoken(o200k);
raw.encode('warm up', [], []);
countTokens('warm up');

// Seeded, so every run measures the same text.
let seed = 28;
const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
const letters = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + (next() % 26))).join('');
const words = (n: number) => letters(n).replace(/(.{7})./g, '$1 ');
const prose = (n: number) =>
  'The river rose after the storm, and the town waited. '.repeat(Math.ceil(n / 53)).slice(0, n);

/** A case makes a fresh text per run, so no run is helped by the counter's cache of pieces. */
type Case = [name: string, make: () => string, rawToo: boolean];
const cases: Case[] = [
  ['100,000 characters of prose', () => prose(100_000), true],
  ['100,000 random letters in 8-letter words', () => words(100_000), true],
  ['4 MB of prose', () => prose(4_000_000), false],
  ['1,000 spaces', () => ' '.repeat(1_000), true],
  ['6,000 spaces', () => ' '.repeat(6_000), false],
  ['100,000 spaces', () => ' '.repeat(100_000), false],
  ['500 × U+3000', () => '\u3000'.repeat(500), true],
  ['2,000 × U+3000', () => '\u3000'.repeat(2_000), false],
  [
    '100,000 mixed Unicode spaces (U+2003, U+00A0, U+205F)',
    () => '\u2003\u00a0\u205f'.repeat(33_334).slice(0, 100_000),
    false,
  ],
  ['5,000 × "x"', () => 'x'.repeat(5_000), false],
  ['2,000 random letters, no whitespace', () => letters(2_000), true],
  ['100,000 random letters, no whitespace', () => letters(100_000), false],
  ['4 MB × "x", no whitespace', () => 'x'.repeat(4_000_000), false],
  ['4 MB of random letters, no whitespace', () => letters(4_000_000), false],
];

/** Median of three runs, each on a fresh text. */
const median = (make: () => string, count: (text: string) => unknown) => {
  const runs = [0, 1, 2].map(() => {
    const text = make();
    const t = performance.now();
    count(text);
    return performance.now() - t;
  });
  return runs.sort((a, b) => a - b)[1]!;
};

const lines = [
  '| input | js-tiktoken `encode` | `countTokens` | tokens (`countTokens`) | tokens (js-tiktoken) |',
  '| --- | ---: | ---: | ---: | ---: |',
];
for (const [name, make, rawToo] of cases) {
  const text = make();
  const rawTokens = rawToo ? raw.encode(text, [], []).length : undefined;
  const rawMs = rawToo ? `${median(make, (t) => raw.encode(t, [], [])).toFixed(0)} ms` : 'not run';
  const ms = median(make, countTokens);
  lines.push(`| ${name} | ${rawMs} | ${ms.toFixed(0)} ms | ${countTokens(text)} | ${rawTokens ?? '—'} |`);
}

// A request's messages share one allowance of exact counting: forty 100 KB messages of random letters.
const request = () => Array.from({ length: 40 }, () => ({ role: 'user' as const, content: letters(100_000) }));
const requestRuns = [request(), request(), request()].map((messages) => {
  const t = performance.now();
  countMessageTokens(messages);
  return performance.now() - t;
});
const forty = request();
const each = forty.reduce((n, m) => n + countTokens(m.content), 0);
lines.push(
  `| 40 messages × 100,000 random letters (one request) | not run | ${requestRuns.sort((a, b) => a - b)[1]!.toFixed(0)} ms | ${countMessageTokens(forty)} | ${each} (sum of countTokens) |`,
);

process.stdout.write(`node ${process.version}, ${new Date().toISOString()}\n\n${lines.join('\n')}\n`);
