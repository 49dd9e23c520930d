/**
 * Prompt templates: chat messages whose text has mustache tags, the JSON Schema their variables
 * must pass, and default model attributes. Pure: parsing, checking and rendering (the store is
 * `src/db/templates.ts`, resolution and variable checks `src/services/templates.ts`).
 *
 * Logic-less by construction: `mustache` only parses; the tokens are rendered here by an evaluator
 * that reads own properties of JSON data and nothing else. So no template runs code: there are no
 * lambdas (variables come from JSON), no prototype lookups (`{{constructor}}` is just absent), no
 * partials (refused when the template is created), and no HTML escaping (prompts are not HTML).
 */
import Mustache from 'mustache';
import { z } from 'zod';

/** A template's name: what clients name it by, in a URL path too. */
export const TemplateNameSchema = z
  .string()
  .regex(
    /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$/,
    'letters, digits, ".", "_" and "-", starting with a letter or digit, ≤ 100',
  );
/** A label (`production`, `staging`, ...) that points at one version of a template. */
export const TemplateLabelSchema = z
  .string()
  .regex(
    /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/,
    'letters, digits, ".", "_" and "-", starting with a letter or digit, ≤ 64',
  );
export const TemplateVersionSchema = z.number().int().min(1).max(1_000_000);

/** The label a render uses when it names neither a version nor a label (else: the latest version). */
export const DEFAULT_LABEL = 'production';

/** Text of one message; its mustache tags are checked when the template is created. */
export const TemplateMessageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant']),
    content: z.string().min(1, 'content must not be empty').max(100_000, 'content is longer than 100,000 characters'),
  })
  .strict();
export type TemplateMessage = z.infer<typeof TemplateMessageSchema>;

/** Model attributes a render uses when its request does not set them. */
export const TemplateDefaultsSchema = z
  .object({
    model: z.string().min(1).max(200).optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().positive().optional(),
    top_p: z.number().min(0).max(1).optional(),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
    presence_penalty: z.number().min(-2).max(2).optional(),
    frequency_penalty: z.number().min(-2).max(2).optional(),
    seed: z.number().int().optional(),
  })
  .strict();
export type TemplateDefaults = z.infer<typeof TemplateDefaultsSchema>;

/** The longest variables schema taken, in characters of JSON. */
export const MAX_VARIABLES_SCHEMA_CHARS = 100_000;

/** A template reference as a request names it: a version, a label, or neither (production, else latest). */
export const TemplateRefSchema = z
  .object({
    name: TemplateNameSchema,
    version: TemplateVersionSchema.optional(),
    label: TemplateLabelSchema.optional(),
    variables: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .refine((r) => r.version === undefined || r.label === undefined, {
    message: 'name a version or a label, not both',
    path: ['label'],
  });
export type TemplateRef = z.input<typeof TemplateRefSchema>;

/** A mustache token as `Mustache.parse` returns it: type, value, start, end, children (sections). */
type Token = [string, string, number, number, Token[]?, number?];

/**
 * The template text's tokens, or why it is refused: a syntax error (unclosed tag or section),
 * or a partial (`{{> name}}`: templates include nothing). A fresh writer each time, so the
 * parser's cache keeps no tenant's text.
 */
export function parseTemplateText(text: string): { tokens: Token[] } | { error: string } {
  let tokens: Token[];
  try {
    tokens = new Mustache.Writer().parse(text) as unknown as Token[];
  } catch (err) {
    return { error: `template syntax: ${(err as Error).message}` };
  }
  const partial = findToken(tokens, (t) => t[0] === '>');
  if (partial) return { error: `partials are not supported ({{> ${partial[1]}}} at ${partial[2]})` };
  return { tokens };
}

function findToken(tokens: Token[], test: (t: Token) => boolean): Token | undefined {
  for (const t of tokens) {
    if (test(t)) return t;
    const inner = t[4] && findToken(t[4], test);
    if (inner) return inner;
  }
  return undefined;
}

/** The first problem of a template's messages: its path (`messages[1].content`) and what it is. */
export function checkTemplateMessages(messages: TemplateMessage[]): { path: string; message: string } | undefined {
  for (const [i, m] of messages.entries()) {
    const parsed = parseTemplateText(m.content);
    if ('error' in parsed) return { path: `messages[${i}].content`, message: parsed.error };
  }
  return undefined;
}

/** Variables: JSON data (objects, arrays, strings, numbers, booleans, null). */
type Json = unknown;

const own = (v: Json, key: string): boolean =>
  v !== null && typeof v === 'object' && Object.prototype.hasOwnProperty.call(v, key);

/** A dotted name looked up as mustache does (innermost context first), own properties only. */
function lookup(name: string, stack: Json[]): Json {
  if (name === '.') return stack[stack.length - 1];
  const [first, ...rest] = name.split('.');
  let value: Json;
  let found = false;
  for (let i = stack.length - 1; i >= 0 && !found; i--) {
    if (own(stack[i], first!)) {
      value = (stack[i] as Record<string, Json>)[first!];
      found = true;
    }
  }
  if (!found) return undefined;
  for (const key of rest) {
    if (!own(value, key)) return undefined;
    value = (value as Record<string, Json>)[key];
  }
  return value;
}

/** A value as text: strings as they are, numbers and booleans printed, objects and arrays as JSON. */
function text(value: Json): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const falsy = (v: Json) => !v || (Array.isArray(v) && v.length === 0);

/**
 * What one render may do: sections nest over arrays, so a small template and small variables
 * (`{{#a}}{{#a}}{{#a}}…` over 100 items) could otherwise multiply into billions of steps.
 */
export const RENDER_LIMITS = { maxChars: 1_000_000, maxSteps: 200_000 };

/** A render past `RENDER_LIMITS`. */
export class RenderTooLarge extends Error {}

interface Budget {
  chars: number;
  steps: number;
}

/**
 * Renders one text. A `{{name}}` that resolves to nothing (absent, not null) is collected in
 * `missing`; a section over an absent name is simply false, as mustache has it (`{{#x}}` shows
 * nothing, `{{^x}}` shows its text).
 */
export function renderText(
  tokens: Token[],
  variables: Record<string, Json>,
  missing: string[] = [],
  budget: Budget = { chars: RENDER_LIMITS.maxChars, steps: RENDER_LIMITS.maxSteps },
): string {
  const out: string[] = [];
  const emit = (s: string) => {
    if ((budget.chars -= s.length) < 0)
      throw new RenderTooLarge(`renders to more than ${RENDER_LIMITS.maxChars} characters`);
    out.push(s);
  };
  // A step per token visited and per section item (an empty section over an array still loops).
  const step = () => {
    if (--budget.steps < 0) throw new RenderTooLarge(`takes more than ${RENDER_LIMITS.maxSteps} steps to render`);
  };
  const walk = (ts: Token[], stack: Json[]) => {
    for (const [type, value, , , children] of ts) {
      step();
      if (type === 'text') emit(value);
      else if (type === 'name' || type === '&') {
        const v = lookup(value, stack);
        if (v === undefined) missing.push(value);
        else emit(text(v));
      } else if (type === '#') {
        const v = lookup(value, stack);
        if (Array.isArray(v))
          for (const item of v) {
            step();
            walk(children ?? [], [...stack, item]);
          }
        else if (!falsy(v)) walk(children ?? [], [...stack, v]);
      } else if (type === '^') {
        if (falsy(lookup(value, stack))) walk(children ?? [], stack);
      }
      // '!' (comments) and '=' (delimiter changes, already applied by the parser) print nothing.
    }
  };
  walk(tokens, [variables]);
  return out.join('');
}

/**
 * The template's messages with the variables filled in, or the variables it needs that were not
 * given (each once, in order), or why it would be too large (`RENDER_LIMITS`, over all messages).
 * The texts were checked when the template was created.
 */
export function renderMessages(
  messages: TemplateMessage[],
  variables: Record<string, Json>,
): { messages: TemplateMessage[] } | { missing: string[] } | { tooLarge: string } {
  const missing: string[] = [];
  const budget = { chars: RENDER_LIMITS.maxChars, steps: RENDER_LIMITS.maxSteps };
  let rendered: TemplateMessage[];
  try {
    rendered = messages.map((m) => {
      const parsed = parseTemplateText(m.content);
      if ('error' in parsed) throw new Error(`a stored template does not parse: ${parsed.error}`);
      return { role: m.role, content: renderText(parsed.tokens, variables, missing, budget) };
    });
  } catch (err) {
    if (err instanceof RenderTooLarge) return { tooLarge: err.message };
    throw err;
  }
  if (missing.length > 0) return { missing: [...new Set(missing)] };
  return { messages: rendered };
}

/**
 * The variables with the schema's `default`s filled in where a property is absent: `properties`
 * of objects, nested objects too (not inside `items`, `anyOf` and the like). A copy: the input is
 * left as it is.
 */
export function withDefaults(schema: unknown, value: Json): Json {
  if (!isObject(schema)) return value;
  const props = schema.properties;
  if (!isObject(props) || !isObject(value) || Array.isArray(value)) return value;
  const out: Record<string, Json> = { ...value };
  for (const [key, sub] of Object.entries(props)) {
    if (!isObject(sub)) continue;
    if (!Object.prototype.hasOwnProperty.call(out, key) && 'default' in sub) out[key] = structuredClone(sub.default);
    if (Object.prototype.hasOwnProperty.call(out, key)) out[key] = withDefaults(sub, out[key]);
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';

/** A JSON Schema error's place in the variables, as a parameter path: `variables.user.name`, `variables.items[0]`. */
export function variablesParam(instancePath: string[]): string {
  return instancePath.reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : `${acc}.${seg}`), 'variables');
}
