/** `bedrock`: Converse (bearer API key, a forced tool for a schema, images as bytes, no embeddings). */
import { startBedrockFake } from '../../support/fakes/bedrock';
import { CONTRACT_PNG_BASE64, type KindFixture } from '../fixture';

export const bedrockFixture: KindFixture = {
  kind: 'bedrock',
  start: (key) => startBedrockFake(key),
  instance: (id, fake) => ({ id, kind: 'bedrock', baseUrl: fake.url, region: 'us-east-1' }),
  // A real Bedrock id: dots and a colon, in the catalog id and (encoded) in the URL.
  chatModel: 'anthropic.claude-3-5-haiku-20241022-v1:0',
  saw: {
    tools: (call) =>
      (call.body?.toolConfig?.tools ?? []).flatMap((t: { toolSpec?: { name: string } }) =>
        t.toolSpec ? [t.toolSpec.name] : [],
      ),
    schema: (call) => {
      const forced: string | undefined = call.body?.toolConfig?.toolChoice?.tool?.name;
      return (
        forced !== undefined &&
        (call.body.toolConfig.tools ?? []).some((t: { toolSpec?: { name: string } }) => t.toolSpec?.name === forced)
      );
    },
    // Image bytes travel base64 in Converse's JSON.
    image: (call) =>
      (call.body?.messages ?? []).some(
        (m: { content?: Array<{ image?: { format: string; source: { bytes?: string } } }> }) =>
          (m.content ?? []).some((b) => b.image?.format === 'png' && b.image.source.bytes === CONTRACT_PNG_BASE64),
      ),
    key: (call) => call.headers.authorization?.replace(/^Bearer\s+/i, ''),
  },
};
