/** `azure-openai`: deployments in the path, `api-version` in the query, the `api-key` header. */
import { openaiWireFixture } from '../../support/fakes/openaiWire';

export const azureOpenaiFixture = openaiWireFixture('azure', {
  kind: 'azure-openai',
  instance: (id, fake) => ({ id, kind: 'azure-openai', baseUrl: fake.url, apiVersion: '2024-10-21' }),
  // Deployment names, as an Azure resource has them.
  chatModel: 'gpt-4o-prod',
  embedModel: 'embed-small',
});
