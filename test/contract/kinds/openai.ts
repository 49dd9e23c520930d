/** `openai`: OpenAI's API (Bearer key, `/v1/chat/completions`, `/v1/embeddings`). */
import { openaiWireFixture } from '../../support/fakes/openaiWire';

export const openaiFixture = openaiWireFixture('openai', {
  kind: 'openai',
  instance: (id, fake) => ({ id, kind: 'openai', baseUrl: fake.url }),
  chatModel: 'gpt-4o-mini',
  embedModel: 'text-embedding-3-small',
});
