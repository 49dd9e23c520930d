import fc from 'fast-check';
import { operationMessages, validateOutput } from '../../src/domain/operations';
import { simulatedOperationReply } from '../../src/providers/simulatedOperations';

describe('structured operation output validation', () => {
  it('accepts valid output, also wrapped in a code fence', () => {
    const reply = '```json\n{"label": "positive", "scores": {"positive": 0.9, "negative": 0.05, "neutral": 0.05}}\n```';
    expect(validateOutput('sentiment', { text: 'great' }, reply)).toMatchObject({
      ok: true,
      value: { label: 'positive' },
    });
  });

  it('rejects prose, wrong labels and out-of-range scores with the reason', () => {
    expect(validateOutput('sentiment', { text: 'x' }, 'I think it is positive')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not JSON/),
    });
    expect(
      validateOutput(
        'sentiment',
        { text: 'x' },
        '{"label": "happy", "scores": {"positive": 1, "negative": 0, "neutral": 0}}',
      ),
    ).toMatchObject({ ok: false, reason: expect.stringMatching(/^label/) });
    expect(
      validateOutput(
        'sentiment',
        { text: 'x' },
        '{"label": "positive", "scores": {"positive": 2, "negative": 0, "neutral": 0}}',
      ),
    ).toMatchObject({ ok: false, reason: expect.stringMatching(/scores\.positive/) });
  });

  it('rejects an intent outside the given list', () => {
    const body = { text: 'cancel my order', intents: ['cancel_order', 'track_order'] };
    expect(validateOutput('intent', body, '{"intent": "cancel_order", "confidence": 0.8}')).toMatchObject({ ok: true });
    expect(validateOutput('intent', body, '{"intent": "refund", "confidence": 0.8}')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/intent/),
    });
  });

  it('rejects entity spans that do not point at the entity text', () => {
    const body = { text: 'Ada Lovelace met Charles Babbage in London.' };
    expect(
      validateOutput(
        'entities',
        body,
        JSON.stringify({ entities: [{ text: 'Ada Lovelace', type: 'PERSON', start: 0, end: 12 }] }),
      ),
    ).toMatchObject({ ok: true });
    expect(
      validateOutput(
        'entities',
        body,
        JSON.stringify({ entities: [{ text: 'London', type: 'LOCATION', start: 3, end: 9 }] }),
      ),
    ).toMatchObject({ ok: false, reason: expect.stringMatching(/does not hold/) });
  });

  it('rejects a summary far over its word limit', () => {
    const long = Array.from({ length: 100 }, () => 'word').join(' ');
    expect(
      validateOutput('summarize', { text: 't', maxWords: 20 }, JSON.stringify({ summary: long, keyPoints: ['a'] })),
    ).toMatchObject({ ok: false });
  });
});

describe('the simulator answers every operation with schema-valid output', () => {
  const textArb = fc.stringMatching(/^[A-Za-z0-9 ,.!?'-]{1,300}$/).filter((t) => t.trim().length > 0);
  it.each(['sentiment', 'entities', 'summarize', 'intent'] as const)('%s', (op) => {
    fc.assert(
      fc.property(textArb, (text) => {
        const body =
          op === 'intent'
            ? { text, intents: ['buy', 'cancel', 'ask'] }
            : op === 'summarize'
              ? { text, maxWords: 30 }
              : { text };
        const reply = simulatedOperationReply(operationMessages(op, body));
        const check = validateOutput(op, body, reply ?? null);
        if (!check.ok) throw new Error(`${op} on ${JSON.stringify(text)}: ${check.reason}`);
      }),
      { numRuns: 200 },
    );
  });

  it('finds entities with exact spans', () => {
    const text = 'Ada Lovelace joined Acme Corp in London on March 3, 2024.';
    const reply = JSON.parse(simulatedOperationReply(operationMessages('entities', { text }))!);
    const types = Object.fromEntries(
      (reply.entities as Array<{ text: string; type: string }>).map((e) => [e.text, e.type]),
    );
    expect(types).toMatchObject({ 'Ada Lovelace': 'PERSON', 'Acme Corp': 'ORGANIZATION', London: 'LOCATION' });
  });
});

it('the simulator summarizes text that has no sentence (found by the property above)', () => {
  const reply = simulatedOperationReply(operationMessages('summarize', { text: '. ', maxWords: 30 }));
  expect(validateOutput('summarize', { text: '. ', maxWords: 30 }, reply ?? null)).toMatchObject({ ok: true });
});
