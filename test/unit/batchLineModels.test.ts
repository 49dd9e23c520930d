/**
 * A batch line is refused where the API refuses the same body: `model: auto` with a fallback chain
 * (`models`) is a 400 naming `body.models`, not a chain dropped without a word.
 */
import { OpenAIBatchLineSchema } from '../../src/domain/batch/spec';

const line = (body: Record<string, unknown>) => ({
  custom_id: 'a',
  method: 'POST',
  url: '/v1/chat/completions',
  body: { messages: [{ role: 'user', content: 'Hi' }], ...body },
});

it.each(['auto', 'switchyard/auto'])('model %s with models: refused, naming body.models and why', (model) => {
  const r = OpenAIBatchLineSchema.safeParse(line({ model, models: ['oa/backup'] }));
  expect(r.success).toBe(false);
  expect(r.error!.issues[0]).toMatchObject({
    path: ['body', 'models'],
    message: "'models' is a fallback chain after a named model: name one in 'model', not auto.",
  });
});

it('a named model with models, and auto without: accepted', () => {
  expect(OpenAIBatchLineSchema.safeParse(line({ model: 'oa/primary', models: ['oa/backup'] })).success).toBe(true);
  expect(OpenAIBatchLineSchema.safeParse(line({ model: 'auto' })).success).toBe(true);
});
