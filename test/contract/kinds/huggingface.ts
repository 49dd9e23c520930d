/** `huggingface`: the router's (or TGI's) OpenAI route with HF's own error bodies; no embeddings. */
import { openaiWireFixture } from '../../support/fakes/openaiWire';

export const huggingfaceFixture = openaiWireFixture('huggingface', {
  kind: 'huggingface',
  instance: (id, fake) => ({ id, kind: 'huggingface', baseUrl: fake.url }),
  // A repository id: the model name has a slash of its own.
  chatModel: 'meta-llama/Llama-3.3-70B-Instruct',
});
