/**
 * `POST /v1/chat/completions`: the OpenAI wire format, so existing SDKs work by changing the base URL.
 * The handler parses, validates and delegates; routing happens in the workflow. `stream: true`
 * gets server-sent `chat.completion.chunk`s from the same workflow (see `../streaming`).
 */
import { chatCompletionObject, ChatCompletionRequestSchema, type ChatCompletionRequest } from '../../domain/chat';
import { answerAs } from '../../domain/storedAnswer';
import { compileSchema } from '../../services/jsonSchema';
import { authOf } from '../auth';
import { HttpError } from '../errors';
import { chatRouteInput, runRoute, switchyardExtension } from '../runRoute';
import type { PathDeps } from '../requestPath/run';
import { readBody } from '../validate';
import { ROUTED_ERRORS, routeSpecs, type RouteSpec } from '../routeSpec';
import { streamRoute } from '../streaming';
import { ChatCompletionWireSchema, namesTemplate, templateChatBody } from './templates';
import { openaiStreamWriter } from '../../domain/stream';

/** A schema that does not compile is the client's mistake: say so before any provider is paid. */
export function checkResponseFormat(body: ChatCompletionRequest): void {
  const format = body.response_format;
  if (format?.type === 'json_schema' && format.json_schema.schema) {
    const compiled = compileSchema(format.json_schema.schema);
    if (typeof compiled === 'string')
      throw HttpError.invalid(`Invalid JSON Schema: ${compiled}`, {
        param: 'response_format.json_schema.schema',
        code: 'invalid_json_schema',
      });
  }
}

const chatCompletions: RouteSpec<PathDeps> = {
  method: 'post',
  path: '/v1/chat/completions',
  summary: 'OpenAI chat completion (`stream: true`: server-sent chunks)',
  tag: 'routing',
  role: 'member',
  body: ChatCompletionWireSchema,
  errors: ROUTED_ERRORS,
  handle: async (deps, req, res) => {
    const { tenantId } = authOf(req);
    // `switchyard.template`: the body is rendered from the template first, and the record names it.
    const templated = namesTemplate(req.body) ? await templateChatBody(deps.db, tenantId, req.body) : undefined;
    const body = templated?.body ?? readBody(req, ChatCompletionRequestSchema);
    const template = templated?.template;
    checkResponseFormat(body);
    const route = chatRouteInput(req, tenantId, body);
    if (body.stream) {
      await streamRoute(deps, req, res, { tenantId, body, route, template }, (sub) =>
        openaiStreamWriter({
          id: `chatcmpl-${sub.requestId}`,
          created: Math.floor(Date.now() / 1000),
          includeUsage: body.stream_options?.include_usage === true,
        }),
      );
      return;
    }
    const outcome = await runRoute(deps, req, res, { tenantId, body, route, template });
    res.json({
      ...chatCompletionObject({
        request_id: outcome.requestId,
        model: outcome.modelId,
        answer: answerAs(outcome.answer, 'chat'),
        input_tokens: outcome.inputTokens,
        output_tokens: outcome.outputTokens,
        created_at: outcome.createdAt,
      }),
      switchyard: switchyardExtension(outcome),
    });
  },
};

export const chatRoutes = routeSpecs([chatCompletions]);
