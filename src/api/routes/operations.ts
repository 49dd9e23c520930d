/**
 * `POST /v1/operations/{intent|sentiment|entities|summarize|embed}`: typed, validated results,
 * each routed through the same `routeRequest` workflow as chat (classification, fallbacks,
 * escalation on invalid output, the same record in Postgres and Temporal).
 */
import { Router } from 'express';
import { findModel } from '../../domain/catalog';
import type { ConfigStore } from '../../configStore';
import { routeContext, waitForRecovery } from '../context';
import { OperationBodySchemas, type OperationName } from '../../domain/operations';
import { AUTO_MODELS } from '../../domain/policy';
import { getRequest } from '../../db/requests';
import { authOf } from '../auth';
import { fromZodError, HttpError } from '../errors';
import { awaitResult, requestTimeoutMs, submitRequest, type RunnerDeps } from '../runRequest';

const NAMES = Object.keys(OperationBodySchemas) as OperationName[];

export function operationRoutes(deps: RunnerDeps & { configStore: ConfigStore }): Router {
  const router = Router();

  router.post('/v1/operations/:operation', async (req, res) => {
    const { tenantId } = authOf(req);
    const operation = req.params.operation as OperationName;
    if (!NAMES.includes(operation)) {
      throw new HttpError(404, 'not_found_error', `Unknown operation '${req.params.operation}'. Use one of: ${NAMES.join(', ')}.`, 'operation', 'unknown_operation');
    }
    if (req.body === undefined) {
      throw new HttpError(400, 'invalid_request_error', 'The request body must be JSON, sent with "Content-Type: application/json".', null, 'invalid_json');
    }
    const parsed = OperationBodySchemas[operation].safeParse(req.body);
    if (!parsed.success) throw fromZodError(parsed.error);
    const body = parsed.data;
    if (!AUTO_MODELS.has(body.model) && !findModel(deps.configStore.current().config.catalog, body.model)) {
      throw new HttpError(404, 'not_found_error', `The model '${body.model}' does not exist.`, 'model', 'model_not_found');
    }

    const sub = await submitRequest(deps, {
      tenantId,
      idempotencyKey: req.header('idempotency-key'),
      timeoutMs: requestTimeoutMs(req.header('x-switchyard-timeout-ms'), deps.requestTimeoutMs),
      body,
      route: { operation, requestedModel: body.model, needsJson: false, context: routeContext(req, tenantId, body), waitForRecovery: waitForRecovery(req) },
    });
    res.setHeader('x-switchyard-request-id', sub.requestId);
    res.setHeader('x-switchyard-workflow-id', sub.workflowId);
    const result = await awaitResult(deps, sub);
    const row = await getRequest(deps.db, sub.requestId);
    const stored = row?.response as { result?: unknown; embeddings?: unknown; dimensions?: number } | undefined;
    if (!stored) throw new Error(`request ${sub.requestId} succeeded but its response is not stored`);
    res.setHeader('x-switchyard-provider', result.provider);
    res.setHeader('x-switchyard-model', result.modelId);
    res.json({
      id: sub.requestId,
      object: `operation.${operation}`,
      operation,
      model: result.modelId,
      result: operation === 'embed' ? { embeddings: stored.embeddings, dimensions: stored.dimensions } : stored.result,
      usage: { input_tokens: result.inputTokens, output_tokens: result.outputTokens },
      switchyard: {
        request_id: sub.requestId,
        workflow_id: sub.workflowId,
        provider: result.provider,
        cost_usd: result.costUsd,
        decision: result.decisionSummary,
        route: result.route,
        candidates: result.candidates,
        attempts: result.attempts,
      },
    });
  });

  return router;
}
