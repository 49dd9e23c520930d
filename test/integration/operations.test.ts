/**
 * The operations API over real HTTP: typed results, validated output, and escalation to a
 * stronger model when a model's structured output fails its schema.
 */
import { recordHistory } from '../support/histories';
import { CatalogSchema } from '../../src/domain/catalog';
import { fakeCatalogProviders, useTestStack, FAST_RETRIES } from '../support/stack';

const stack = useTestStack(
  {
    catalog: (f) =>
      CatalogSchema.parse({
        providers: fakeCatalogProviders(f),
        models: [
          {
            id: 'oa/cheap',
            provider: 'oa',
            model: 'cheap',
            inputPricePerMTok: 0.1,
            outputPricePerMTok: 0.4,
            contextWindow: 16_000,
            maxOutputTokens: 2_000,
            capabilities: ['chat', 'json'],
            qualityTier: 1,
          },
          {
            id: 'an/mid',
            provider: 'an',
            model: 'mid',
            inputPricePerMTok: 1,
            outputPricePerMTok: 4,
            contextWindow: 200_000,
            maxOutputTokens: 4_000,
            capabilities: ['chat'],
            qualityTier: 3,
          },
          {
            id: 'oa/best',
            provider: 'oa',
            model: 'best',
            inputPricePerMTok: 3,
            outputPricePerMTok: 12,
            contextWindow: 200_000,
            maxOutputTokens: 4_000,
            capabilities: ['chat', 'json'],
            qualityTier: 5,
          },
          {
            id: 'oa/embed',
            provider: 'oa',
            model: 'embed',
            inputPricePerMTok: 0.02,
            outputPricePerMTok: 0,
            contextWindow: 8_000,
            maxOutputTokens: 1,
            capabilities: ['embeddings'],
            qualityTier: 3,
          },
        ],
      }),
    config: {
      retry: FAST_RETRIES,
      fallback: { maxEscalations: 1 },
    },
  },
  { resetFakes: true },
);

const SENTIMENT = '{"label": "negative", "scores": {"positive": 0.05, "negative": 0.9, "neutral": 0.05}}';

it('returns a typed, validated sentiment', async () => {
  stack.fakes.openai.setDefault('cheap', { kind: 'ok', content: SENTIMENT });
  const res = await stack.post('/operations/sentiment', { text: 'The delivery was late and the box was broken.' });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({
    object: 'operation.sentiment',
    model: 'oa/cheap',
    result: { label: 'negative', scores: { negative: 0.9 } },
  });
  // The structured prompt asked for JSON mode where the model has it.
  expect(stack.fakes.openai.calls[0]!.body.response_format).toEqual({ type: 'json_object' });
});

it('escalates invalid output to a stronger model, and the attempt list says why', async () => {
  stack.fakes.openai.setDefault('cheap', {
    kind: 'ok',
    content: '{"label": "furious", "scores": {"positive": 0, "negative": 1, "neutral": 0}}',
  });
  stack.fakes.anthropic.setDefault('mid', {
    kind: 'ok',
    content: `Sure! Here it is:\n\`\`\`json\n${SENTIMENT}\n\`\`\``,
  });
  const res = await stack.post('/operations/sentiment', { text: 'Terrible.' });
  expect(res.status).toBe(200);
  expect(res.body.model).toBe('an/mid');
  const attempts = res.body.switchyard.attempts as Array<{
    model: string;
    outcome: string;
    errorType?: string;
    errorMessage?: string;
    costUsd?: number;
  }>;
  expect(attempts.map((a) => [a.model, a.outcome, a.errorType])).toEqual([
    ['cheap', 'error', 'InvalidOutput'],
    ['mid', 'success', undefined],
  ]);
  expect(attempts[0]!.errorMessage).toMatch(/label/);
  // Invalid output is not retried on the same model, and it is still paid for.
  expect(stack.fakes.openai.callsFor('cheap')).toHaveLength(1);
  expect(attempts[0]!.costUsd).toBeGreaterThan(0);
  expect(res.body.switchyard.cost_usd).toBeCloseTo(attempts[0]!.costUsd! + attempts[1]!.costUsd!, 10);
  expect(res.body.switchyard.candidates[0].action).toMatch(/escalate/);
  await recordHistory('route-escalation', stack.env.client.workflow.getHandle(res.body.switchyard.workflow_id));
});

it('stops with 502 when output stays invalid past the escalation limit', async () => {
  stack.fakes.openai.setDefault('cheap', { kind: 'ok', content: 'positive' });
  stack.fakes.anthropic.setDefault('mid', { kind: 'ok', content: '{"label": "meh"}' });
  const res = await stack.post('/operations/sentiment', { text: 'Fine.' });
  expect(res.status).toBe(502);
  expect(res.body.error.code).toBe('EscalationsExhausted');
  expect(stack.fakes.openai.callsFor('best')).toHaveLength(0);
});

it('validates entity spans against the input', async () => {
  const text = 'Grace Hopper worked at Harvard.';
  stack.fakes.openai.setDefault('cheap', {
    kind: 'ok',
    content: JSON.stringify({ entities: [{ text: 'Harvard', type: 'ORGANIZATION', start: 0, end: 7 }] }),
  });
  stack.fakes.anthropic.setDefault('mid', {
    kind: 'ok',
    content: JSON.stringify({
      entities: [
        { text: 'Grace Hopper', type: 'PERSON', start: 0, end: 12 },
        { text: 'Harvard', type: 'ORGANIZATION', start: 23, end: 30 },
      ],
    }),
  });
  const res = await stack.post('/operations/entities', { text });
  expect(res.status).toBe(200);
  expect(res.body.model).toBe('an/mid');
  expect(res.body.result.entities).toHaveLength(2);
});

it('returns intent with confidence and alternatives, and a summary with key points', async () => {
  stack.fakes.openai.script('cheap', {
    kind: 'ok',
    content:
      '{"intent": "cancel_order", "confidence": 0.82, "alternatives": [{"intent": "track_order", "confidence": 0.1}]}',
  });
  const intent = await stack.post('/operations/intent', {
    text: 'Please cancel my order',
    intents: ['cancel_order', 'track_order'],
  });
  expect(intent.body.result).toEqual({
    intent: 'cancel_order',
    confidence: 0.82,
    alternatives: [{ intent: 'track_order', confidence: 0.1 }],
  });
  stack.fakes.openai.script('cheap', { kind: 'ok', content: '{"summary": "Short.", "keyPoints": ["one", "two"]}' });
  const summary = await stack.post('/operations/summarize', { text: 'A long text.', maxWords: 30 });
  // snake_case on the wire, as its batch results; `keyPoints` kept as a deprecated alias.
  expect(summary.body.result).toEqual({ summary: 'Short.', key_points: ['one', 'two'], keyPoints: ['one', 'two'] });
});

it('routes embeddings to an embedding model and returns vectors with dimensions', async () => {
  const res = await stack.post('/operations/embed', { input: ['a', 'b'] });
  expect(res.status).toBe(200);
  expect(res.body.model).toBe('oa/embed');
  expect(res.body.result.dimensions).toBeGreaterThan(0);
  expect(res.body.result.embeddings).toHaveLength(2);
});

it('rejects bad operation input with the field path, and unknown operations with 404', async () => {
  const bad = await stack.post('/operations/intent', { text: 'x', intents: ['only-one'] });
  expect(bad.status).toBe(400);
  expect(bad.body.error.param).toBe('intents');
  const unknown = await stack.post('/operations/translate', { text: 'x' });
  expect(unknown.status).toBe(404);
  expect(stack.fakes.openai.calls).toHaveLength(0);
});
