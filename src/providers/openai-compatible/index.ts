/**
 * `openai-compatible`: any server speaking the OpenAI API at its own base URL with its own key
 * (vLLM, Ollama, LM Studio, Groq, Mistral, DeepSeek, Together, Fireworks, xAI, OpenRouter…).
 * Configuration only: `presets.ts` lists the usual base URLs and key variables as data.
 * A server that needs no key gets no `Authorization` header at all (not a placeholder).
 */
import type { ProviderKind } from '../kind';
import { OpenAIAdapter } from '../openai/adapter';
import { openaiClientOptions, OpenAIWireClient } from '../openai/clientOptions';

export const openaiCompatible: ProviderKind = {
  name: 'openai-compatible',
  label: 'OpenAI-compatible server (own base URL and key)',
  // What the OpenAI API carries; a server lacking one answers 400/404 and the request falls back.
  // A model's catalog capabilities say what each served model can do.
  capabilities: { stream: true, tools: true, structuredOutput: true, vision: true, embeddings: true },
  requires: ['baseUrl'],
  keyOptional: true,
  create: (ctx) =>
    new OpenAIAdapter({
      providerId: ctx.providerId,
      apiKey: ctx.apiKey ?? '',
      timeoutMs: ctx.timeoutMs,
      ...(ctx.continuation && { continuation: ctx.continuation }),
      client: new OpenAIWireClient(
        { ...openaiClientOptions(ctx), baseURL: ctx.baseURL, apiKey: ctx.apiKey ?? 'none' },
        ctx.apiKey === null,
      ),
    }),
};
