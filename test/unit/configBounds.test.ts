import { defaultCatalog } from '../../src/domain/catalog';
import { SwitchyardConfigSchema, type SwitchyardConfig } from '../../src/domain/config';
import { boundIssues, CONFIG_BOUNDS, jsonBytes, oversizedItem, type ConfigBounds } from '../../src/domain/configBounds';

const catalog = defaultCatalog({ simulated: true });
const model = catalog.models[0]!.id;
const config = (rest: object = {}): SwitchyardConfig => SwitchyardConfigSchema.parse({ catalog, ...rest });
const rule = (id: string, tenantId?: string, users = 0) => ({
  id,
  ...(tenantId && { tenantId }),
  when: users ? [{ field: 'userId', op: 'in', value: Array.from({ length: users }, (_, i) => `user-${i}`) }] : [],
  targets: [{ model }],
});
const small: ConfigBounds = {
  ...CONFIG_BOUNDS,
  itemBytes: 1_000,
  rulesPerTenant: 2,
  overridesPerTenant: 2,
  tenantBytes: 3_000,
  totalBytes: 60_000,
};

describe('configuration bounds', () => {
  it('counts UTF-8 bytes of the JSON', () => {
    expect(jsonBytes({ a: 'é' })).toBe(JSON.stringify({ a: 'é' }).length + 1);
    expect(jsonBytes('😀')).toBe(6);
  });

  it('the defaults fit a real deployment: a rule with a 500-user list, 100 rules per tenant', () => {
    expect(jsonBytes(rule('r', 't', 500))).toBeLessThan(CONFIG_BOUNDS.itemBytes);
    const rules = Array.from({ length: 100 }, (_, i) => rule(`r${i}`, 't', 10));
    expect(boundIssues(config({ rules }), undefined)).toEqual([]);
    expect(CONFIG_BOUNDS.totalBytes).toBeLessThanOrEqual(4 * 1024 * 1024); // the API's body limit: an export imports
  });

  it('an oversized rule: its path, and the field to shorten', () => {
    const big = rule('big', 't', 300); // about 4 KB: over the rule's bound and the tenant's
    expect(boundIssues(config({ rules: [rule('a', 't'), big] }), undefined, small)).toEqual([
      expect.objectContaining({ path: 'rules.1', code: 'rule_too_large' }),
      expect.objectContaining({ path: 'tenants.t', code: 'tenant_config_too_large' }),
    ]);
    expect(oversizedItem(big, small)).toEqual({ bytes: jsonBytes(big), field: 'when' });
    expect(oversizedItem(rule('a', 't'), small)).toBeUndefined();
  });

  it("counts a tenant's rules and overrides (a tenant override by its subject), not the operator's", () => {
    const overrides = ['u1', 'u2', 'u3'].map((u) => ({ id: u, scope: 'user', subject: u, tenantId: 't', model }));
    const issues = boundIssues(
      config({
        rules: [rule('a', 't'), rule('b', 't'), rule('c', 't'), rule('g1'), rule('g2'), rule('g3')],
        overrides: [...overrides, { id: 'x', scope: 'tenant', subject: 'u', model }],
      }),
      undefined,
      small,
    );
    expect(issues.map((i) => [i.path, i.code, i.message])).toEqual([
      ['rules', 'too_many_rules', "tenant 't' would have 3 rules; at most 2"],
      ['overrides', 'too_many_overrides', "tenant 't' would have 3 overrides; at most 2"],
    ]);
  });

  it('the whole configuration', () => {
    const issues = boundIssues(
      config({ rules: Array.from({ length: 400 }, (_, i) => rule(`g${i}`, undefined, 5)) }),
      undefined,
      small,
    );
    expect(issues).toEqual([expect.objectContaining({ path: '', code: 'config_too_large' })]);
  });

  it('what is already stored does not block a change, but may not grow', () => {
    const stored = config({ rules: [rule('a', 't'), rule('b', 't'), rule('c', 't'), rule('big', 'u', 200)] });
    const unrelated = config({ ...stored, routing: { defaultStrategy: 'cost' } });
    expect(boundIssues(unrelated, stored, small)).toEqual([]);
    // One fewer rule: fine; one more: refused.
    expect(boundIssues(config({ ...stored, rules: stored.rules.slice(1) }), stored, small)).toEqual([]);
    expect(
      boundIssues(config({ ...stored, rules: [...stored.rules, rule('d', 't')] }), stored, small).map((i) => i.code),
    ).toContain('too_many_rules');
    // The oversized rule changed: checked again.
    const changed = { ...stored.rules[3]!, name: 'renamed' };
    expect(
      boundIssues(config({ ...stored, rules: [...stored.rules.slice(0, 3), changed] }), stored, small).map(
        (i) => i.code,
      ),
    ).toContain('rule_too_large');
  });
});

it("an item's size is its compact JSON's, computed field by field", () => {
  const item = { id: 'r', name: 'é'.repeat(600), when: [], skipped: undefined, targets: [{ model: 'a/b' }] };
  const over = oversizedItem(item, { ...CONFIG_BOUNDS, itemBytes: 100 });
  expect(over).toEqual({ bytes: jsonBytes(item), field: 'name' });
  expect(oversizedItem(item, { ...CONFIG_BOUNDS, itemBytes: jsonBytes(item) })).toBeUndefined();
});
