/**
 * Context fitting's cost in the routing decision (issue 26): `truncate` on conversations of 1,200 to
 * 8,000 messages (~110 tokens each), fitted to a 128,000-token window (less 1,000 for the output),
 * with the routing decision's own counter. Median of three runs, each on a fresh conversation
 * (the counter caches pieces it has seen, so a repeat would be flattered). "Tokens before" is
 * that counter's: past 400,000 characters it counts UTF-8 bytes (an upper bound), as routing does.
 * One run (2 shared cores, 21:45 UTC 2026-12-07): 1,202 messages (131,016 tokens) 215 ms, 2,002
 * (257,801) 271 ms, 4,002 (735,661) 407 ms, 8,002 (1,691,334) 300 ms; with room for a summary
 * about the same. Each time is a few counts of the kept part (~127,000 tokens), in a binary search.
 *
 *   node --import tsx bench/fit.ts
 */
import type { ChatMessage } from '../src/domain/chat';
import { SUMMARY_RESERVE_TOKENS, truncate } from '../src/domain/fit';
import { countMessageTokens } from '../src/domain/tokens';

let seed = 26;
const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
const word = () => Array.from({ length: 3 + (next() % 6) }, () => String.fromCharCode(97 + (next() % 26))).join('');
const text = (n: number) => Array.from({ length: n }, word).join(' ');
const conversation = (messages: number): ChatMessage[] => [
  { role: 'system', content: 'You are a helpful assistant.' },
  ...Array.from({ length: messages }, (_, i): ChatMessage =>
    i % 2 === 0 ? { role: 'user', content: text(40) } : { role: 'assistant', content: text(40) },
  ),
  { role: 'user', content: 'So, what did we decide?' },
];

const BUDGET = 128_000 - 1_000;
countMessageTokens(conversation(2));

console.log('| messages | tokens before | truncate: kept / dropped | truncate (ms) | with summary room (ms) |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const n of [1_200, 2_000, 4_000, 8_000]) {
  const runs = [0, 1, 2].map(() => {
    const c = conversation(n);
    let t = performance.now();
    const r = truncate(c, countMessageTokens, BUDGET);
    const plain = performance.now() - t;
    const c2 = conversation(n);
    t = performance.now();
    truncate(c2, countMessageTokens, BUDGET, SUMMARY_RESERVE_TOKENS);
    return { plain, summary: performance.now() - t, r };
  });
  const med = (k: 'plain' | 'summary') => runs.map((x) => x[k]).sort((a, b) => a - b)[1]!;
  const r = runs[0]!.r;
  const kept = r.ok ? `${r.messages.length} / ${r.dropped.length}` : 'unfit';
  const before = r.ok ? r.tokensBefore : r.minimumTokens;
  console.log(`| ${n + 2} | ${before} | ${kept} | ${med('plain').toFixed(1)} | ${med('summary').toFixed(1)} |`);
}
