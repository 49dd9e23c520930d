/**
 * JSON Schema checks of structured output (`response_format: json_schema`), with ajv. Compiled
 * schemas are kept (a client sends the same schema with every request), up to a bound.
 */
import Ajv, { type ValidateFunction } from 'ajv';

const ajv = new Ajv({ allErrors: false, strict: false });
const compiled = new Map<string, ValidateFunction>();
const MAX_KEPT = 200;

/** The compiled schema, or the reason it does not compile (the client's mistake). */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction | string {
  const key = JSON.stringify(schema);
  const kept = compiled.get(key);
  if (kept) return kept;
  try {
    const fn = ajv.compile(schema);
    if (compiled.size >= MAX_KEPT) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, fn);
    return fn;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Whether `value` fits the schema; otherwise where it fails (the value's path and the schema's rule). */
export function checkSchema(
  schema: Record<string, unknown>,
  value: unknown,
): { ok: true } | { ok: false; reason: string } {
  const fn = compileSchema(schema);
  if (typeof fn === 'string') return { ok: false, reason: `the schema does not compile: ${fn}` };
  if (fn(value)) return { ok: true };
  const e = fn.errors![0]!;
  return { ok: false, reason: `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'} (schema ${e.schemaPath})` };
}
