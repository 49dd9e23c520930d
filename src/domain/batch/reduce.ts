/**
 * Combining chunk summaries into one document summary, in as few calls as fit: consecutive
 * summaries are grouped while their tokens fit one call; each group is combined into one summary,
 * and the groups' summaries are combined again, until one remains. Pure (no tokenizer): the
 * workflow plans its reduce steps with it from token counts the activities measured.
 */

/** Consecutive groups of item indices, each group's tokens within `maxTokens` (an item over it stands alone). */
export function reductionGroups(tokens: number[], maxTokens: number): number[][] {
  const groups: number[][] = [];
  let current: number[] = [];
  let sum = 0;
  tokens.forEach((t, i) => {
    if (current.length && sum + t > maxTokens) {
      groups.push(current);
      current = [];
      sum = 0;
    }
    current.push(i);
    sum += t;
  });
  if (current.length) groups.push(current);
  return groups;
}

/**
 * How many combine rounds a reduction takes, given that a combined summary is at most
 * `summaryTokens` long: for planning and progress (each round at least halves the count, or it
 * cannot converge and throws).
 */
export function reductionRounds(count: number, summaryTokens: number, maxTokens: number): number {
  if (count <= 1) return 0;
  const perCall = Math.floor(maxTokens / summaryTokens);
  if (perCall < 2) throw new RangeError('a combine call must fit at least two summaries');
  let rounds = 0;
  for (let n = count; n > 1; n = Math.ceil(n / perCall)) rounds++;
  return rounds;
}
