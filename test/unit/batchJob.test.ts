/** The batch engine's pure pieces: ids, chunk budget, ETA, line errors, OpenAI status mapping. */
import { openaiStatus } from '../../src/domain/batch/openai';
import {
  batchRequestId,
  chunkBudget,
  DocumentSchema,
  etaSeconds,
  ItemIdSchema,
  itemWorkflowId,
  lineError,
  summaryOutputTokens,
} from '../../src/domain/batch/spec';

it('derives deterministic ids: one workflow per item, one request per (run, round, index)', () => {
  expect(itemWorkflowId('batch_1', 'doc-7')).toBe('batch-batch_1/doc-7');
  expect(batchRequestId('batch_1', 7, 2, 0, 3)).toBe('bt-batch_1-7-2-0-3');
  expect(batchRequestId('batch_1', 7, 2, 0, 3)).not.toBe(batchRequestId('batch_1', 7, 3, 0, 3));
});

it('refuses item ids that cannot name a workflow', () => {
  for (const bad of ['', 'a/b', 'has space', 'x'.repeat(129), 'tab\t'])
    expect(ItemIdSchema.safeParse(bad).success).toBe(false);
  expect(DocumentSchema.parse({ id: 42, text: 'x' }).id).toBe('42');
});

it('leaves room in the context window for the prompt and the summary', () => {
  expect(chunkBudget(16_000, 120)).toBe(16_000 - summaryOutputTokens(120) - 120);
  expect(chunkBudget(16_000, 120) + summaryOutputTokens(120)).toBeLessThan(16_000);
  // Never below a floor, however small the window.
  expect(chunkBudget(100, 2_000)).toBe(64);
});

it('estimates the time left from the rate observed since the start', () => {
  const startedAt = '2026-12-02T00:00:00.000Z';
  const now = Date.parse(startedAt) + 60_000;
  expect(etaSeconds({ done: 90, failed: 10, total: 400, startedAt, now })).toBe(180);
  expect(etaSeconds({ done: 0, failed: 0, total: 400, startedAt, now })).toBeUndefined();
  expect(etaSeconds({ done: 10, failed: 0, total: 10, startedAt: null, now })).toBeUndefined();
});

it('names the line and field of a bad JSONL line', () => {
  expect(lineError(17, ['text'], 'required')).toBe('line 17: text: required');
  expect(lineError(3, ['body', 'messages', 0, 'role'], 'invalid')).toBe('line 3: body.messages.0.role: invalid');
  expect(lineError(9, [], 'not valid JSON')).toBe('line 9: not valid JSON');
});

it("maps batch statuses to OpenAI's, with cancelling between the cancel and its end", () => {
  expect(openaiStatus('queued', false)).toBe('validating');
  expect(openaiStatus('running', false)).toBe('in_progress');
  expect(openaiStatus('waiting', false)).toBe('in_progress');
  expect(openaiStatus('running', true)).toBe('cancelling');
  expect(openaiStatus('cancelled', true)).toBe('cancelled');
  expect(openaiStatus('completed', false)).toBe('completed');
  expect(openaiStatus('failed', false)).toBe('failed');
});
