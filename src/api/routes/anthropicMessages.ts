/**
 * `POST /v1/messages` and `POST /v1/messages/count_tokens` in Anthropic's format, so the official
 * `@anthropic-ai/sdk` works by changing its base URL. The request is routed like a chat completion
 * (any provider, either wire format, with fallbacks) and the answer comes back as a Message.
 */
import { AnthropicMessagesRequestSchema, toAnthropicMessage, toChatRequest } from '../../domain/anthropicMessages';
import { z } from 'zod';
import { countMessageTokens } from '../../domain/tokens';
import { answerAs } from '../../domain/storedAnswer';
import { authOf } from '../auth';
import { chatRouteInput, runRoute, switchyardExtension } from '../runRoute';
import type { PathDeps } from '../requestPath/run';
import { readBody } from '../validate';
import { routeSpecs, ROUTED_ERRORS, type RouteSpec } from '../routeSpec';
import { streamRoute } from '../streaming';
import { anthropicStreamWriter } from '../../domain/stream';

const messages: RouteSpec<PathDeps> = {
  method: 'post',
  path: '/v1/messages',
  summary: 'Anthropic Messages (`stream: true`: Anthropic events)',
  tag: 'routing',
  role: 'member',
  body: AnthropicMessagesRequestSchema,
  errors: ROUTED_ERRORS,
  handle: async (deps, req, res) => {
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
    const stored = answerAs(outcome.answer, 'chat');
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
  },
};

const countTokens: RouteSpec<PathDeps> = {
  method: 'post',
  path: '/v1/messages/count_tokens',
  summary: 'Anthropic token count',
  tag: 'routing',
  role: 'member',
  body: AnthropicMessagesRequestSchema.omit({ max_tokens: true }),
  response: z.object({ input_tokens: z.number().int() }),
  errors: [400, 401],
  handle: (_deps, req, res) => {
    authOf(req);
    const body = readBody(req, AnthropicMessagesRequestSchema.omit({ max_tokens: true }));
    res.json({ input_tokens: countMessageTokens(toChatRequest(body).messages) });
  },
};

export const anthropicMessageRoutes = routeSpecs([messages, countTokens]);
