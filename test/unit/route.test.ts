import { CatalogSchema, costUsd, defaultCatalog, findModel } from '../../src/domain/catalog';
import { classify } from '../../src/domain/classify';
import { decide, UnknownModelError } from '../../src/domain/route';

const catalog = defaultCatalog({ openai: {}, anthropic: {}, simulated: { baseUrl: 'http://127.0.0.1:1/v1' } });
const simple = classify({ operation: 'chat', messages: [{ role: 'user', content: 'Hello' }] });
const complex = classify({ operation: 'chat', messages: [{ role: 'user', content: 'Design a system architecture step by step' }] });

describe('catalog', () => {
  it('computes cost from per-million-token prices', () => {
    expect(costUsd({ inputPricePerMTok: 2.5, outputPricePerMTok: 10 }, 1000, 500)).toBeCloseTo(0.0075, 10);
    expect(costUsd({ inputPricePerMTok: 0.15, outputPricePerMTok: 0.6 }, 7, 19)).toBe(0.00001245);
  });

  it('finds models by id or unambiguous bare name', () => {
    expect(findModel(catalog, 'openai/gpt-4o')?.id).toBe('openai/gpt-4o');
    expect(findModel(catalog, 'sim-mini')?.id).toBe('simulated/sim-mini');
    expect(findModel(catalog, 'nope')).toBeUndefined();
  });

  it('rejects an inconsistent catalog with the offending path', () => {
    const bad = CatalogSchema.safeParse({
      providers: [{ id: 'a', wireFormat: 'openai' }],
      models: [{ id: 'b/m', provider: 'b', model: 'm', inputPricePerMTok: 1, outputPricePerMTok: 1, contextWindow: 10, maxOutputTokens: 5, capabilities: ['chat'], qualityTier: 1 }],
    });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['models.0.provider']));
  });
});

describe('decide (first-cut policy)', () => {
  const base = { maxOutputTokens: 256, needsJson: false };

  it('puts an explicitly requested model first, then fallbacks from other providers', () => {
    const d = decide({ ...base, requestedModel: 'openai/gpt-4o-mini', classification: simple }, catalog);
    expect(d.candidates[0]!.modelId).toBe('openai/gpt-4o-mini');
    expect(d.candidates[0]!.reason).toMatch(/requested/);
    expect(d.candidates[1]!.provider).not.toBe('openai');
    expect(d.candidates.length).toBeLessThanOrEqual(3);
  });

  it('routes auto by complexity: cheapest for simple, highest tier for complex', () => {
    const cheap = decide({ ...base, requestedModel: 'auto', classification: simple }, catalog);
    const best = decide({ ...base, requestedModel: 'auto', classification: complex }, catalog);
    const estimates = catalog.models.filter((m) => m.capabilities.includes('chat')).map((m) => costUsd(m, simple.inputTokens, 256));
    expect(cheap.candidates[0]!.estimatedCostUsd).toBe(Math.min(...estimates));
    expect(findModel(catalog, best.candidates[0]!.modelId)!.qualityTier).toBe(5);
  });

  it('rejects models without JSON mode when JSON is needed, with a reason', () => {
    const d = decide({ ...base, needsJson: true, requestedModel: 'auto', classification: simple }, catalog);
    expect(d.candidates.every((c) => findModel(catalog, c.modelId)!.capabilities.includes('json'))).toBe(true);
    expect(d.rejected).toEqual(expect.arrayContaining([{ modelId: 'anthropic/claude-3-5-haiku-latest', reason: 'no JSON mode' }]));
  });

  it('rejects models whose context window is too small', () => {
    const big = { ...simple, inputTokens: 20_000, requiredContext: 20_256 };
    const d = decide({ ...base, requestedModel: 'auto', classification: big }, catalog);
    expect(d.candidates.map((c) => c.modelId)).not.toContain('simulated/sim-mini');
    expect(d.rejected.find((r) => r.modelId === 'simulated/sim-mini')!.reason).toMatch(/context window 16000/);
  });

  it('routes embeddings only to embedding models, and chat never to them', () => {
    const embed = decide({ ...base, capability: 'embeddings', requestedModel: 'auto', classification: simple }, catalog);
    expect(embed.candidates.map((c) => c.modelId).sort()).toEqual(['openai/text-embedding-3-small', 'simulated/sim-embed']);
    const chat = decide({ ...base, requestedModel: 'auto', classification: simple }, catalog);
    expect(chat.rejected).toEqual(expect.arrayContaining([{ modelId: 'simulated/sim-embed', reason: 'no chat capability' }]));
  });

  it('throws a typed error for an unknown model', () => {
    expect(() => decide({ ...base, requestedModel: 'gpt-9', classification: simple }, catalog)).toThrow(UnknownModelError);
  });
});
