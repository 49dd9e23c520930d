/** `openai`: OpenAI's own API (or a proxy of it) through the official `openai` SDK. */
import type { ProviderKind } from '../kind';
import { OpenAIAdapter } from './adapter';

export const openai: ProviderKind = {
  name: 'openai',
  label: 'OpenAI (Chat Completions, Embeddings)',
  capabilities: { stream: true, tools: true, structuredOutput: true, vision: true, embeddings: true },
  create: (ctx) =>
    new OpenAIAdapter({
      providerId: ctx.providerId,
      // The SDK requires a string: an instance that sends no key gets a placeholder that is no secret.
      apiKey: ctx.apiKey ?? 'none',
      baseURL: ctx.baseURL,
      timeoutMs: ctx.timeoutMs,
      defaultHeaders: ctx.headers,
      // OPENAI_ORG_ID / OPENAI_PROJECT_ID only for OpenAI's own API: a proxy or another server at the
      // instance's baseUrl does not get them (its `headers` may carry an organization on purpose).
      openaiEnvironment: ctx.baseURL === undefined,
      // A proxy or self-hosted server at baseUrl may continue a partial answer (the instance says how).
      ...(ctx.continuation && { continuation: ctx.continuation }),
    }),
};
