import fc from 'fast-check';
import {
  BATCH_KINDS,
  OperationBatchOptionsSchema,
  TEXT_OPERATION_KINDS,
  type BatchOptions,
} from '../../src/domain/batch/spec';
import { classify, TASK_TYPES } from '../../src/domain/classify';
import {
  BATCHABLE_OPERATIONS,
  batchItemOptions,
  OPERATION_NAMES,
  OPERATION_SPECS,
  OperationBodySchemas,
  operationMessages,
  STRUCTURED_OPERATIONS,
  validateOutput,
  type OperationName,
  type OperationSpec,
  type StructuredOperation,
} from '../../src/domain/operations';
import { CACHE_OPERATIONS, parseCacheTtl } from '../../src/services/responseCache';
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

// The registry (`OPERATION_SPECS`) is the one place an operation is declared: these fail when an
// entry is incomplete or a list derived from it disagrees with what the entries say.
describe('the operation registry', () => {
  const context = { tenantId: 't', compliance: [], excludeProviders: [], metadata: {} };
  const plain: BatchOptions = { model: 'auto', concurrency: 1, context };
  const labelled: BatchOptions = { ...plain, intents: ['a', 'b'], types: ['PERSON'] };
  const specs: Record<OperationName, OperationSpec> = OPERATION_SPECS;
  const namesWhere = (keep: (s: OperationSpec) => boolean) => OPERATION_NAMES.filter((op) => keep(specs[op]));
  const sampleBody = (op: StructuredOperation) =>
    OperationBodySchemas[op].parse({ text: 'Ada Lovelace joined Acme Corp in London. We love it.' }) as Record<
      string,
      unknown
    >;

  it('names the operations the API serves, in the order it lists them', () => {
    expect(OPERATION_NAMES).toEqual(['intent', 'sentiment', 'entities', 'summarize', 'embed']);
    expect(Object.keys(OperationBodySchemas)).toEqual(OPERATION_NAMES);
    expect(STRUCTURED_OPERATIONS).toEqual(namesWhere((s) => s.structured !== undefined));
    expect(STRUCTURED_OPERATIONS).toEqual(['intent', 'sentiment', 'entities', 'summarize']);
  });

  it.each(OPERATION_NAMES)(
    '%s: its body takes a model (default auto) and its task type is what classify reports',
    (op) => {
      const body = specs[op].body;
      expect(Object.keys(body.shape)).toContain('model');
      expect(body.shape.model.parse(undefined)).toBe('auto');
      expect(TASK_TYPES).toContain(specs[op].taskType);
      const c = classify({ operation: op, messages: [{ role: 'user', content: 'Write a poem about SQL' }] });
      expect(c.taskType).toBe(specs[op].taskType);
      expect(c.signals).toContain(`task:${specs[op].taskType} (operation ${op})`);
    },
  );

  it('declares the task types routing saw before the registry', () => {
    expect(Object.fromEntries(OPERATION_NAMES.map((op) => [op, specs[op].taskType]))).toEqual({
      intent: 'analysis',
      sentiment: 'analysis',
      entities: 'extraction',
      summarize: 'summarization',
      embed: 'extraction',
    });
    expect(classify({ operation: 'chat', messages: [{ role: 'user', content: 'Hello there' }] }).taskType).toBe('chat');
  });

  it.each(STRUCTURED_OPERATIONS)(
    '%s: its prompt names its reply shape, which names every field of its result',
    (op) => {
      const spec = specs[op].structured!;
      const [system, user] = operationMessages(op, sampleBody(op));
      expect(system!.content).toContain(`switchyard-operation: ${op}\n`);
      expect(system!.content).toContain(`of this shape: ${spec.replyShape}`);
      for (const field of Object.keys(spec.result.shape)) expect(spec.replyShape).toContain(`"${field}"`);
      expect(user).toEqual({ role: 'user', content: sampleBody(op).text });
    },
  );

  it.each(STRUCTURED_OPERATIONS)('%s: the simulator answers its prompt with a result that passes', (op) => {
    const reply = simulatedOperationReply(operationMessages(op, sampleBody(op)));
    expect(reply).toBeDefined();
    expect(validateOutput(op, sampleBody(op), reply ?? null)).toMatchObject({ ok: true });
  });

  it('lets the cache keep chat and exactly the operations marked cacheable', () => {
    const cacheable = namesWhere((s) => s.cacheable);
    expect(CACHE_OPERATIONS).toEqual(['chat', ...cacheable]);
    expect(Object.keys(parseCacheTtl(undefined))).toEqual(['chat', ...cacheable]);
    expect(new Set(cacheable)).toEqual(new Set(['intent', 'sentiment', 'entities', 'summarize', 'embed']));
    expect(() => parseCacheTtl('chat=1,nothing=2')).toThrow(/'nothing=2'/);
  });

  it('gives batches to exactly the operations with a batch entry, each a structured one', () => {
    const batchable = namesWhere((s) => s.batch !== undefined);
    expect(TEXT_OPERATION_KINDS).toEqual(batchable);
    expect(BATCH_KINDS).toEqual([...batchable, 'openai']);
    expect(new Set(batchable)).toEqual(new Set(['summarize', 'intent', 'sentiment', 'entities']));
    for (const op of batchable) expect(STRUCTURED_OPERATIONS).toContain(op);
  });

  it.each(BATCHABLE_OPERATIONS)(
    '%s: the batch options its items carry are fields of its body and of batch options',
    (op) => {
      for (const key of specs[op].batch?.itemOptions ?? []) {
        expect(Object.keys(specs[op].body.shape)).toContain(key);
        expect(Object.keys(OperationBatchOptionsSchema.shape)).toContain(key);
      }
      expect(Object.keys(batchItemOptions(op, labelled))).toEqual(specs[op].batch?.itemOptions ?? []);
      expect(batchItemOptions(op, plain)).toEqual({});
    },
  );

  it('passes an intent batch its labels and an entities batch its types, nothing else', () => {
    expect(batchItemOptions('intent', labelled)).toEqual({ intents: ['a', 'b'] });
    expect(batchItemOptions('entities', labelled)).toEqual({ types: ['PERSON'] });
    expect(batchItemOptions('sentiment', labelled)).toEqual({});
    expect(batchItemOptions('summarize', labelled)).toEqual({});
  });
});
