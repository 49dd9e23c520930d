/** `openai-compatible`: a server with its own base URL and Bearer key (Groq-like rate limits, vLLM-like answers). */
import { openaiWireFixture } from '../../support/fakes/openaiWire';

export const openaiCompatibleFixture = openaiWireFixture('compatible', {
  kind: 'openai-compatible',
  instance: (id, fake) => ({ id, kind: 'openai-compatible', baseUrl: fake.url }),
  chatModel: 'llama-3.3-70b-versatile',
  embedModel: 'nomic-embed-text',
});
