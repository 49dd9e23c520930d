/** `google`: the Gemini API through the official `@google/genai` client. */
import type { ProviderKind } from '../kind';
import { GoogleAdapter } from './adapter';

export const google: ProviderKind = {
  name: 'google',
  label: 'Google Gemini API (generateContent)',
  // Native JSON Schema output (responseJsonSchema), images inline or by https URL, embedContent.
  capabilities: { stream: true, tools: true, structuredOutput: true, vision: true, embeddings: true },
  create: (ctx) =>
    new GoogleAdapter({
      providerId: ctx.providerId,
      apiKey: ctx.apiKey ?? 'missing-key',
      ...(ctx.baseURL !== undefined && { baseURL: ctx.baseURL }),
      ...(ctx.apiVersion !== undefined && { apiVersion: ctx.apiVersion }),
      ...(ctx.headers && { headers: ctx.headers }),
      timeoutMs: ctx.timeoutMs,
    }),
};
