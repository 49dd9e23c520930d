import { TenantPolicySchema } from '../../src/domain/config';
import { widening } from '../../src/domain/tenantPolicy';

const policy = (p: object) => TenantPolicySchema.parse(p);

describe("a tenant admin's policy change", () => {
  const set = policy({
    region: 'EU',
    compliance: ['gdpr'],
    allowedModels: ['a/x', 'a/y'],
    excludedProviders: ['b'],
    limits: { requestsPerMinute: 100 },
    workspaces: { lab: { allowedModels: ['a/x'] } },
  });

  it('may narrow: fewer models, more exclusions, lower limits, its own strategy', () => {
    const narrower = policy({
      region: 'EU',
      compliance: ['gdpr', 'hipaa'],
      allowedModels: ['a/x'],
      excludedProviders: ['b', 'c'],
      strategy: 'cost',
      limits: { requestsPerMinute: 50 },
      workspaces: { lab: { allowedModels: ['a/x'] } },
    });
    expect(widening(set, narrower)).toBeUndefined();
    expect(widening(undefined, policy({ region: 'US' }))).toBeUndefined(); // nothing set: nothing to widen
  });

  it.each([
    [{ region: 'US' }, 'region'],
    [{ compliance: [] }, 'compliance'],
    [{ allowedModels: undefined }, 'allowedModels'],
    [{ allowedModels: ['a/x', 'z/z'] }, 'allowedModels'],
    [{ excludedProviders: [] }, 'excludedProviders'],
    [{ limits: { requestsPerMinute: 200 } }, 'limits.requestsPerMinute'],
    [{ limits: {} }, 'limits.requestsPerMinute'],
    [{ workspaces: {} }, 'workspaces.lab'],
  ])('may not widen (%o → %s)', (change, param) => {
    expect(widening(set, policy({ ...set, ...change }))?.param).toBe(param);
  });
});
