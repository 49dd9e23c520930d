/**
 * Shipped catalog entries for the `google` kind (the Gemini API), for a provider instance with the
 * id `google`. List prices per million tokens (USD) of the paid tier as Google publishes them
 * (ai.google.dev/gemini-api/docs/pricing), for prompts up to 200k tokens: Gemini 2.5 Pro costs
 * $2.50 in and $15 out beyond that, which one flat price cannot say (import a price sheet to
 * override). Text, image and video input are priced alike; audio input costs more on Flash.
 * The Gemini API does not promise where it processes data: US unless an operator knows better.
 */
import type { z } from 'zod';
import type { ModelSchema } from '../catalog';

export const GOOGLE_MODELS: Array<z.input<typeof ModelSchema>> = [
  {
    id: 'google/gemini-2.5-pro',
    provider: 'google',
    model: 'gemini-2.5-pro',
    inputPricePerMTok: 1.25,
    outputPricePerMTok: 10,
    contextWindow: 1_048_576,
    maxOutputTokens: 65_536,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 5,
    regions: ['US'],
    // A thinking model: the answer starts after its reasoning.
    typicalLatencyMs: 4_000,
  },
  {
    id: 'google/gemini-2.5-flash',
    provider: 'google',
    model: 'gemini-2.5-flash',
    inputPricePerMTok: 0.3,
    outputPricePerMTok: 2.5,
    contextWindow: 1_048_576,
    maxOutputTokens: 65_536,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 4,
    regions: ['US'],
    typicalLatencyMs: 1_500,
  },
  {
    id: 'google/gemini-2.5-flash-lite',
    provider: 'google',
    model: 'gemini-2.5-flash-lite',
    inputPricePerMTok: 0.1,
    outputPricePerMTok: 0.4,
    contextWindow: 1_048_576,
    maxOutputTokens: 65_536,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 3,
    regions: ['US'],
    typicalLatencyMs: 700,
  },
  {
    id: 'google/gemini-embedding-001',
    provider: 'google',
    model: 'gemini-embedding-001',
    inputPricePerMTok: 0.15,
    outputPricePerMTok: 0,
    // Input limit per text; vectors of 3072 dimensions.
    contextWindow: 2_048,
    maxOutputTokens: 1,
    capabilities: ['embeddings'],
    qualityTier: 4,
    regions: ['US'],
    typicalLatencyMs: 300,
  },
];
