/**
 * `GET /metrics`: this process's Prometheus metrics. They name tenants and their spend: an
 * operator key, as Prometheus's `authorization` sends it.
 */
import type { Db } from '../../db';
import type { Metrics } from '../../services/metrics';
import { requireApiKey } from '../auth';
import { routeSpecs } from '../routeSpec';

export const metricsRoutes = routeSpecs<{ db: Db; metrics: Metrics }>([
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    tag: 'operations',
    role: 'operator',
    responseType: 'text/plain',
    errors: [401, 403],
    // Outside /v1, whose key check it does not pass through: the key is read here.
    before: (deps) => [requireApiKey(deps.db)],
    handle: async (deps, _req, res) => {
      res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    },
  },
]);
