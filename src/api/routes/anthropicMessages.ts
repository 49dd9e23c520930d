/**
 * `POST /v1/messages` and `POST /v1/messages/count_tokens` in Anthropic's format, so the official
 * `@anthropic-ai/sdk` works by changing its base URL. The request is routed like a chat completion
 * (any provider, either wire format, with fallbacks) and the answer comes back as a Message.
 */
import { Router } from 'express';
import { AnthropicMessagesRequestSchema, toAnthropicMessage, toChatRequest } from '../../domain/anthropicMessages';
import { countMessageTokens } from '../../domain/tokens';
import { readAnswer } from '../../domain/storedAnswer';
import type { ConfigStore } from '../../services/configStore';
import { authOf } from '../auth';
import { chatRouteInput, runRoute, switchyardExtension, type RunnerDeps } from '../runRoute';
import { readBody } from '../validate';
import { streamRoute } from '../streaming';
import { anthropicStreamWriter } from '../../domain/stream';

export function anthropicMessageRoutes(deps: RunnerDeps & { configStore: ConfigStore }): Router {
  const router = Router();

  router.post('/v1/messages', async (req, res) => {
    const { tenantId } = authOf(req);
    const chat = toChatRequest(readBody(req, AnthropicMessagesRequestSchema));
    const route = chatRouteInput(req, tenantId, chat);
    if (chat.stream) {
      const inputTokens = countMessageTokens(chat.messages);
      await streamRoute(deps, req, res, { tenantId, body: chat, route }, (sub) =>
        anthropicStreamWriter({ id: `msg_${sub.requestId}`, inputTokens }),
      );
      return;
    }
    const outcome = await runRoute(deps, req, res, { tenantId, body: chat, route });
    const stored = readAnswer(outcome.answer, 'chat');
    res.json({
      ...toAnthropicMessage({
        id: `msg_${outcome.requestId}`,
        model: outcome.modelId,
        content: stored.content,
        ...(stored.toolCalls && { toolCalls: stored.toolCalls }),
        finishReason: stored.finishReason,
        inputTokens: outcome.inputTokens,
        outputTokens: outcome.outputTokens,
      }),
      switchyard: switchyardExtension(outcome),
    });
  });

  router.post('/v1/messages/count_tokens', (req, res) => {
    authOf(req);
    const body = readBody(req, AnthropicMessagesRequestSchema.omit({ max_tokens: true }));
    res.json({ input_tokens: countMessageTokens(toChatRequest(body).messages) });
  });

  return router;
}
