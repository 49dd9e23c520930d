/**
 * Token estimates with a real BPE tokenizer (o200k_base, the encoding of OpenAI's current models).
 * Other vendors tokenize differently; o200k is a close, deterministic estimate for routing and
 * worst-case cost. The encoder is built lazily and once: its rank table is large.
 */
import { Tiktoken } from 'js-tiktoken/lite';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { contentText, type ChatMessage } from './chat';

let encoder: Tiktoken | undefined;

function enc(): Tiktoken {
  encoder ??= new Tiktoken(o200k);
  return encoder;
}

export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  return enc().encode(text, [], []).length;
}

// OpenAI's documented per-message framing overhead for chat models.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY_PRIMER = 3;

export function countMessageTokens(messages: ChatMessage[]): number {
  let total = TOKENS_PER_REPLY_PRIMER;
  for (const m of messages) {
    total += TOKENS_PER_MESSAGE + countTokens(contentText(m.content));
    if ('name' in m && m.name) total += countTokens(m.name);
  }
  return total;
}
