/**
 * The routing-policy tests' fixture: the seed configuration (test/fixtures/seed-policy.yaml), a
 * policy input for a plain chat request from district 7, and a recorded request for policy replay.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { Db } from '../../src/db';
import type { Classification } from '../../src/domain/classify';
import type { SwitchyardConfigInput } from '../../src/domain/config';
import type { PolicyInput, RouteContext, RouteDecision } from '../../src/domain/policy';

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

/**
 * A routed chat request as the recorder writes it (succeeded, `auto`), for policy replay to read:
 * its row in `requests` with the classification, decision and decision input; `body` as stored.
 */
export async function insertRecordedRequest(
  db: Pick<Db, 'query'>,
  r: {
    input: PolicyInput;
    classification: Classification;
    decision: RouteDecision;
    configVersion: number;
    body?: unknown;
  },
): Promise<void> {
  await db.query(
    `insert into requests (request_id, workflow_id, tenant_id, operation, requested_model, body, body_hash, status, classification, decision, decision_input, config_version)
     values ($1, $2, $3, 'chat', 'auto', $4, 'h', 'succeeded', $5, $6, $7, $8)`,
    [
      r.input.requestId,
      `req-${r.input.requestId}`,
      r.input.context.tenantId,
      JSON.stringify(r.body ?? {}),
      JSON.stringify(r.classification),
      JSON.stringify(r.decision),
      JSON.stringify(r.input),
      r.configVersion,
    ],
  );
}
