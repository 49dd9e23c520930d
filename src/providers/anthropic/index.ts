/** `anthropic`: the Messages API through the official `@anthropic-ai/sdk`. */
import type { ProviderKind } from '../kind';
import { AnthropicAdapter } from './adapter';

export const anthropic: ProviderKind = {
  name: 'anthropic',
  label: 'Anthropic (Messages)',
  // Structured output through a forced tool; Anthropic has no embeddings API.
  capabilities: { stream: true, tools: true, structuredOutput: true, vision: true, embeddings: false },
  create: (ctx) =>
    new AnthropicAdapter({
      providerId: ctx.providerId,
      apiKey: ctx.apiKey ?? 'none',
      baseURL: ctx.baseURL,
      timeoutMs: ctx.timeoutMs,
      defaultHeaders: ctx.headers,
    }),
};
