/**
 * Documented configurations for common OpenAI-compatible servers: data only. The
 * `openai-compatible` kind never reads this file; an operator copies the entry into the catalog
 * (`catalogEntryOf` builds it) and every behaviour comes from that configuration.
 */
import type { z } from 'zod';
import type { ProviderSchema } from '../../domain/catalog';

export interface OpenAICompatiblePreset {
  /** A catalog provider id for it. */
  id: string;
  label: string;
  /** The server's OpenAI-compatible base URL (the part before `/chat/completions`). */
  baseUrl: string;
  /** The environment variable its key usually lives in; absent: a local server that needs none. */
  keyEnv?: string;
  /** A model id the server knows, as its API names it. */
  exampleModel: string;
}

export const OPENAI_COMPATIBLE_PRESETS: readonly OpenAICompatiblePreset[] = [
  { id: 'ollama', label: 'Ollama (local)', baseUrl: 'http://localhost:11434/v1', exampleModel: 'llama3.2' },
  {
    id: 'vllm',
    label: 'vLLM (self-hosted; add apiKey if started with --api-key)',
    baseUrl: 'http://localhost:8000/v1',
    exampleModel: 'meta-llama/Llama-3.1-8B-Instruct',
  },
  {
    id: 'lm-studio',
    label: 'LM Studio (local)',
    baseUrl: 'http://localhost:1234/v1',
    exampleModel: 'qwen2.5-7b-instruct',
  },
  {
    id: 'groq',
    label: 'Groq',
    baseUrl: 'https://api.groq.com/openai/v1',
    keyEnv: 'GROQ_API_KEY',
    exampleModel: 'llama-3.3-70b-versatile',
  },
  {
    id: 'mistral',
    label: 'Mistral AI',
    baseUrl: 'https://api.mistral.ai/v1',
    keyEnv: 'MISTRAL_API_KEY',
    exampleModel: 'mistral-large-latest',
  },
  {
    id: 'deepseek',
    label: 'DeepSeek',
    baseUrl: 'https://api.deepseek.com/v1',
    keyEnv: 'DEEPSEEK_API_KEY',
    exampleModel: 'deepseek-chat',
  },
  {
    id: 'together',
    label: 'Together AI',
    baseUrl: 'https://api.together.xyz/v1',
    keyEnv: 'TOGETHER_API_KEY',
    exampleModel: 'meta-llama/Llama-3.3-70B-Instruct-Turbo',
  },
  {
    id: 'fireworks',
    label: 'Fireworks AI',
    baseUrl: 'https://api.fireworks.ai/inference/v1',
    keyEnv: 'FIREWORKS_API_KEY',
    exampleModel: 'accounts/fireworks/models/llama-v3p3-70b-instruct',
  },
  { id: 'xai', label: 'xAI', baseUrl: 'https://api.x.ai/v1', keyEnv: 'XAI_API_KEY', exampleModel: 'grok-3-mini' },
  {
    id: 'openrouter',
    label: 'OpenRouter',
    baseUrl: 'https://openrouter.ai/api/v1',
    keyEnv: 'OPENROUTER_API_KEY',
    exampleModel: 'openai/gpt-4o-mini',
  },
];

/** The catalog provider entry a preset documents. */
export function catalogEntryOf(p: OpenAICompatiblePreset): z.input<typeof ProviderSchema> {
  return {
    id: p.id,
    kind: 'openai-compatible',
    baseUrl: p.baseUrl,
    ...(p.keyEnv && { apiKey: { env: p.keyEnv } }),
  };
}
