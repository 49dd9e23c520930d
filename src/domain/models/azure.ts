/**
 * Shipped catalog entries for an `azure-openai` instance. The model name is the deployment name:
 * these assume deployments named after the model (Azure's default when one is created in the
 * portal); an operator whose deployments are named otherwise registers them under those names.
 * Prices are Azure's published Global Standard pay-as-you-go prices per million tokens (US$),
 * which match OpenAI's list prices; an operator's price sheet overrides them.
 *
 * Regions: US, as a resource's region is not known here; the shipped instance with
 * AZURE_OPENAI_REGION set (e.g. `westeurope`) lists them in that region's residency instead.
 */
import type { z } from 'zod';
import type { ModelSchema } from '../catalog';

export const AZURE_MODELS: Array<z.input<typeof ModelSchema>> = [
  {
    id: 'azure-openai/gpt-4o',
    provider: 'azure-openai',
    model: 'gpt-4o',
    inputPricePerMTok: 2.5,
    outputPricePerMTok: 10,
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 5,
    regions: ['US'],
    compliance: ['gdpr', 'hipaa'],
    typicalLatencyMs: 1_500,
  },
  {
    id: 'azure-openai/gpt-4o-mini',
    provider: 'azure-openai',
    model: 'gpt-4o-mini',
    inputPricePerMTok: 0.15,
    outputPricePerMTok: 0.6,
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 3,
    regions: ['US'],
    compliance: ['gdpr', 'hipaa'],
    typicalLatencyMs: 700,
  },
  {
    id: 'azure-openai/gpt-4.1',
    provider: 'azure-openai',
    model: 'gpt-4.1',
    inputPricePerMTok: 2,
    outputPricePerMTok: 8,
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 5,
    regions: ['US'],
    compliance: ['gdpr', 'hipaa'],
    typicalLatencyMs: 1_400,
  },
  {
    id: 'azure-openai/gpt-4.1-mini',
    provider: 'azure-openai',
    model: 'gpt-4.1-mini',
    inputPricePerMTok: 0.4,
    outputPricePerMTok: 1.6,
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
    capabilities: ['chat', 'json', 'tools', 'vision'],
    qualityTier: 4,
    regions: ['US'],
    compliance: ['gdpr', 'hipaa'],
    typicalLatencyMs: 800,
  },
  {
    id: 'azure-openai/text-embedding-3-small',
    provider: 'azure-openai',
    model: 'text-embedding-3-small',
    inputPricePerMTok: 0.02,
    outputPricePerMTok: 0,
    contextWindow: 8_191,
    maxOutputTokens: 1,
    capabilities: ['embeddings'],
    qualityTier: 3,
    regions: ['US'],
    compliance: ['gdpr', 'hipaa'],
    typicalLatencyMs: 200,
  },
];
