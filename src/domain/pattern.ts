/**
 * Regular expressions that tenants write (a rule's `matches`, a JSON Schema's `pattern`) run on
 * RE2 (re2js, pure JS): time linear in the input, never V8's backtracking engine, on which
 * `^(a+)+$` against 40 characters runs for hours (issue 28). RE2 has no backreferences and no
 * lookaround; such a pattern is refused with the reason, never run some other way.
 *
 * Linear is O(input × program): the program's size is bounded too, so one test costs at most
 * `MAX_PATTERN_INSTRUCTIONS` × the input's length steps (tens of nanoseconds each).
 */
import { RE2JS } from 're2js';

/** Longest pattern source accepted. */
export const MAX_PATTERN_CHARS = 1_000;
/** Largest compiled program accepted (`[a-z]{1000}` is 1,002 instructions; `^[a-z]{2,8}$` is 11). */
export const MAX_PATTERN_INSTRUCTIONS = 2_000;

/**
 * A rule's `matches`: case-insensitive, and smaller, as it runs in every routing decision on
 * attributes of up to 512 characters (about 1 ms a test at the very worst, microseconds for a
 * usual pattern such as `^(math|physics)$`, 26 instructions) and in replays of thousands.
 */
export const RULE_PATTERN = { ignoreCase: true, maxInstructions: 200 } as const;

export interface CompiledPattern {
  /** Whether the pattern matches anywhere in the input (as `RegExp.prototype.test`). */
  test(input: string): boolean;
  /** The program's size: a test costs about this × the input's length. */
  readonly instructions: number;
}

interface Options {
  ignoreCase?: boolean;
  /** A tighter program bound than `MAX_PATTERN_INSTRUCTIONS`. */
  maxInstructions?: number;
}

function build(source: string, opts: Options): CompiledPattern | string {
  let re: RE2JS;
  try {
    // JavaScript syntax (\u00e9, (?<name>…), /) in RE2's spelling; the meaning is unchanged.
    re = RE2JS.compile(RE2JS.translateRegExp(source), opts.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    const why = (err as Error).message.replace(/^error parsing regexp: /, '');
    return `not a regular expression this server runs (RE2 syntax: no backreferences or lookaround): ${why}`;
  }
  const instructions = (re.re2().prog as { numInst(): number }).numInst();
  const max = Math.min(opts.maxInstructions ?? MAX_PATTERN_INSTRUCTIONS, MAX_PATTERN_INSTRUCTIONS);
  if (instructions > max) return `too complex (${instructions} RE2 instructions, at most ${max})`;
  return { test: (input) => re.test(input), instructions };
}

// Compiled patterns by flags and source: a rule's pattern is tested on every request it sees.
const compiled = new Map<string, CompiledPattern | string>();
const MAX_KEPT = 1_000;

/** The compiled pattern, or why it is refused (a sentence for a 400). Cached. */
export function compilePattern(source: string, opts: Options = {}): CompiledPattern | string {
  // Refused before the cache: kept keys stay short, so the cache's memory is bounded too.
  if (source.length > MAX_PATTERN_CHARS) return `longer than ${MAX_PATTERN_CHARS} characters`;
  const key = `${opts.ignoreCase ? 'i' : '-'}${opts.maxInstructions ?? ''}/${source}`;
  let p = compiled.get(key);
  if (p === undefined) {
    p = build(source, opts);
    if (compiled.size >= MAX_KEPT) compiled.delete(compiled.keys().next().value!);
  } else compiled.delete(key); // least recently used first: a rule in use stays
  compiled.set(key, p);
  return p;
}

/** Why the pattern is refused, or undefined when it compiles within the bounds. */
export function patternProblem(source: string, opts: Options = {}): string | undefined {
  const p = compilePattern(source, opts);
  return typeof p === 'string' ? p : undefined;
}
