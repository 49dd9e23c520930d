/**
 * Classifies a request before routing: what kind of task it is, how hard, how large.
 * Pure and deterministic (same messages → same classification), so a decision can be replayed.
 * Keyword rules are a transparent first cut; every rule that fired is listed in `signals`.
 */
import { z } from 'zod';
import { contentText, type ChatMessage } from './chat';
import { DEFAULT_OUTPUT_TOKENS } from './limits';
import { taskTypeOf } from './operations';
import { countMessageTokens } from './tokens';

export const TASK_TYPES = ['code', 'math', 'summarization', 'extraction', 'analysis', 'writing', 'chat'] as const;
export const COMPLEXITIES = ['simple', 'medium', 'complex'] as const;

export const ClassificationSchema = z.object({
  operation: z.string(),
  taskType: z.enum(TASK_TYPES),
  complexity: z.enum(COMPLEXITIES),
  inputTokens: z.number().int().nonnegative(),
  /** Input tokens plus the output cap: the context window a model needs. */
  requiredContext: z.number().int().nonnegative(),
  signals: z.array(z.string()),
});
export type Classification = z.infer<typeof ClassificationSchema>;
export type TaskType = (typeof TASK_TYPES)[number];

// Checked in order; the first task type with a match wins.
const TASK_RULES: Array<[TaskType, RegExp]> = [
  [
    'code',
    /```|\b(function|class|def|compile|refactor|typescript|javascript|python|java|golang|rust|sql|regex|bug|stack trace|unit test|api endpoint)\b/i,
  ],
  [
    'math',
    /\b(solve|equation|integral|derivative|calculate|probability|theorem|prove|algebra|matrix|arithmetic)\b|\d+\s*[+\-*/^]\s*\d+/i,
  ],
  ['summarization', /\b(summari[sz]e|summary|tl;?dr|key points|condense|recap)\b/i],
  ['extraction', /\b(extract|list all|find all|pull out|parse|named entities|fields? from)\b/i],
  ['analysis', /\b(analy[sz]e|compare|evaluate|assess|pros and cons|trade-?offs?|why does|explain why|critique)\b/i],
  ['writing', /\b(write|draft|compose|essay|story|poem|email|letter|blog post|rewrite|translate)\b/i],
];

const COMPLEX_HINTS =
  /\b(step[- ]by[- ]step|in detail|comprehensive|thorough|architecture|design a|prove|multi-step|optimi[sz]e)\b/gi;

export interface ClassifyInput {
  operation: string;
  messages: ChatMessage[];
  maxOutputTokens?: number;
}

export { DEFAULT_OUTPUT_TOKENS } from './limits';

export function classify(input: ClassifyInput): Classification {
  const signals: string[] = [];
  const lastUser = [...input.messages].reverse().find((m) => m.role === 'user');
  const text = lastUser ? contentText(lastUser.content) : '';

  // Operations declare their task type (the registry); only chat is inferred from the text.
  const declared = taskTypeOf(input.operation);
  let taskType: TaskType = declared ?? 'chat';
  if (declared) signals.push(`task:${taskType} (operation ${input.operation})`);
  else
    for (const [type, pattern] of TASK_RULES) {
      const match = pattern.exec(text);
      if (match) {
        taskType = type;
        signals.push(`task:${type} (matched "${match[0].trim().slice(0, 24)}")`);
        break;
      }
    }

  const inputTokens = countMessageTokens(input.messages);
  let score = 0;
  if (inputTokens > 2000) {
    score += 2;
    signals.push(`size:${inputTokens} tokens > 2000`);
  } else if (inputTokens > 300) {
    score += 1;
    signals.push(`size:${inputTokens} tokens > 300`);
  }
  const hints = [...new Set((text.match(COMPLEX_HINTS) ?? []).map((h) => h.toLowerCase()))];
  if (hints.length) {
    score += Math.min(2, hints.length);
    signals.push(`hint:complex wording (${hints.join(', ')})`);
  }
  if (input.operation === 'chat' && (taskType === 'code' || taskType === 'math' || taskType === 'analysis')) score += 1;
  const complexity = score >= 2 ? 'complex' : score === 1 ? 'medium' : 'simple';

  return {
    operation: input.operation,
    taskType,
    complexity,
    inputTokens,
    requiredContext: inputTokens + (input.maxOutputTokens ?? DEFAULT_OUTPUT_TOKENS),
    signals,
  };
}
