/** The `google` kind's contract fixture: the fake Gemini API, read in Gemini's request shape. */
import { CONTRACT_PNG_BASE64, type KindFixture, type ReceivedCall } from '../fixture';
import { startGeminiFake } from '../../support/fakes/gemini';

const partsOf = (call: ReceivedCall): any[] => (call.body?.contents ?? []).flatMap((c: any) => c.parts ?? []);

export const googleFixture: KindFixture = {
  kind: 'google',
  start: (acceptedKey) => startGeminiFake(acceptedKey),
  instance: (id, fake) => ({ id, kind: 'google', baseUrl: fake.url }),
  chatModel: 'gemini-2.5-flash',
  embedModel: 'gemini-embedding-001',
  saw: {
    tools: (call) =>
      (call.body?.tools ?? []).flatMap((t: any) => (t.functionDeclarations ?? []).map((d: any) => d.name)),
    schema: (call) => {
      const g = call.body?.generationConfig ?? {};
      return g.responseMimeType === 'application/json' && (g.responseJsonSchema ?? g.responseSchema) !== undefined;
    },
    image: (call) =>
      partsOf(call).some((p) => p.inlineData?.mimeType === 'image/png' && p.inlineData?.data === CONTRACT_PNG_BASE64),
    key: (call) => call.headers['x-goog-api-key'] as string | undefined,
  },
};
