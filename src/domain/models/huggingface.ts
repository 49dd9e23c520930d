/**
 * Shipped catalog entries for a `huggingface` instance on the Inference Providers router. The
 * model name is the Hub repository id (it has a slash of its own: the catalog id is
 * `huggingface/<org>/<repo>`; in a URL path the model is written `<org>%2F<repo>`). The router
 * bills what the serving provider charges, passed through without markup; these are the prices
 * published for the usual provider of each model (per million tokens, US$) and an operator's
 * price sheet overrides them. Tools and JSON output only where the served model takes them.
 */
import type { z } from 'zod';
import type { ModelSchema } from '../catalog';

export const HUGGINGFACE_MODELS: Array<z.input<typeof ModelSchema>> = [
  {
    id: 'huggingface/meta-llama/Llama-3.3-70B-Instruct',
    provider: 'huggingface',
    model: 'meta-llama/Llama-3.3-70B-Instruct',
    inputPricePerMTok: 0.88,
    outputPricePerMTok: 0.88,
    contextWindow: 131_072,
    maxOutputTokens: 8_192,
    capabilities: ['chat', 'json', 'tools'],
    qualityTier: 4,
    regions: ['US'],
    typicalLatencyMs: 1_200,
  },
  {
    id: 'huggingface/meta-llama/Llama-3.1-8B-Instruct',
    provider: 'huggingface',
    model: 'meta-llama/Llama-3.1-8B-Instruct',
    inputPricePerMTok: 0.18,
    outputPricePerMTok: 0.18,
    contextWindow: 131_072,
    maxOutputTokens: 8_192,
    capabilities: ['chat', 'json', 'tools'],
    qualityTier: 2,
    regions: ['US'],
    typicalLatencyMs: 500,
  },
  {
    id: 'huggingface/Qwen/Qwen2.5-72B-Instruct',
    provider: 'huggingface',
    model: 'Qwen/Qwen2.5-72B-Instruct',
    inputPricePerMTok: 1.2,
    outputPricePerMTok: 1.2,
    contextWindow: 32_768,
    maxOutputTokens: 8_192,
    capabilities: ['chat', 'json', 'tools'],
    qualityTier: 4,
    regions: ['US'],
    typicalLatencyMs: 1_300,
  },
  {
    id: 'huggingface/deepseek-ai/DeepSeek-V3-0324',
    provider: 'huggingface',
    model: 'deepseek-ai/DeepSeek-V3-0324',
    inputPricePerMTok: 1.25,
    outputPricePerMTok: 1.25,
    contextWindow: 131_072,
    maxOutputTokens: 8_192,
    capabilities: ['chat', 'json', 'tools'],
    qualityTier: 5,
    regions: ['US'],
    typicalLatencyMs: 2_000,
  },
  {
    id: 'huggingface/google/gemma-3-27b-it',
    provider: 'huggingface',
    model: 'google/gemma-3-27b-it',
    inputPricePerMTok: 0.1,
    outputPricePerMTok: 0.3,
    contextWindow: 131_072,
    maxOutputTokens: 8_192,
    capabilities: ['chat', 'vision'],
    qualityTier: 3,
    regions: ['US'],
    typicalLatencyMs: 900,
  },
];
