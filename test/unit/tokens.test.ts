/**
 * Token counting (issue 28, finding 3): equal to js-tiktoken on ordinary text, and linear on
 * hostile text — runs of spaces, U+3000 and other Unicode spaces, random letters, no whitespace
 * at all, 4 MB — where js-tiktoken's BPE is quadratic (6 KB of spaces took ~30 s).
 */
import fc from 'fast-check';
import { Tiktoken } from 'js-tiktoken/lite';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { countMessageTokens, countTokens, EXACT_TOKEN_CHARS, RUN, utf8Bytes } from '../../src/domain/tokens';

const reference = new Tiktoken(o200k);
const exact = (text: string) => reference.encode(text, [], []).length;

/** Random lowercase letters, from a seeded generator so a failure reproduces. */
function letters(n: number, seed = 1): string {
  let x = seed;
  let s = '';
  for (let i = 0; i < n; i++) {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    s += String.fromCharCode(97 + (x % 26));
  }
  return s;
}

const ms = (f: () => unknown) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};

describe('counts equal the reference tokenizer on ordinary text', () => {
  it.each([
    ['prose', 'The river rose after the storm, and the town waited. '.repeat(200)],
    ['code', 'function f(x) {\n  return x * 2; // double\n}\n\nconst y = [1, 2, 3].map(f);\n'.repeat(50)],
    ['other scripts', 'Héllo wörld — ça va? 日本語のテキストです。 Здравствуйте, مرحبا 😀👍🏽 '.repeat(40)],
    ['contractions and numbers', "I'm here, they're there, we'll see: 1234567 3.14159 1e10. ".repeat(40)],
    ['special-token text', 'plain <|endoftext|> text <|endofprompt|>'],
    ['a lone surrogate', 'a \ud800 b \udc00 c'],
    ['mixed whitespace', ' a\u3000b\u2003c\u00a0d\t\n\r\n  e  '],
  ])('%s', (_name, text) => {
    expect(countTokens(text)).toBe(exact(text));
  });

  it('random short strings over a mixed alphabet', () => {
    const alphabet = [..."abcXYZ 019.,!?'\n\t\u3000éß日本😀-_/"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: RUN }), (chars) => {
        const text = chars.join('');
        expect(countTokens(text)).toBe(exact(text));
      }),
      { seed: 28, numRuns: 2_000 },
    );
  });
});

describe('hostile inputs are counted in linear time, with sane counts', () => {
  // The reference took ~30 s on 6 KB of spaces and 34 s on 2,000 × U+3000; each case here is
  // milliseconds. The bound is generous (a loaded CI machine), the point is no longer minutes.
  it.each([
    ['6 KB of spaces', ' '.repeat(6_000)],
    ['2,000 × U+3000', '\u3000'.repeat(2_000)],
    ['100,000 spaces', ' '.repeat(100_000)],
    ['U+2003, U+00A0, U+205F runs', '\u2003'.repeat(30_000) + '\u00a0'.repeat(30_000) + '\u205f'.repeat(30_000)],
    ['100,000 random letters, no whitespace', letters(100_000)],
    ['random 8-letter words', letters(88_000).replace(/(.{8})/g, '$1 ')],
    ['4 MB without whitespace', 'x'.repeat(4_000_000)],
    ['4 MB of emoji', '😀'.repeat(2_000_000)],
    ['runs that join across a cut', `${' '.repeat(31)}${'y'.repeat(33)}`.repeat(3_000)],
  ])('%s', (_name, text) => {
    let n = 0;
    expect(ms(() => (n = countTokens(text)))).toBeLessThan(3_000);
    // Never more tokens than UTF-8 bytes; never fewer than one per `RUN` characters counted.
    expect(n).toBeGreaterThanOrEqual(Math.floor(text.length / RUN / 4));
    expect(n).toBeLessThanOrEqual(new TextEncoder().encode(text).length);
  });

  it('grows linearly: 8× the spaces, 8× the tokens (quadratic work would be 64×)', () => {
    expect(countTokens(' '.repeat(64_000))).toBe(8 * countTokens(' '.repeat(8_000)));
    expect(countTokens('\u3000'.repeat(16_000))).toBe(8 * countTokens('\u3000'.repeat(2_000)));
  });

  it('a long run is counted within about a token per piece of the exact count', () => {
    const url = `see https://example.com/${letters(60, 7)}/${letters(60, 9)}?q=${letters(40, 3)} for more`;
    expect(Math.abs(countTokens(url) - exact(url))).toBeLessThanOrEqual(Math.ceil(url.length / RUN) + 1);
  });
});

describe("a request's messages share one allowance of exact counting", () => {
  const user = (content: string) => ({ role: 'user' as const, content });

  it('forty 100,000-character messages cost about what one does; beyond the allowance each counts as its bytes', () => {
    const one = letters(EXACT_TOKEN_CHARS, 5);
    const forty = Array.from({ length: 40 }, (_, i) => user(letters(EXACT_TOKEN_CHARS, 100 + i)));
    const single = countMessageTokens([user(one)]);
    let many = 0;
    const took = ms(() => (many = countMessageTokens(forty)));
    expect(took).toBeLessThan(3_000);
    // The first message exactly, the 39 others as their bytes (ASCII: one per character).
    expect(many).toBe(countMessageTokens(forty.slice(0, 1)) + 39 * (3 + EXACT_TOKEN_CHARS));
    expect(many).toBeGreaterThan(40 * single);
  });

  it('within the allowance it is the exact count plus the framing', () => {
    const messages = [user('hello world'), { role: 'assistant' as const, content: 'hi there' }];
    expect(countMessageTokens(messages)).toBe(3 + (3 + exact('hello world')) + (3 + exact('hi there')));
  });
});

describe('beyond the allowance the count is an upper bound, never a rate scaled from the head', () => {
  const user = (content: string) => ({ role: 'user' as const, content });
  // A cheap head, then dense text: 100,000 spaces (about a token per 32), then 900,000 digits, which
  // the pre-tokenizer cuts into pieces of three, each at least one token: at least 300,000 tokens.
  // Scaled from the head's rate, the old estimate was about 31,000.
  const head = ' '.repeat(EXACT_TOKEN_CHARS);
  const digits = '7'.repeat(900_000);

  it('a text: its head exactly, the rest as UTF-8 bytes', () => {
    expect(countTokens(head + digits)).toBeGreaterThanOrEqual(300_000);
    expect(countTokens(head + digits)).toBe(countTokens(head) + 900_000);
  });

  it("a request's messages: the shared allowance spent, the later ones as bytes", () => {
    const n = countMessageTokens([user(head), user(digits)]);
    expect(n).toBeGreaterThanOrEqual(300_000);
    expect(n).toBe(3 + (3 + countTokens(head)) + (3 + 900_000));
  });

  it('UTF-8 bytes: 1 to 3 per UTF-16 unit, 4 per surrogate pair, 3 for a lone surrogate (U+FFFD)', () => {
    for (const t of ['abc', 'é日本', '😀👍🏽', 'a\ud800b', '\udc00', 'x\ud83d'])
      expect(utf8Bytes(t)).toBe(new TextEncoder().encode(t).length);
    expect(utf8Bytes('ab😀', 2)).toBe(4);
  });
});
