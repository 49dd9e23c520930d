/**
 * `POST /v1/operations/<name>`, one per entry of the registry (`src/domain/operations.ts`): typed,
 * validated results, each routed through the same `routeRequest` workflow as chat (classification, fallbacks,
 * escalation on invalid output, the same record in Postgres and Temporal).
 */
import { z } from 'zod';
import {
  isOperation,
  OPERATION_NAMES,
  OperationBodySchemas,
  resultOnWire,
  type OperationBody,
  type OperationName,
} from '../../domain/operations';
import { authOf } from '../auth';
import { routeContext, waitForRecovery } from '../context';
import { HttpError } from '../errors';
import { runRoute, switchyardExtension } from '../runRoute';
import type { PathDeps } from '../requestPath/run';
import { readBody } from '../validate';
import { ROUTED_ERRORS, routeSpecs, type RouteSpec } from '../routeSpec';
import { isEmbeddings } from '../../domain/storedAnswer';

const operationRoute: RouteSpec<PathDeps> = {
  method: 'post',
  path: '/v1/operations/:operation',
  summary: `A structured operation: ${OPERATION_NAMES.join(', ')}`,
  tag: 'routing',
  role: 'member',
  body: z.union(Object.values(OperationBodySchemas) as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]]),
  errors: ROUTED_ERRORS,
  handle: async (deps, req, res) => {
    const { tenantId } = authOf(req);
    const operation = String(req.params.operation);
    if (!isOperation(operation)) {
      throw HttpError.notFound(`Unknown operation '${operation}'. Use one of: ${OPERATION_NAMES.join(', ')}.`, {
        param: 'operation',
        code: 'unknown_operation',
      });
    }
    // One schema per operation; their union is wider than zod's inference follows.
    const body = readBody(req, OperationBodySchemas[operation] as z.ZodType<OperationBody<OperationName>>);
    const route = {
      operation,
      requestedModel: body.model,
      needsJson: false,
      context: routeContext(req, tenantId, body),
      waitForRecovery: waitForRecovery(req),
    };
    const outcome = await runRoute(deps, req, res, { tenantId, body, route });
    const { answer } = outcome;
    res.json({
      id: outcome.requestId,
      object: `operation.${operation}`,
      operation,
      model: outcome.modelId,
      result: isEmbeddings(answer)
        ? { embeddings: answer.embeddings, dimensions: answer.dimensions }
        : resultOnWire(operation, answer.result),
      usage: { input_tokens: outcome.inputTokens, output_tokens: outcome.outputTokens },
      switchyard: switchyardExtension(outcome),
    });
  },
};

export const operationRoutes = routeSpecs([operationRoute]);
