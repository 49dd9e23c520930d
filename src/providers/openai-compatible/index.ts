/**
 * `openai-compatible`: any server speaking the OpenAI API at its own base URL with its own key
 * (vLLM, Ollama, LM Studio, Groq, Mistral, DeepSeek, Together, Fireworks, xAI, OpenRouter…).
 * Configuration only: `presets.ts` lists the usual base URLs and key variables as data.
 * A server that needs no key gets no `Authorization` header at all (not a placeholder).
 */
import OpenAI from 'openai';
import type { FinalRequestOptions } from 'openai/internal/request-options';
import type { ProviderKind } from '../kind';
import { OpenAIAdapter } from '../openai/adapter';

/** An OpenAI client that sends no credentials (a local server without keys). */
class KeylessOpenAI extends OpenAI {
  protected override authHeaders(_opts: FinalRequestOptions): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

export const openaiCompatible: ProviderKind = {
  name: 'openai-compatible',
  label: 'OpenAI-compatible server (own base URL and key)',
  // What the OpenAI API carries; a server lacking one answers 400/404 and the request falls back.
  // A model's catalog capabilities say what each served model can do.
  capabilities: { stream: true, tools: true, structuredOutput: true, vision: true, embeddings: true },
  requires: ['baseUrl'],
  keyOptional: true,
  create: (ctx) => {
    const options = {
      baseURL: ctx.baseURL,
      // Not OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment: another server has no business with them.
      organization: null,
      project: null,
      maxRetries: 0,
      timeout: ctx.timeoutMs,
      ...(ctx.headers && { defaultHeaders: ctx.headers }),
    };
    return new OpenAIAdapter({
      providerId: ctx.providerId,
      apiKey: ctx.apiKey ?? '',
      timeoutMs: ctx.timeoutMs,
      client:
        ctx.apiKey === null
          ? new KeylessOpenAI({ ...options, apiKey: 'none' })
          : new OpenAI({ ...options, apiKey: ctx.apiKey }),
    });
  },
};
