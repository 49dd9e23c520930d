/** Rules: conditions on the request's attributes, and the order a matching rule prefers its targets in. */
import type { Model } from '../catalog';
import type { Classification } from '../classify';
import type { Condition, Rule } from '../config';
import { compilePattern, RULE_PATTERN } from '../pattern';
import { stableFraction } from './hash';
import type { PolicyInput } from './types';

type Complexity = Classification['complexity'];

/**
 * The value a rule condition reads from the request. `complexity` is the tier the request is routed
 * at: under `auto`, the one the cost–quality dial chose from the classifier's probabilities (so a
 * rule "complexity eq complex → a premium model" follows the dial, as the ranking does); otherwise
 * the classifier's label. `classifiedComplexity` is always the classifier's label (its most likely
 * class), whatever the dial says.
 */
function attribute(
  field: string,
  input: PolicyInput,
  c: Classification,
  tier: Complexity | undefined,
): string | number | undefined {
  if (field.startsWith('metadata.')) return input.context.metadata[field.slice('metadata.'.length)];
  switch (field) {
    case 'operation':
      return input.operation;
    case 'requestedModel':
      return input.requestedModel;
    case 'taskType':
      return c.taskType;
    case 'complexity':
      return tier ?? c.complexity;
    case 'classifiedComplexity':
      return c.complexity;
    case 'inputTokens':
      return c.inputTokens;
    default:
      return (input.context as Record<string, unknown>)[field] as string | undefined;
  }
}

const norm = (v: string | number) => (typeof v === 'string' ? v.toLowerCase() : v);

/** Whether a condition holds; `tier`: the dial's tier under `auto` (see `attribute`). */
export function conditionHolds(cond: Condition, input: PolicyInput, c: Classification, tier?: Complexity): boolean {
  const actual = attribute(cond.field, input, c, tier);
  if (actual === undefined) return cond.op === 'ne' || cond.op === 'nin';
  const list = Array.isArray(cond.value) ? cond.value.map(norm) : [];
  switch (cond.op) {
    case 'eq':
      return norm(actual) === norm(cond.value as string | number);
    case 'ne':
      return norm(actual) !== norm(cond.value as string | number);
    case 'in':
      return list.includes(norm(actual));
    case 'nin':
      return !list.includes(norm(actual));
    case 'gt':
      return Number(actual) > Number(cond.value);
    case 'gte':
      return Number(actual) >= Number(cond.value);
    case 'lt':
      return Number(actual) < Number(cond.value);
    case 'lte':
      return Number(actual) <= Number(cond.value);
    case 'contains':
      return String(actual).toLowerCase().includes(String(cond.value).toLowerCase());
    case 'matches': {
      // RE2, never V8's backtracking RegExp: the pattern is a tenant's (checked when stored or replayed).
      const re = compilePattern(String(cond.value), RULE_PATTERN);
      return typeof re !== 'string' && re.test(String(actual));
    }
  }
}

/** A rule's targets in the order it prefers them: listed order, or one picked by weight first. */
export function ruleOrder(rule: Rule, eligible: Model[], input: PolicyInput): { models: Model[]; picked?: string } {
  const targets = rule.targets.flatMap((t) => {
    const m = eligible.find((x) => x.id === t.model);
    return m ? [{ m, weight: t.weight ?? 1 }] : [];
  });
  const weighted =
    (rule.split ?? (rule.targets.some((t) => t.weight !== undefined) ? 'weighted' : 'ordered')) === 'weighted';
  if (!weighted || targets.length < 2) return { models: targets.map((t) => t.m) };
  const key =
    rule.sticky && input.context.userId
      ? `${rule.id}:user:${input.context.userId}`
      : `${rule.id}:request:${input.requestId}`;
  const total = targets.reduce((s, t) => s + t.weight, 0);
  let point = stableFraction(key) * total;
  let pick = targets[targets.length - 1]!;
  for (const t of targets) {
    if (point < t.weight) {
      pick = t;
      break;
    }
    point -= t.weight;
  }
  const rest = targets.filter((t) => t !== pick).sort((a, b) => b.weight - a.weight);
  return { models: [pick.m, ...rest.map((t) => t.m)], picked: pick.m.id };
}

/** A canonical text of a value (object keys sorted), to compare two parsed rules. */
const canonical = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(',')}]`
    : v !== null && typeof v === 'object'
      ? `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
          .join(',')}}`
      : JSON.stringify(v);

/**
 * The positions of the proposed rules this role may not write: for anyone but an operator, a rule
 * with `matches` (a regular expression) that is not one already in force, unchanged. Storing a
 * rule and replaying a proposal apply this same check.
 */
export function operatorOnlyRules(role: string, proposed: Rule[], current: Rule[]): number[] {
  if (role === 'operator') return [];
  const inForce = new Set(current.map(canonical));
  return proposed.flatMap((rule, i) =>
    rule.when.some((c) => c.op === 'matches') && !inForce.has(canonical(rule)) ? [i] : [],
  );
}
