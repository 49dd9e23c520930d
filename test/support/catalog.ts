/**
 * The chat model of the unit tests' catalogs (prices 1 and 2 $/MTok, 8k context, 1k output, tier
 * 3): tests override what they test. `fakeModel` (./stack.ts) is the integration stack's.
 */
export function unitModel(provider: string, model: string, overrides: Record<string, unknown> = {}) {
  return {
    id: `${provider}/${model}`,
    provider,
    model,
    inputPricePerMTok: 1,
    outputPricePerMTok: 2,
    contextWindow: 8_000,
    maxOutputTokens: 1_000,
    capabilities: ['chat'],
    qualityTier: 3,
    ...overrides,
  };
}
