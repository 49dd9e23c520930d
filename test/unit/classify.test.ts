import { classify } from '../../src/domain/classify';
import { countMessageTokens, countTokens } from '../../src/domain/tokens';

const user = (content: string) => [{ role: 'user' as const, content }];

describe('classify', () => {
  it('detects task types from the last user message', () => {
    expect(
      classify({ operation: 'chat', messages: user('Refactor this TypeScript function to be async') }).taskType,
    ).toBe('code');
    expect(classify({ operation: 'chat', messages: user('Solve the equation 3x + 5 = 20') }).taskType).toBe('math');
    expect(classify({ operation: 'chat', messages: user('Summarize this article in three key points') }).taskType).toBe(
      'summarization',
    );
    expect(classify({ operation: 'chat', messages: user('Write a short poem about rain') }).taskType).toBe('writing');
    expect(classify({ operation: 'chat', messages: user('Hello there, how are you?') }).taskType).toBe('chat');
  });

  it('grades complexity by size and wording', () => {
    expect(classify({ operation: 'chat', messages: user('Hi') }).complexity).toBe('simple');
    const long = 'Explain the history of the printing press. '.repeat(300);
    expect(classify({ operation: 'chat', messages: user(long) }).complexity).toBe('complex');
    expect(
      classify({ operation: 'chat', messages: user('Design a distributed cache architecture step by step') })
        .complexity,
    ).toBe('complex');
  });

  it('counts tokens with a real tokenizer and sizes the needed context', () => {
    expect(countTokens('hello world')).toBe(2);
  });

  it('counts a run without whitespace in 32-character pieces (BPE is quadratic in a run)', () => {
    expect(countTokens('x'.repeat(100_000))).toBe(3_125 * countTokens('x'.repeat(32)));
    expect(countTokens('see https://example.com/a/b?c=d for more')).toBeGreaterThan(5);
  });

  it('counts a huge text on its first part, scaled, so it never holds the event loop for long', () => {
    const unit = 'The quick brown fox jumps over the lazy dog. ';
    const exact = countTokens(unit.repeat(2_000)); // 90,000 characters: counted exactly
    const huge = unit.repeat(90_000); // 4 MB
    const estimate = countTokens(huge);
    expect(estimate / (exact * 45)).toBeGreaterThan(0.98);
    expect(estimate / (exact * 45)).toBeLessThan(1.02);
    const messages = user('hello world');
    const c = classify({ operation: 'chat', messages, maxOutputTokens: 100 });
    expect(c.inputTokens).toBe(countMessageTokens(messages));
    expect(c.requiredContext).toBe(c.inputTokens + 100);
  });

  it('is deterministic and explains itself', () => {
    const a = classify({ operation: 'chat', messages: user('Compare Postgres and MySQL') });
    const b = classify({ operation: 'chat', messages: user('Compare Postgres and MySQL') });
    expect(a).toEqual(b);
    expect(a.signals.join(' ')).toMatch(/analysis/);
  });
});
