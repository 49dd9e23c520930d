/** One contract fixture per registered provider kind (the suite fails for a kind without one). */
import type { KindFixture } from '../fixture';
import { anthropicFixture } from './anthropic';
import { azureOpenaiFixture } from './azure-openai';
import { bedrockFixture } from './bedrock';
import { huggingfaceFixture } from './huggingface';
import { openaiFixture } from './openai';
import { openaiCompatibleFixture } from './openai-compatible';
import { googleFixture } from './google';

export const FIXTURES: Record<string, KindFixture> = {
  openai: openaiFixture,
  anthropic: anthropicFixture,
  'azure-openai': azureOpenaiFixture,
  'openai-compatible': openaiCompatibleFixture,
  huggingface: huggingfaceFixture,
  bedrock: bedrockFixture,
  google: googleFixture,
};
