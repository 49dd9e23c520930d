/**
 * `POST /v1/embeddings` in OpenAI's format, routed like the `embed` operation (an embeddings-capable
 * model, fallbacks, the request record), so `client.embeddings.create` works unchanged. The SDKs
 * ask for base64 by default (little-endian float32, as OpenAI sends it); `float` gives arrays.
 */
import { embeddingsObject, EmbeddingsBodySchema } from '../../domain/chat';
import type { ConfigStore } from '../../services/configStore';
import { authOf } from '../auth';
import { routeContext, waitForRecovery } from '../context';
import { runRoute, switchyardExtension, type RunnerDeps } from '../runRoute';
import { readBody } from '../validate';
import { ROUTED_ERRORS, routeSpecs, type RouteSpec } from '../routeSpec';

const base64 = (v: number[]) => Buffer.from(new Float32Array(v).buffer).toString('base64');

const embeddings: RouteSpec<RunnerDeps & { configStore: ConfigStore }> = {
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
    const routed = await runRoute(
      deps,
      req,
      res,
      tenantId,
      { input: body.input, model: body.model },
      {
        operation: 'embed',
        requestedModel: body.model,
        needsJson: false,
        context: routeContext(req, tenantId, { user: body.user }),
        waitForRecovery: waitForRecovery(req),
      },
    );
    res.json({
      ...embeddingsObject(
        {
          request_id: routed.sub.requestId,
          model: routed.result.modelId,
          response: routed.row.response,
          input_tokens: routed.result.inputTokens,
          output_tokens: 0,
          created_at: routed.row.created_at,
        },
        body.encoding_format === 'base64' ? base64 : undefined,
      ),
      switchyard: switchyardExtension(routed),
    });
  },
};

export const embeddingRoutes = routeSpecs([embeddings]);
