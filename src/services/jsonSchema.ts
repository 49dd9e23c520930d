/**
 * JSON Schema checks of structured output (`response_format: json_schema`), with ajv.
 *
 * Each schema gets an Ajv instance of its own, kept in a small LRU keyed by the schema's text
 * (a client sends the same schema with every request). So a schema's `$id` names nothing outside
 * its own schema (one shared instance made `$id` a namespace across tenants, issue 28), and an
 * evicted schema's compiled code is really freed (a shared instance keeps every schema it ever
 * compiled: +880 MB for 3,000 schemas). The cache is bounded in entries and in schema text.
 *
 * `pattern` and `patternProperties` run on RE2 (src/domain/pattern.ts) against output a model
 * produced, which the requester may control: linear in the input, and metered per check.
 */
import Ajv, { type CodeOptions, type ValidateFunction } from 'ajv';
import { compilePattern } from '../domain/pattern';

export interface ValidatorBounds {
  /** Compiled schemas kept. */
  maxEntries: number;
  /** Characters of schema text kept, over all entries (a schema is at most 100,000). */
  maxChars: number;
}

export const VALIDATOR_BOUNDS: ValidatorBounds = { maxEntries: 200, maxChars: 4_000_000 };

/**
 * Pattern work one check may do, in characters tested × RE2 instructions (≈ 20 ns each at worst):
 * 64,000 characters of output against a 300-instruction pattern fit; an output that needs more
 * fails the check with that reason rather than holding the worker.
 */
export const PATTERN_STEPS_PER_CHECK = 20_000_000;

class PatternWorkExceeded extends Error {}

/** The check in progress (checks are synchronous, so one at a time): the pattern work left. */
let meter: { left: number } | undefined;

/** Ajv's `code.regExp`: RE2 instead of `new RegExp`, and every test charged to the meter. */
const re2Engine: NonNullable<CodeOptions['regExp']> = Object.assign(
  (pattern: string) => {
    const re = compilePattern(pattern);
    if (typeof re === 'string') throw new Error(`pattern ${JSON.stringify(pattern)} is ${re}`);
    return {
      test(s: string) {
        if (meter && (meter.left -= (s.length + 1) * re.instructions) < 0) throw new PatternWorkExceeded();
        return re.test(s);
      },
      // Ajv keys a schema's patterns by this string: it must differ between patterns.
      toString: () => `re2:${pattern}`,
    };
  },
  { code: 're2' }, // named only for standalone code, which is never generated here
);

// Schemas are checked against the meta-schema once, by one instance that keeps none of them.
const metaValidator = new Ajv({ strict: false });

function compile(schema: Record<string, unknown>): ValidateFunction | string {
  try {
    if (!metaValidator.validateSchema(schema))
      return `schema is invalid: ${metaValidator.errorsText(metaValidator.errors)}`;
    const ajv = new Ajv({ allErrors: false, strict: false, validateSchema: false, code: { regExp: re2Engine } });
    return ajv.compile(schema);
  } catch (err) {
    return (err as Error).message;
  }
}

/** Compiled validators by schema text, least recently used first out. */
export class SchemaValidators {
  private readonly kept = new Map<string, ValidateFunction | string>();
  private keptChars = 0;

  constructor(private readonly bounds: ValidatorBounds = VALIDATOR_BOUNDS) {}

  get size(): number {
    return this.kept.size;
  }

  get chars(): number {
    return this.keptChars;
  }

  /** The compiled schema, or the reason it does not compile (the client's mistake). */
  get(schema: Record<string, unknown>): ValidateFunction | string {
    const key = JSON.stringify(schema);
    const hit = this.kept.get(key);
    if (hit !== undefined) {
      this.kept.delete(key); // most recently used goes last
      this.kept.set(key, hit);
      return hit;
    }
    const fn = compile(schema);
    if (key.length > this.bounds.maxChars) return fn;
    this.kept.set(key, fn);
    this.keptChars += key.length;
    for (const [k] of this.kept) {
      if (this.kept.size <= this.bounds.maxEntries && this.keptChars <= this.bounds.maxChars) break;
      this.kept.delete(k);
      this.keptChars -= k.length;
    }
    return fn;
  }
}

const validators = new SchemaValidators();

/** The compiled schema, or the reason it does not compile (the client's mistake). */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction | string {
  return validators.get(schema);
}

/**
 * Whether `value` fits the schema; otherwise where it fails (the value's path and the schema's rule),
 * and the path of the value at fault as segments (a missing or extra property's name included).
 */
export function checkSchema(
  schema: Record<string, unknown>,
  value: unknown,
): { ok: true } | { ok: false; reason: string; path: string[] } {
  const fn = compileSchema(schema);
  if (typeof fn === 'string') return { ok: false, reason: `the schema does not compile: ${fn}`, path: [] };
  meter = { left: PATTERN_STEPS_PER_CHECK };
  try {
    if (fn(value)) return { ok: true };
  } catch (err) {
    if (err instanceof PatternWorkExceeded)
      return {
        ok: false,
        reason: `its patterns would need more than ${PATTERN_STEPS_PER_CHECK} steps to check`,
        path: [],
      };
    throw err;
  } finally {
    meter = undefined;
  }
  const e = fn.errors![0]!;
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const named = (e.params as { missingProperty?: string; additionalProperty?: string }) ?? {};
  const extra = named.missingProperty ?? named.additionalProperty;
  return {
    ok: false,
    reason: `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'} (schema ${e.schemaPath})`,
    path: extra === undefined ? path : [...path, extra],
  };
}
