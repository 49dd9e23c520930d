/**
 * `POST /v1/chat/completions`: the OpenAI wire format, so existing SDKs work by changing the base URL.
 * The handler parses, validates and delegates; routing happens in the workflow.
 */
import { Router } from 'express';
import { findModel } from '../../domain/catalog';
import type { ConfigStore } from '../../configStore';
import { routeContext, waitForRecovery } from '../context';
import { ChatCompletionRequestSchema, maxOutputTokens } from '../../domain/chat';
import { AUTO_MODELS } from '../../domain/policy';
import { getRequest } from '../../db/requests';
import { authOf } from '../auth';
import { fromZodError, HttpError } from '../errors';
import { awaitResult, requestTimeoutMs, submitRequest, type RunnerDeps } from '../runRequest';

export function chatRoutes(deps: RunnerDeps & { configStore: ConfigStore }): Router {
  const router = Router();

  router.post('/v1/chat/completions', async (req, res) => {
    const { tenantId } = authOf(req);
    if (req.body === undefined) {
      throw new HttpError(400, 'invalid_request_error', 'The request body must be JSON, sent with "Content-Type: application/json".', null, 'invalid_json');
    }
    const parsed = ChatCompletionRequestSchema.safeParse(req.body);
    if (!parsed.success) throw fromZodError(parsed.error);
    const body = parsed.data;
    if (!AUTO_MODELS.has(body.model) && !findModel(deps.configStore.current().config.catalog, body.model)) {
      const known = deps.configStore.current().config.catalog.models.map((m) => m.id).join(', ');
      throw new HttpError(404, 'not_found_error', `The model '${body.model}' does not exist. Use "auto" or one of: ${known}.`, 'model', 'model_not_found');
    }

    const sub = await submitRequest(deps, {
      tenantId,
      idempotencyKey: req.header('idempotency-key'),
      timeoutMs: requestTimeoutMs(req.header('x-switchyard-timeout-ms'), deps.requestTimeoutMs),
      body,
      route: {
        operation: 'chat',
        requestedModel: body.model,
        maxOutputTokens: maxOutputTokens(body),
        needsJson: body.response_format !== undefined && body.response_format.type !== 'text',
        context: routeContext(req, tenantId, { user: body.user, metadata: body.metadata }),
        waitForRecovery: waitForRecovery(req),
      },
    });
    res.setHeader('x-switchyard-request-id', sub.requestId);
    res.setHeader('x-switchyard-workflow-id', sub.workflowId);
    const result = await awaitResult(deps, sub);
    const row = await getRequest(deps.db, sub.requestId);
    const stored = row?.response as { content: string | null; finishReason: string } | undefined;
    if (!row || !stored) throw new Error(`request ${sub.requestId} succeeded but its response is not stored`);

    res.setHeader('x-switchyard-provider', result.provider);
    res.setHeader('x-switchyard-model', result.modelId);
    res.json({
      id: `chatcmpl-${sub.requestId}`,
      object: 'chat.completion',
      created: Math.floor(new Date(row.created_at).getTime() / 1000),
      model: result.model,
      choices: [{ index: 0, message: { role: 'assistant', content: stored.content, refusal: null }, finish_reason: stored.finishReason, logprobs: null }],
      usage: { prompt_tokens: result.inputTokens, completion_tokens: result.outputTokens, total_tokens: result.inputTokens + result.outputTokens },
      system_fingerprint: null,
      // Extension field (ignored by OpenAI clients): where the request went and why.
      switchyard: {
        request_id: sub.requestId,
        workflow_id: sub.workflowId,
        provider: result.provider,
        model: result.modelId,
        cost_usd: result.costUsd,
        decision: result.decisionSummary,
        route: result.route,
        classification: { task_type: result.classification.taskType, complexity: result.classification.complexity },
        candidates: result.candidates,
        attempts: result.attempts,
      },
    });
  });

  return router;
}
