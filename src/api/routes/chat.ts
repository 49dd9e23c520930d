/**
 * `POST /v1/chat/completions`: the OpenAI wire format, so existing SDKs work by changing the base URL.
 * The handler parses, validates and delegates; routing happens in the workflow.
 */
import { Router } from 'express';
import type { ConfigStore } from '../../services/configStore';
import { ChatCompletionRequestSchema, type ToolCall } from '../../domain/chat';
import { compileSchema } from '../../services/jsonSchema';
import { authOf } from '../auth';
import { HttpError } from '../errors';
import { chatRouteInput, runRoute, switchyardExtension, type RunnerDeps } from '../runRoute';
import { readBody } from '../validate';

export function chatRoutes(deps: RunnerDeps & { configStore: ConfigStore }): Router {
  const router = Router();

  router.post('/v1/chat/completions', async (req, res) => {
    const { tenantId } = authOf(req);
    const body = readBody(req, ChatCompletionRequestSchema);
    // A schema that does not compile is the client's mistake: say so before any provider is paid.
    const format = body.response_format;
    if (format?.type === 'json_schema' && format.json_schema.schema) {
      const compiled = compileSchema(format.json_schema.schema);
      if (typeof compiled === 'string')
        throw HttpError.invalid(`Invalid JSON Schema: ${compiled}`, {
          param: 'response_format.json_schema.schema',
          code: 'invalid_json_schema',
        });
    }
    const routed = await runRoute(deps, req, res, tenantId, body, chatRouteInput(req, tenantId, body));
    const { sub, result, row } = routed;
    const stored = row.response as { content: string | null; finishReason: string; toolCalls?: ToolCall[] };
    res.json({
      id: `chatcmpl-${sub.requestId}`,
      object: 'chat.completion',
      created: Math.floor(new Date(row.created_at).getTime() / 1000),
      model: result.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: stored.content,
            refusal: null,
            ...(stored.toolCalls && { tool_calls: stored.toolCalls }),
          },
          finish_reason: stored.finishReason,
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: result.inputTokens,
        completion_tokens: result.outputTokens,
        total_tokens: result.inputTokens + result.outputTokens,
      },
      system_fingerprint: null,
      switchyard: switchyardExtension(routed),
    });
  });

  return router;
}
