/**
 * Token counting on hostile prompts: the raw BPE encoder against `countTokens` (long runs counted
 * in 32-character pieces, texts over 100,000 characters counted on their first part and scaled).
 *
 *   npm run bench:tokens
 */
import { Tiktoken } from 'js-tiktoken/lite';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { countTokens } from '../src/domain/tokens';

const raw = new Tiktoken(o200k);
raw.encode('warm up', [], []);
countTokens('warm up');
const random = (n: number) =>
  Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');

const cases: Array<[string, string, boolean]> = [
  ['5,000 × "x"', 'x'.repeat(5_000), true],
  ['100,000 × "x"', 'x'.repeat(100_000), false],
  ['4 MB × "x"', 'x'.repeat(4_000_000), false],
  ['100,000 random letters, no spaces', random(100_000), false],
  ['100,000 characters of prose', 'The river rose after the storm, and the town waited. '.repeat(1_900), true],
];
const ms = (f: () => unknown) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};
const lines = ['| input | raw encoder | countTokens |', '| --- | ---: | ---: |'];
for (const [name, text, rawToo] of cases) {
  const rawMs = rawToo ? `${ms(() => raw.encode(text, [], [])).toFixed(0)} ms` : 'not run (quadratic in the run)';
  lines.push(`| ${name} | ${rawMs} | ${ms(() => countTokens(text)).toFixed(0)} ms |`);
}
process.stdout.write(`node ${process.version}, ${new Date().toISOString()}\n\n${lines.join('\n')}\n`);
