/** `GET /v1/requests/:id`: a request's record (status, decision, attempts, usage and answer), for the caller's tenant. */
import { getRequest, listAttempts } from '../../db/requests';
import type { Db } from '../../db';
import { authOf } from '../auth';
import { HttpError } from '../errors';
import { routeSpecs } from '../routeSpec';
import { timingJson, timingOf } from '../../domain/timing';

export const requestRoutes = routeSpecs<{ db: Db }>([
  {
    method: 'get',
    path: '/v1/requests/:id',
    summary: "A request's record",
    tag: 'routing',
    role: 'member',
    errors: [401, 404],
    handle: async (deps, req, res) => {
      const { tenantId } = authOf(req);
      const row = await getRequest(deps.db, String(req.params.id));
      // Another tenant's request is reported as missing, not forbidden: ids must not leak.
      if (!row || row.tenant_id !== tenantId)
        throw HttpError.notFound(`No request with id '${req.params.id}'.`, { param: 'id', code: 'request_not_found' });
      const attempts = await listAttempts(deps.db, row.request_id);
      res.json({
        request_id: row.request_id,
        workflow_id: row.workflow_id,
        status: row.status,
        operation: row.operation,
        requested_model: row.requested_model,
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
      });
    },
  },
]);

/** The decision's notes (as `decideRoute` saved them) and the outcome's, in that order. */
function notesOf(decision: unknown, outcome: string[] | null): string[] {
  const planned = (decision as { notes?: unknown } | null)?.notes;
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((n) => typeof n === 'string') : []);
  return [...strings(planned), ...strings(outcome)];
}
