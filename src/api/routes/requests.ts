/**
 * `GET /v1/requests/:id`: a request's record (status, decision, attempts, usage and answer), for
 * the caller's tenant (an operator: any tenant's), with a link to its workflow in the Temporal UI.
 */
import { getRequest, listAttempts } from '../../db/requests';
import type { Db } from '../../db';
import { authOf, hasRole, type AuthContext } from '../auth';
import { HttpError } from '../errors';
import { routeSpecs } from '../routeSpec';
import { timingJson, timingOf } from '../../domain/timing';

/** Where the Temporal UI is, and the namespace the workflows run in. */
export interface TemporalUi {
  url: string;
  namespace: string;
}

/** The Temporal UI's page of a workflow (`<ui>/namespaces/<ns>/workflows/<id>`), or null (no UI known, or a cache hit: no workflow). */
export function temporalUiLink(ui: TemporalUi | undefined, workflowId: string): string | null {
  if (!ui || !workflowId) return null;
  const base = ui.url.replace(/\/+$/, '');
  return `${base}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/**
 * A request's record as GET /v1/requests/:id answers it (gRPC's GetRequest too): the caller's
 * tenant's, or any for an operator; another tenant's is reported as missing, not forbidden (ids
 * must not leak).
 */
export async function requestRecord(deps: { db: Db; temporalUi?: TemporalUi }, auth: AuthContext, id: string) {
  const row = await getRequest(deps.db, id);
  // Another tenant's request is reported as missing, not forbidden: ids must not leak.
  if (!row || (row.tenant_id !== auth.tenantId && !hasRole(auth, 'operator')))
    throw HttpError.notFound(`No request with id '${id}'.`, { param: 'id', code: 'request_not_found' });
  const attempts = await listAttempts(deps.db, row.request_id);
  return {
    request_id: row.request_id,
    workflow_id: row.workflow_id,
    tenant_id: row.tenant_id,
    user: row.end_user,
    batch_id: row.batch_id,
    status: row.status,
    operation: row.operation,
    requested_model: row.requested_model,
    // The template version its body was rendered from (the body stored is the rendered request).
    template: row.template_name
      ? { id: row.template_id, name: row.template_name, version: row.template_version }
      : null,
    provider: row.provider,
    model: row.model,
    classification: row.classification,
    decision: row.decision,
    decision_input: row.decision_input,
    // The decision's notes, then the outcome's ("continued after N pieces on X"): the workflow result's `notes`.
    notes: notesOf(row.decision, row.notes),
    config_version: row.config_version,
    attempts,
    // Where the time went, from the record itself (finished requests).
    timing_ms: row.completed_at
      ? timingJson(
          timingOf({
            startedAt: new Date(row.created_at).getTime(),
            endedAt: new Date(row.completed_at).getTime(),
            attempts,
          }),
        )
      : null,
    response: row.response,
    usage: row.input_tokens === null ? null : { input_tokens: row.input_tokens, output_tokens: row.output_tokens },
    cost_usd: row.cost_usd,
    error: row.error,
    latency_ms: row.latency_ms,
    cache_hit: row.cache_hit,
    cached_from: row.cached_from,
    created_at: row.created_at,
    completed_at: row.completed_at,
    links: { temporal_ui: temporalUiLink(deps.temporalUi, row.workflow_id) },
  };
}

export const requestRoutes = routeSpecs<{ db: Db; temporalUi?: TemporalUi }>([
  {
    method: 'get',
    path: '/v1/requests/:id',
    summary: "A request's record",
    tag: 'routing',
    role: 'member',
    errors: [401, 404],
    handle: async (deps, req, res) => {
      res.json(await requestRecord(deps, authOf(req), String(req.params.id)));
    },
  },
]);

/** The decision's notes (as `decideRoute` saved them) and the outcome's, in that order. */
function notesOf(decision: unknown, outcome: string[] | null): string[] {
  const planned = (decision as { notes?: unknown } | null)?.notes;
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((n) => typeof n === 'string') : []);
  return [...strings(planned), ...strings(outcome)];
}
