/**
 * The classifier against a labelled set (test/fixtures/classifier-prompts.json): reports accuracy
 * for task type and complexity, and fails below 85%.
 */
import prompts from '../fixtures/classifier-prompts.json';
import { classify } from '../../src/domain/classify';

interface Labelled {
  prompt: string;
  taskType: string;
  complexity: string;
}

const THRESHOLD = 0.85;

describe('classifier accuracy on the labelled set', () => {
  const set = prompts as Labelled[];
  const results = set.map((p) => ({
    ...p,
    got: classify({ operation: 'chat', messages: [{ role: 'user', content: p.prompt }] }),
  }));

  it('has at least 80 labelled prompts covering every task type', () => {
    expect(set.length).toBeGreaterThanOrEqual(80);
    expect(new Set(set.map((p) => p.taskType))).toEqual(
      new Set(['code', 'math', 'summarization', 'extraction', 'analysis', 'writing', 'chat']),
    );
  });

  it.each(['taskType', 'complexity'] as const)(`classifies %s with at least ${THRESHOLD * 100}% accuracy`, (field) => {
    const wrong = results.filter((r) => r.got[field] !== r[field]);
    const accuracy = 1 - wrong.length / results.length;
    process.stdout.write(
      `classifier ${field} accuracy: ${(accuracy * 100).toFixed(1)}% (${results.length - wrong.length}/${results.length})\n`,
    );
    if (accuracy < THRESHOLD) {
      throw new Error(
        `${field} accuracy ${(accuracy * 100).toFixed(1)}% < ${THRESHOLD * 100}%; misses:\n${wrong.map((w) => `  "${w.prompt}" → ${w.got[field]} (expected ${w[field]})`).join('\n')}`,
      );
    }
  });
});
