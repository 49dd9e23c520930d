import { continuationCap } from '../../activities/providerCall';
import { countTokens } from '../../src/domain/tokens';

describe("continuationCap: a continuation's output cap (issue 29)", () => {
  it("is the client's cap less the tokens the client already holds", () => {
    const held = 'one two three four';
    expect(continuationCap(10, held)).toBe(10 - countTokens(held));
  });

  it('is zero or less when the client holds the whole cap (the call then ends as length)', () => {
    expect(continuationCap(countTokens('one two three four'), 'one two three four')).toBe(0);
    expect(continuationCap(2, 'one two three four')).toBeLessThan(0);
  });

  it('without a cap there is nothing to reduce', () => {
    expect(continuationCap(undefined, 'one two three four')).toBeUndefined();
  });
});
