/**
 * Patterns tenants write run on RE2 (issue 28, findings 4, 6, 7): rule `matches` and JSON Schema
 * `pattern` are linear in the input, a pattern RE2 cannot run is refused with the reason, the
 * structured-output validators are one Ajv per schema in a bounded cache (no shared `$id`), and
 * replay's role check is the store's.
 */
import { ConditionSchema, RuleSchema, type Rule } from '../../src/domain/config';
import { compilePattern, MAX_PATTERN_CHARS, patternProblem, RULE_PATTERN } from '../../src/domain/pattern';
import { conditionHolds, operatorOnlyRules } from '../../src/domain/policy';
import type { Classification } from '../../src/domain/classify';
import type { PolicyInput } from '../../src/domain/policy';
import { checkSchema, compileSchema, SchemaValidators } from '../../src/services/jsonSchema';

const ms = (f: () => unknown) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};

describe('compilePattern', () => {
  it('runs the classic ReDoS patterns in linear time', () => {
    for (const source of ['^(a+)+$', '^(a|aa)+$', '^(x+x+)+y$', '^(a|a?)+$', '^(.*a){12}$']) {
      const re = compilePattern(source);
      if (typeof re === 'string') throw new Error(re);
      // On V8's RegExp 40 characters of this take hours.
      expect(ms(() => expect(re.test(`${'a'.repeat(40)}!`)).toBe(false))).toBeLessThan(1_000);
      expect(ms(() => re.test(`${'a'.repeat(100_000)}!`))).toBeLessThan(2_000);
    }
  });

  it('keeps the meaning of JavaScript syntax it can run', () => {
    const test = (source: string, input: string, ignoreCase = false) => {
      const re = compilePattern(source, { ignoreCase });
      if (typeof re === 'string') throw new Error(re);
      return re.test(input);
    };
    expect(test('^\\d{3}-\\w+$', '123-abc')).toBe(true);
    expect(test('^\\d{3}-\\w+$', '12-abc')).toBe(false);
    expect(test('caf\\u00e9', 'un café')).toBe(true);
    expect(test('(?<year>\\d{4})', 'in 2026')).toBe(true);
    expect(test('^MATH$', 'math', true)).toBe(true);
    expect(test('^MATH$', 'math')).toBe(false);
  });

  it.each([
    ['a backreference', '(a)\\1', 'backreferences'],
    ['a lookahead', '(?=a)b', 'lookaround'],
    ['a negative lookbehind', '(?<!a)b', 'lookaround'],
    ['a syntax error', '(unclosed', 'missing closing'],
    ['too long', 'a'.repeat(MAX_PATTERN_CHARS + 1), 'longer than'],
    ['too large a program', '[a-z]{1000}[0-9]{1000}x', 'too complex'],
  ])('refuses %s with the reason', (_name, source, why) => {
    expect(patternProblem(source)).toContain(why);
  });

  it('keeps a pattern in use however many others pass through (least recently used goes first)', () => {
    const inUse = compilePattern('^route-[a-z]+$');
    for (let i = 0; i < 2_000; i++) {
      compilePattern(`^other-${i}$`);
      if (i % 100 === 0) expect(compilePattern('^route-[a-z]+$')).toBe(inUse);
    }
    expect(compilePattern('^route-[a-z]+$')).toBe(inUse);
  });

  it('bounds a rule pattern more tightly (it runs in every routing decision)', () => {
    expect(patternProblem('^(math|physics|chemistry)$', RULE_PATTERN)).toBeUndefined();
    expect(patternProblem('[a-z]{300}', RULE_PATTERN)).toContain('too complex');
  });
});

describe("rules' matches", () => {
  const c: Classification = {
    taskType: 'chat',
    complexity: 'simple',
    inputTokens: 10,
    requiredContext: 10,
    signals: [],
  } as unknown as Classification;
  const input = (metadata: Record<string, string>) =>
    ({
      requestId: 'r',
      requestedModel: 'auto',
      operation: 'chat',
      capability: 'chat',
      maxOutputTokens: 100,
      needsJson: false,
      context: { tenantId: 't', compliance: [], excludeProviders: [], metadata },
    }) as unknown as PolicyInput;

  it('matches case-insensitively, on RE2, in linear time on hostile input', () => {
    const cond = ConditionSchema.parse({ field: 'metadata.topic', op: 'matches', value: '^(a+)+$' });
    expect(conditionHolds(cond, input({ topic: 'AAAA' }), c)).toBe(true);
    expect(ms(() => expect(conditionHolds(cond, input({ topic: `${'a'.repeat(500)}!` }), c)).toBe(false))).toBeLessThan(
      1_000,
    );
  });

  it('a pattern RE2 cannot run is refused when a rule is parsed, naming the value', () => {
    const parsed = ConditionSchema.safeParse({ field: 'subject', op: 'matches', value: '(a)\\1' });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.path).toEqual(['value']);
    expect(parsed.error!.issues[0]!.message).toMatch(/'matches' pattern not a regular expression.*backreferences/);
  });
});

describe('operatorOnlyRules (the same check for storing and replaying)', () => {
  const rule = (id: string, when: unknown[]) => RuleSchema.parse({ id, when, targets: [{ model: 'm' }] });
  const regex = rule('re', [{ field: 'subject', op: 'matches', value: '^math$' }]);
  const plain = rule('plain', [{ field: 'subject', op: 'eq', value: 'math' }]);

  it("lets an operator propose any rule, and others only rules without 'matches' or unchanged ones", () => {
    expect(operatorOnlyRules('operator', [regex, plain], [])).toEqual([]);
    expect(operatorOnlyRules('admin', [plain, regex], [])).toEqual([1]);
    // The operator's rule in force, kept as it is (its keys in another order): allowed.
    const reordered = JSON.parse(JSON.stringify(regex, Object.keys(regex).reverse())) as Rule;
    expect(operatorOnlyRules('admin', [plain, reordered], [regex])).toEqual([]);
    const changed = rule('re', [{ field: 'subject', op: 'matches', value: '^(a+)+$' }]);
    expect(operatorOnlyRules('admin', [changed], [regex])).toEqual([0]);
  });
});

describe('structured output validators', () => {
  it('a `pattern` runs on RE2: a hostile output fails cleanly and promptly', () => {
    const schema = { type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$' } } };
    let check: ReturnType<typeof checkSchema> | undefined;
    expect(ms(() => (check = checkSchema(schema, { s: `${'a'.repeat(40)}!` })))).toBeLessThan(1_000);
    expect(check).toMatchObject({ ok: false, reason: expect.stringContaining('must match pattern') });
    expect(checkSchema(schema, { s: 'aaaa' })).toEqual({ ok: true });
  });

  it('patternProperties use RE2 too, each with its own pattern', () => {
    const schema = { type: 'object', patternProperties: { '^x-': { type: 'number' }, '^y-': { type: 'string' } } };
    expect(checkSchema(schema, { 'x-1': 1, 'y-1': 's' })).toEqual({ ok: true });
    expect(checkSchema(schema, { 'y-1': 2 })).toMatchObject({ ok: false });
  });

  it('pattern work per check is metered: too much fails the check instead of holding the worker', () => {
    const schema = { type: 'array', items: { type: 'string', pattern: '(a|aa){60}$' } };
    // Every item matches, so every one is tested: 200 × 1,001 characters × ~360 instructions.
    const output = Array.from({ length: 200 }, () => 'a'.repeat(1_000));
    let check: ReturnType<typeof checkSchema> | undefined;
    expect(ms(() => (check = checkSchema(schema, output)))).toBeLessThan(3_000);
    expect(check).toMatchObject({ ok: false, reason: expect.stringContaining('steps to check') });
  });

  it('a pattern RE2 cannot run makes the schema not compile, with the reason', () => {
    expect(compileSchema({ type: 'string', pattern: '(a)\\1' })).toMatch(/pattern "\(a\)\\\\1" is not a regular/);
    expect(compileSchema({ type: 'string', pattern: '(?=x)' })).toMatch(/lookaround/);
  });

  it('two schemas with the same $id are separate (no namespace shared between callers)', () => {
    const a = { $id: 'https://example.com/shared', type: 'object', required: ['a'] };
    const b = { $id: 'https://example.com/shared', type: 'object', required: ['b'] };
    expect(checkSchema(a, { a: 1 })).toEqual({ ok: true });
    expect(checkSchema(b, { b: 1 })).toEqual({ ok: true });
    expect(checkSchema(b, { a: 1 })).toMatchObject({ ok: false });
    expect(checkSchema(a, { a: 1 })).toEqual({ ok: true });
  });

  it('keeps at most its bound of schemas and of schema text, least recently used out first', () => {
    const cache = new SchemaValidators({ maxEntries: 50, maxChars: 20_000 });
    const schema = (i: number, pad = 0) => ({ type: 'object', title: `s${i}${'x'.repeat(pad)}`, required: ['a'] });
    const hot = schema(-1);
    const first = cache.get(hot);
    for (let i = 0; i < 1_000; i++) {
      cache.get(schema(i, i % 7 === 0 ? 2_000 : 0));
      if (i % 10 === 0) expect(cache.get(hot)).toBe(first); // used often: kept
      expect(cache.size).toBeLessThanOrEqual(50);
      expect(cache.chars).toBeLessThanOrEqual(20_000);
    }
    // An early schema was evicted: asking again compiles a new validator, which still works.
    const again = cache.get(schema(1));
    expect(typeof again).toBe('function');
    expect((again as (v: unknown) => boolean)({ a: 1 })).toBe(true);
    // A schema larger than the whole bound is compiled and not kept.
    cache.get(schema(99_999, 30_000));
    expect(cache.chars).toBeLessThanOrEqual(20_000);
  });
});
