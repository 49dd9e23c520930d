/**
 * `huggingface`: Hugging Face Inference Providers through the router's OpenAI-compatible route
 * (default `https://router.huggingface.co/v1`, key `HF_TOKEN`), or a self-hosted Text Generation
 * Inference endpoint's `/v1` route (the instance sets `baseUrl`). Chat only: the router's OpenAI
 * route has no embeddings, so none are declared.
 */
import type { ProviderKind } from '../kind';
import { HuggingFaceAdapter } from './adapter';

export const HF_ROUTER_URL = 'https://router.huggingface.co/v1';

export const huggingface: ProviderKind = {
  name: 'huggingface',
  label: 'Hugging Face (Inference Providers router, TGI endpoints)',
  // Tools, JSON Schema output and images as the OpenAI route carries them; a model's catalog
  // capabilities say which of them the model behind it serves.
  capabilities: { stream: true, tools: true, structuredOutput: true, vision: true, embeddings: false },
  // A private TGI endpoint may need no token; the router answers 401 without one (AuthFailed).
  keyOptional: true,
  create: (ctx) => new HuggingFaceAdapter({ ...ctx, baseURL: ctx.baseURL ?? HF_ROUTER_URL }),
};
