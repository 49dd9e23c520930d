/**
 * The routing-policy unit tests' fixture: the seed configuration (test/fixtures/seed-policy.yaml)
 * and a policy input for a plain chat request from district 7.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { SwitchyardConfigInput } from '../../src/domain/config';
import type { PolicyInput, RouteContext } from '../../src/domain/policy';

/** The seed configuration as written (not validated), parsed afresh on each call. */
export const loadSeedPolicy = () =>
  YAML.parse(
    fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'seed-policy.yaml'), 'utf8'),
  ) as SwitchyardConfigInput & { catalog: { models: Array<Record<string, unknown>> } };

/** A route context: district 7, nothing required or excluded, no metadata; `c` overrides. */
export const routeContext = (c: Partial<RouteContext> = {}): RouteContext => ({
  tenantId: 'district-7',
  compliance: [],
  excludeProviders: [],
  metadata: {},
  ...c,
});

/** A chat request for `auto` (512 output tokens, no JSON) in `routeContext(c)`; `extra` overrides. */
export const policyInput = (c: Partial<RouteContext> = {}, extra: Partial<PolicyInput> = {}): PolicyInput => ({
  requestId: 'req-1',
  requestedModel: 'auto',
  operation: 'chat',
  capability: 'chat',
  maxOutputTokens: 512,
  needsJson: false,
  context: routeContext(c),
  now: '2026-11-22T00:00:00Z',
  ...extra,
});

/** A decision's candidates' model ids, in order. */
export const candidateIds = (d: { candidates: Array<{ modelId: string }> }) => d.candidates.map((c) => c.modelId);
