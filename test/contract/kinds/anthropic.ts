/** `anthropic`: the Messages API (a forced tool for a schema, no embeddings). */
import { anthropicKeyOf, startAnthropicWire } from '../../support/fakes/anthropicWire';
import { CONTRACT_PNG_BASE64, type KindFixture } from '../fixture';

export const anthropicFixture: KindFixture = {
  kind: 'anthropic',
  start: (key) => startAnthropicWire(key),
  instance: (id, fake) => ({ id, kind: 'anthropic', baseUrl: fake.url }),
  chatModel: 'claude-sonnet-4-5',
  saw: {
    tools: (call) => (call.body?.tools ?? []).map((t: { name: string }) => t.name),
    schema: (call) =>
      call.body?.tool_choice?.type === 'tool' &&
      (call.body?.tools ?? []).some((t: { name: string }) => t.name === call.body.tool_choice.name),
    image: (call) =>
      (call.body?.messages ?? []).some(
        (m: { content: unknown }) =>
          Array.isArray(m.content) &&
          m.content.some(
            (b: { type: string; source?: { type: string; data?: string } }) =>
              b.type === 'image' && b.source?.type === 'base64' && b.source.data === CONTRACT_PNG_BASE64,
          ),
      ),
    key: (call) => anthropicKeyOf(call.headers),
  },
};
