import { reservationUsd } from '../../src/domain/budget';
import { costUsd } from '../../src/domain/catalog';
import { classify } from '../../src/domain/classify';
import { decide } from '../../src/domain/policy';
import { countMessageTokens, countTokens, EXACT_TOKEN_CHARS } from '../../src/domain/tokens';
import { validateConfig } from '../../src/services/configStore';
import { loadSeedPolicy, policyInput } from '../support/policy';

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

  it('counts a huge text exactly on its first part and as bytes beyond, so it never holds the event loop for long', () => {
    const unit = 'The quick brown fox jumps over the lazy dog. ';
    const huge = unit.repeat(90_000); // 4 MB
    const started = performance.now();
    const estimate = countTokens(huge);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(estimate).toBe(countTokens(huge.slice(0, EXACT_TOKEN_CHARS)) + huge.length - EXACT_TOKEN_CHARS);
    const messages = user('hello world');
    const c = classify({ operation: 'chat', messages, maxOutputTokens: 100 });
    expect(c.inputTokens).toBe(countMessageTokens(messages));
    expect(c.requiredContext).toBe(c.inputTokens + 100);
  });

  it('a huge prompt with a cheap head is never sized below its tokens: the context check and the reservation hold', () => {
    // 100,000 spaces, then 900,000 digits: at least 300,000 tokens (a digit piece is three at most).
    // The head's rate, scaled, made it about 31,000: it fit a 128,000-token window, and its budget
    // reservation was a tenth of the call's cost.
    const text = ' '.repeat(EXACT_TOKEN_CHARS) + '7'.repeat(900_000);
    const started = performance.now();
    const c = classify({ operation: 'chat', messages: user(text), maxOutputTokens: 512 });
    // The keyword rules' arithmetic pattern is linear on a run of digits (it was quadratic: hours here).
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(c.inputTokens).toBeGreaterThanOrEqual(300_000);
    const config = validateConfig(loadSeedPolicy()); // context windows of 128,000 and 200,000
    const d = decide(policyInput(), c, config);
    expect(d.candidates).toEqual([]);
    expect(d.rejected.length).toBe(config.catalog.models.filter((m) => m.capabilities.includes('chat')).length);
    expect(d.rejected.every((r) => r.filter === 'context-window')).toBe(true);
    for (const m of config.catalog.models)
      expect(reservationUsd(m, c.inputTokens, 512)).toBeGreaterThanOrEqual(costUsd(m, 300_000, 512));
  });

  it('is deterministic and explains itself', () => {
    const a = classify({ operation: 'chat', messages: user('Compare Postgres and MySQL') });
    const b = classify({ operation: 'chat', messages: user('Compare Postgres and MySQL') });
    expect(a).toEqual(b);
    expect(a.signals.join(' ')).toMatch(/analysis/);
  });
});
