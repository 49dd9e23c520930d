/**
 * `POST /v1/embeddings` in OpenAI's format, routed like the `embed` operation (an embeddings-capable
 * model, fallbacks, the request record), so `client.embeddings.create` works unchanged. The SDKs
 * ask for base64 by default (little-endian float32, as OpenAI sends it); `float` gives arrays.
 */
import { embeddingsObject, EmbeddingsBodySchema } from '../../domain/chat';
import { answerAs } from '../../domain/storedAnswer';
import { authOf } from '../auth';
import { routeContext, waitForRecovery } from '../context';
import { runRoute, switchyardExtension } from '../runRoute';
import type { PathDeps } from '../requestPath/run';
import { readBody } from '../validate';
import { ROUTED_ERRORS, routeSpecs, type RouteSpec } from '../routeSpec';

const base64 = (v: number[]) => Buffer.from(new Float32Array(v).buffer).toString('base64');

const embeddings: RouteSpec<PathDeps> = {
  method: 'post',
  path: '/v1/embeddings',
  summary: 'OpenAI embeddings',
  tag: 'routing',
  role: 'member',
  body: EmbeddingsBodySchema,
  errors: ROUTED_ERRORS,
  handle: async (deps, req, res) => {
    const { tenantId } = authOf(req);
    const body = readBody(req, EmbeddingsBodySchema);
    const outcome = await runRoute(deps, req, res, {
      tenantId,
      body: { input: body.input, model: body.model },
      route: {
        operation: 'embed',
        requestedModel: body.model,
        needsJson: false,
        context: routeContext(req, tenantId, { user: body.user }),
        waitForRecovery: waitForRecovery(req),
      },
    });
    res.json({
      ...embeddingsObject(
        {
          request_id: outcome.requestId,
          model: outcome.modelId,
          answer: answerAs(outcome.answer, 'embeddings'),
          input_tokens: outcome.inputTokens,
          output_tokens: 0,
          created_at: outcome.createdAt,
        },
        body.encoding_format === 'base64' ? base64 : undefined,
      ),
      switchyard: switchyardExtension(outcome),
    });
  },
};

export const embeddingRoutes = routeSpecs([embeddings]);
