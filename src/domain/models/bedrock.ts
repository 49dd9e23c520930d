/**
 * Shipped catalog entries for the `bedrock` instance (`us-east-1`). Prices are AWS's published
 * on-demand prices per million tokens in US regions; an operator's price sheet overrides them.
 *
 * Anthropic and Meta models are called through the `us.` cross-region inference profiles: Bedrock
 * serves them on demand in us-east-1 only that way, and a `us.` profile stays in US regions (a
 * `global.` one would not, so residency could not name it). From Claude Sonnet 4.5 on, Anthropic's
 * geographic profiles cost 10% over the global ones: those are the prices here.
 *
 * Capabilities follow what Converse takes from each model: `json` is declared only where a forced
 * tool (`toolChoice.tool`, our structured output) is accepted — Llama takes only `auto`.
 */
import type { z } from 'zod';
import type { ModelSchema } from '../catalog';

export const BEDROCK_MODELS: Array<z.input<typeof ModelSchema>> = [
  {
    id: 'bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0',
    provider: 'bedrock',
    model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
    inputPricePerMTok: 3.3,
    outputPricePerMTok: 16.5,
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 5,
    regions: ['US'],
    typicalLatencyMs: 2_500,
  },
  {
    id: 'bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0',
    provider: 'bedrock',
    model: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
    inputPricePerMTok: 1.1,
    outputPricePerMTok: 5.5,
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 4,
    regions: ['US'],
    typicalLatencyMs: 1_200,
  },
  {
    // Text in only, on Bedrock.
    id: 'bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0',
    provider: 'bedrock',
    model: 'us.anthropic.claude-3-5-haiku-20241022-v1:0',
    inputPricePerMTok: 0.8,
    outputPricePerMTok: 4,
    contextWindow: 200_000,
    maxOutputTokens: 8_192,
    capabilities: ['chat', 'json', 'tools'],
    qualityTier: 3,
    regions: ['US'],
    typicalLatencyMs: 1_000,
  },
  {
    id: 'bedrock/amazon.nova-pro-v1:0',
    provider: 'bedrock',
    model: 'amazon.nova-pro-v1:0',
    inputPricePerMTok: 0.8,
    outputPricePerMTok: 3.2,
    contextWindow: 300_000,
    maxOutputTokens: 5_000,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 3,
    regions: ['US'],
    typicalLatencyMs: 1_200,
  },
  {
    id: 'bedrock/amazon.nova-lite-v1:0',
    provider: 'bedrock',
    model: 'amazon.nova-lite-v1:0',
    inputPricePerMTok: 0.06,
    outputPricePerMTok: 0.24,
    contextWindow: 300_000,
    maxOutputTokens: 5_000,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 2,
    regions: ['US'],
    typicalLatencyMs: 700,
  },
  {
    // Text only.
    id: 'bedrock/amazon.nova-micro-v1:0',
    provider: 'bedrock',
    model: 'amazon.nova-micro-v1:0',
    inputPricePerMTok: 0.035,
    outputPricePerMTok: 0.14,
    contextWindow: 128_000,
    maxOutputTokens: 5_000,
    capabilities: ['chat', 'json', 'tools'],
    qualityTier: 1,
    regions: ['US'],
    typicalLatencyMs: 500,
  },
  {
    id: 'bedrock/us.meta.llama3-3-70b-instruct-v1:0',
    provider: 'bedrock',
    model: 'us.meta.llama3-3-70b-instruct-v1:0',
    inputPricePerMTok: 0.72,
    outputPricePerMTok: 0.72,
    contextWindow: 128_000,
    maxOutputTokens: 8_192,
    capabilities: ['chat', 'tools'],
    qualityTier: 3,
    regions: ['US'],
    typicalLatencyMs: 1_200,
  },
];
