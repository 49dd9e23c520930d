/**
 * `azure-openai`: Azure OpenAI through the `openai` package's own `AzureOpenAI` client. The
 * instance's `baseUrl` is the resource endpoint (`https://<resource>.openai.azure.com`), its
 * `apiVersion` the `api-version` every call carries; a catalog model's name is the deployment
 * name (the client puts it in the path: `/openai/deployments/{deployment}/chat/completions`).
 */
import type { ProviderKind } from '../kind';
import { AzureOpenAIAdapter } from './adapter';

export const azureOpenai: ProviderKind = {
  name: 'azure-openai',
  label: 'Azure OpenAI (deployments, Chat Completions, Embeddings)',
  capabilities: { stream: true, tools: true, structuredOutput: true, vision: true, embeddings: true },
  requires: ['baseUrl', 'apiVersion'],
  create: (ctx) => new AzureOpenAIAdapter(ctx),
};
