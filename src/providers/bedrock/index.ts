/** `bedrock`: AWS Bedrock's Converse and ConverseStream APIs through `@aws-sdk/client-bedrock-runtime`. */
import type { ProviderKind } from '../kind';
import { BedrockAdapter } from './adapter';

export const bedrock: ProviderKind = {
  name: 'bedrock',
  label: 'AWS Bedrock (Converse)',
  // Structured output through a forced tool; Converse has no embeddings (those are InvokeModel's,
  // in each model's own body format).
  capabilities: { stream: true, tools: true, structuredOutput: true, vision: true, embeddings: false },
  requires: ['region'],
  // Without a key the AWS default credential chain signs the calls.
  keyOptional: true,
  ambientCredentials: true,
  create: (ctx) =>
    new BedrockAdapter({
      providerId: ctx.providerId,
      apiKey: ctx.apiKey,
      // `requires` makes sure an instance has one; checked again for a context built by hand.
      region: ctx.region ?? missingRegion(ctx.providerId),
      ...(ctx.baseURL !== undefined && { endpoint: ctx.baseURL }),
      timeoutMs: ctx.timeoutMs,
      ...(ctx.headers && { headers: ctx.headers }),
    }),
};

function missingRegion(providerId: string): never {
  throw new Error(`provider ${providerId} is a 'bedrock' instance without a region`);
}
