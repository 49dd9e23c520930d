/**
 * Bounds on the stored configuration. Every version is stored whole and every process loads it,
 * so no one caller may grow it without limit (issue 28: ten 3.5 MB rules from one tenant admin
 * stored 35 MB per version). Each bound is checked against what a change adds: a configuration
 * stored before a bound existed does not block an unrelated edit, but it cannot grow further.
 */
import type { SwitchyardConfig } from './config';

export interface ConfigBounds {
  /** One rule or override, as JSON (a rule with a 500-entry `in` list is about 10 KB). */
  itemBytes: number;
  /** A tenant's own rules: each is tested on every request of the tenant. */
  rulesPerTenant: number;
  /** A tenant's overrides (per user, per workspace, the tenant's own). */
  overridesPerTenant: number;
  /** A tenant's policy, rules and overrides together, as JSON: one tenant's share of every version. */
  tenantBytes: number;
  /** The whole configuration, as JSON: half the API's 4 MB body limit, so an export can be imported. */
  totalBytes: number;
  /** Versions kept in the history, besides the latest of each source (a restart compares the file with it). */
  keepVersions: number;
}

export const CONFIG_BOUNDS: ConfigBounds = {
  itemBytes: 16 * 1024,
  rulesPerTenant: 100,
  overridesPerTenant: 1_000,
  tenantBytes: 256 * 1024,
  totalBytes: 2 * 1024 * 1024,
  keepVersions: 200,
};

export type BoundCode =
  | 'rule_too_large'
  | 'override_too_large'
  | 'too_many_rules'
  | 'too_many_overrides'
  | 'tenant_config_too_large'
  | 'config_too_large';

export interface BoundIssue {
  /** Where, in the configuration (`rules.3`, `tenants.acme`, '' for the whole). */
  path: string;
  message: string;
  code: BoundCode;
}

/**
 * UTF-8 bytes of a JSON text, counted without encoding it. JSON.stringify escapes lone surrogates,
 * so a high surrogate here always starts a pair (4 bytes for its 2 code units).
 */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}

/** The size of a value as stored: its JSON, in UTF-8 bytes. */
export function jsonBytes(value: unknown): number {
  return utf8Length(JSON.stringify(value) ?? '');
}

type ItemKind = 'rules' | 'overrides';
type Item = { tenantId?: string; scope?: string; subject?: string };

/** The tenant a rule or override belongs to (undefined: a rule for every tenant, the operator's). */
export const tenantOfItem = (kind: ItemKind, item: Item): string | undefined =>
  kind === 'overrides' && item.scope === 'tenant' ? item.subject : item.tenantId;

/**
 * An item over the size bound, and its largest field (what to shorten), or undefined. For a
 * handler to refuse one rule before it is validated or merged into the configuration: each field
 * is serialized once, and the item's size is their sum (compact JSON, as stored).
 */
export function oversizedItem(
  item: object,
  bounds: ConfigBounds = CONFIG_BOUNDS,
): { bytes: number; field: string | undefined } | undefined {
  const fields = Object.entries(item)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ({ k, n: jsonBytes(v), key: jsonBytes(k) + 1 }));
  // `{`, `}`, the commas between fields, and each `"key":value`.
  const bytes = 2 + Math.max(0, fields.length - 1) + fields.reduce((sum, f) => sum + f.key + f.n, 0);
  if (bytes <= bounds.itemBytes) return undefined;
  return { bytes, field: fields.sort((a, b) => b.n - a.n)[0]?.k };
}

interface Shape {
  total: number;
  /** Per tenant: rules, overrides, and bytes of policy, rules and overrides. */
  tenants: Map<string, { rules: number; overrides: number; bytes: number }>;
  /** Each item's JSON, by kind. */
  items: Record<ItemKind, string[]>;
}

function shapeOf(c: SwitchyardConfig): Shape {
  const tenants: Shape['tenants'] = new Map();
  const of = (t: string) => {
    let s = tenants.get(t);
    if (!s) tenants.set(t, (s = { rules: 0, overrides: 0, bytes: 0 }));
    return s;
  };
  for (const [t, policy] of Object.entries(c.tenants)) of(t).bytes += jsonBytes(policy);
  const items = { rules: [] as string[], overrides: [] as string[] };
  for (const kind of ['rules', 'overrides'] as const) {
    for (const item of c[kind] as Item[]) {
      const json = JSON.stringify(item);
      items[kind].push(json);
      const t = tenantOfItem(kind, item);
      if (t === undefined) continue;
      of(t)[kind]++;
      of(t).bytes += utf8Length(json);
    }
  }
  return { total: jsonBytes(c), tenants, items };
}

/** Where `next` crosses a bound that `previous` (the version it replaces) did not already cross as far. */
export function boundIssues(
  next: SwitchyardConfig,
  previous: SwitchyardConfig | undefined,
  bounds: ConfigBounds = CONFIG_BOUNDS,
): BoundIssue[] {
  const now = shapeOf(next);
  const was = previous ? shapeOf(previous) : undefined;
  const issues: BoundIssue[] = [];
  const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
  for (const kind of ['rules', 'overrides'] as const) {
    const kept = new Set(was?.items[kind]);
    now.items[kind].forEach((json, i) => {
      const bytes = utf8Length(json);
      if (bytes > bounds.itemBytes && !kept.has(json))
        issues.push({
          path: `${kind}.${i}`,
          code: kind === 'rules' ? 'rule_too_large' : 'override_too_large',
          message: `is ${kib(bytes)} as JSON; at most ${kib(bounds.itemBytes)}`,
        });
    });
  }
  for (const [t, s] of now.tenants) {
    const before = was?.tenants.get(t) ?? { rules: 0, overrides: 0, bytes: 0 };
    if (s.rules > bounds.rulesPerTenant && s.rules > before.rules)
      issues.push({
        path: 'rules',
        code: 'too_many_rules',
        message: `tenant '${t}' would have ${s.rules} rules; at most ${bounds.rulesPerTenant}`,
      });
    if (s.overrides > bounds.overridesPerTenant && s.overrides > before.overrides)
      issues.push({
        path: 'overrides',
        code: 'too_many_overrides',
        message: `tenant '${t}' would have ${s.overrides} overrides; at most ${bounds.overridesPerTenant}`,
      });
    if (s.bytes > bounds.tenantBytes && s.bytes > before.bytes)
      issues.push({
        path: `tenants.${t}`,
        code: 'tenant_config_too_large',
        message: `tenant '${t}': its policy, rules and overrides would be ${kib(s.bytes)} as JSON; at most ${kib(bounds.tenantBytes)}`,
      });
  }
  if (now.total > bounds.totalBytes && now.total > (was?.total ?? 0))
    issues.push({
      path: '',
      code: 'config_too_large',
      message: `the configuration would be ${kib(now.total)} as JSON; at most ${kib(bounds.totalBytes)}`,
    });
  return issues;
}
