/**
 * One spelling everywhere (issue 27, item 4), the pure parts: a structured operation's result on
 * the wire (snake_case, the first spelling kept as an alias), and the lines of a route workflow's
 * details that named the same thing twice. The answers themselves: test/integration/spelling.test.ts.
 */
import { resultOnWire } from '../../src/domain/operations';
import { describeDecider, describeTask } from '../../src/domain/request';

describe('resultOnWire', () => {
  it("answers a summary's key points as key_points, keeping keyPoints as an alias", () => {
    expect(resultOnWire('summarize', { summary: 'Short.', keyPoints: ['one', 'two'] })).toEqual({
      summary: 'Short.',
      key_points: ['one', 'two'],
      keyPoints: ['one', 'two'],
    });
  });

  it('answers other results as stored', () => {
    const sentiment = { label: 'positive', scores: { positive: 0.9, negative: 0.05, neutral: 0.05 } };
    expect(resultOnWire('sentiment', sentiment)).toBe(sentiment);
    expect(resultOnWire('chat', { anything: 1 })).toEqual({ anything: 1 });
    // Not a summary's shape (an old or foreign record): as stored, never a half-renamed copy.
    expect(resultOnWire('summarize', { summary: 'no points' })).toEqual({ summary: 'no points' });
  });
});

describe("a route workflow's details", () => {
  const c = { complexity: 'simple' as const, inputTokens: 13 };

  it('names the task type only when it differs from the operation', () => {
    expect(describeTask('chat', { ...c, taskType: 'chat' })).toBe('chat, simple, 13 input tokens');
    expect(describeTask('chat', { ...c, taskType: 'code' })).toBe('chat (code), simple, 13 input tokens');
    expect(describeTask('summarize', { ...c, taskType: 'summarization' })).toBe(
      'summarize (summarization), simple, 13 input tokens',
    );
  });

  it('names the strategy once', () => {
    expect(describeDecider('strategy:cost', { configVersion: 4, strategy: 'cost' })).toBe(
      'strategy:cost (config version 4)',
    );
    expect(describeDecider('rule:maths', { configVersion: 4, strategy: 'cost' })).toBe(
      'rule:maths (config version 4, strategy cost)',
    );
    expect(describeDecider('requested', { configVersion: 1, strategy: 'quality' })).toBe(
      'requested (config version 1, strategy quality)',
    );
  });
});
