/**
 * Classifies a request before routing: what kind of task it is, how hard, how large.
 * Pure and deterministic (same messages and classifier version → same classification), so a
 * decision can be replayed. With a trained classifier (`src/domain/classifier`), the task type
 * (for chat; an operation declares its own) and the complexity come from its prediction, and the
 * classification records its version, confidences, complexity probabilities and the features that
 * decided. Without one, keyword rules decide (version `rules-1`); every rule that fired is listed
 * in `signals`. The size signals (input tokens, the context a model needs) are counted either way.
 */
import { z } from 'zod';
import { contentText, type ChatMessage } from './chat';
import { DEFAULT_OUTPUT_TOKENS } from './limits';
import { taskTypeOf } from './operations';
import { countMessageTokens } from './tokens';

export const TASK_TYPES = ['code', 'math', 'summarization', 'extraction', 'analysis', 'writing', 'chat'] as const;
export const COMPLEXITIES = ['simple', 'medium', 'complex'] as const;

/** The keyword rules below, as a classifier version (records from before versions were kept are this). */
export const RULES_VERSION = 'rules-1';

/** The trained classifier's own reading, kept when a configured model (`llm:<model>`) decided instead. */
export const TrainedReadingSchema = z.object({
  version: z.string(),
  taskType: z.enum(TASK_TYPES),
  complexity: z.enum(COMPLEXITIES),
  taskConfidence: z.number().min(0).max(1),
  complexityConfidence: z.number().min(0).max(1),
  complexityProbs: z.record(z.enum(COMPLEXITIES), z.number().min(0).max(1)),
  features: z.array(z.string()),
});

/**
 * A configured model asked to classify a low-confidence prompt (`routing.classifier.llm`): which
 * model, the threshold, what came of it (`answered` or `cached`: its label decided; otherwise why
 * the trained result stands), and the classification request of its own, with its cost.
 */
export const LlmClassifierRecordSchema = z.object({
  model: z.string(),
  belowConfidence: z.number().min(0).max(1),
  outcome: z.enum(['answered', 'cached', 'timeout', 'failed', 'invalid', 'unavailable', 'not-asked']),
  requestId: z.string().optional(),
  note: z.string().optional(),
});
export type LlmClassifierRecord = z.infer<typeof LlmClassifierRecordSchema>;

/** What decided the task type and complexity: the classifier's version and its evidence. */
export const ClassifierRecordSchema = z.object({
  version: z.string(),
  /** Calibrated probability of the task type (1 for an operation's declared type, and for the rules). */
  taskConfidence: z.number().min(0).max(1),
  complexityConfidence: z.number().min(0).max(1),
  /** Calibrated, summing to 1; one-hot for the rules. The dial reads these. */
  complexityProbs: z.record(z.enum(COMPLEXITIES), z.number().min(0).max(1)),
  /** The top features behind each label, e.g. `task:w:prove`, `complexity:c:tegr`. */
  features: z.array(z.string()),
  /** `llm:<model>` decided: the trained classifier's reading it replaced. */
  trained: TrainedReadingSchema.optional(),
  /** A configured model was asked (or would have been): see `LlmClassifierRecordSchema`. */
  llm: LlmClassifierRecordSchema.optional(),
});
export type ClassifierRecord = z.infer<typeof ClassifierRecordSchema>;

export const ClassificationSchema = z.object({
  operation: z.string(),
  taskType: z.enum(TASK_TYPES),
  complexity: z.enum(COMPLEXITIES),
  inputTokens: z.number().int().nonnegative(),
  /** Input tokens plus the output cap: the context window a model needs. */
  requiredContext: z.number().int().nonnegative(),
  signals: z.array(z.string()),
  /** Absent in records from before classifier versions were kept: those are `rules-1`. */
  classifier: ClassifierRecordSchema.optional(),
});
export type Classification = z.infer<typeof ClassificationSchema>;
export type TaskType = (typeof TASK_TYPES)[number];
export type Complexity = (typeof COMPLEXITIES)[number];

/** One head's prediction (the shape of `src/domain/classifier/model.ts`'s `HeadPrediction`). */
export interface HeadPredictionOf<L extends string> {
  label: L;
  confidence: number;
  probs: Record<L, number>;
  features: string[];
}

/**
 * A trained classifier, ready to predict: a loaded model and its `predict`, bound together (the
 * worker builds it from `src/services/classifierModels.ts`; this file stays free of model files).
 */
export interface Classifier {
  version: string;
  predict(text: string): {
    version: string;
    taskType: HeadPredictionOf<TaskType>;
    complexity: HeadPredictionOf<Complexity>;
  };
}

// Checked in order; the first task type with a match wins.
const TASK_RULES: Array<[TaskType, RegExp]> = [
  [
    'code',
    /```|\b(function|class|def|compile|refactor|typescript|javascript|python|java|golang|rust|sql|regex|bug|stack trace|unit test|api endpoint)\b/i,
  ],
  [
    'math',
    // `(?<!\d)`: a run of digits is tried from its first digit only (tried from each, 20,000 digits took 2 s).
    /\b(solve|equation|integral|derivative|calculate|probability|theorem|prove|algebra|matrix|arithmetic)\b|(?<!\d)\d+\s*[+\-*/^]\s*\d+/i,
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

export function classify(input: ClassifyInput, classifier?: Classifier): Classification {
  // An operation (sentiment, summarize…) declares its task, and its text is the data to process,
  // not a request written to a model: the trained model, learned from such requests, would read
  // the data's wording as the ask (a short review came out "medium"). Its size decides, as before.
  const declared = taskTypeOf(input.operation);
  if (!classifier || declared) return classifyByRules(input);
  const text = lastUserText(input.messages);
  const p = classifier.predict(text);
  const taskType: TaskType = p.taskType.label;
  const inputTokens = countMessageTokens(input.messages);
  const complexityProbs = Object.fromEntries(COMPLEXITIES.map((k) => [k, round4(p.complexity.probs[k] ?? 0)]));
  return {
    operation: input.operation,
    taskType,
    complexity: p.complexity.label,
    inputTokens,
    requiredContext: inputTokens + (input.maxOutputTokens ?? DEFAULT_OUTPUT_TOKENS),
    signals: [
      `task:${taskType} (${p.version}, confidence ${p.taskType.confidence.toFixed(2)})`,
      `complexity:${p.complexity.label} (${p.version}, confidence ${p.complexity.confidence.toFixed(2)})`,
      `size:${inputTokens} tokens`,
    ],
    classifier: {
      version: p.version,
      taskConfidence: round4(p.taskType.confidence),
      complexityConfidence: round4(p.complexity.confidence),
      complexityProbs: complexityProbs as Record<Complexity, number>,
      features: [
        ...p.taskType.features.slice(0, 5).map((f) => `task:${f}`),
        ...p.complexity.features.slice(0, 5).map((f) => `complexity:${f}`),
      ],
    },
  };
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/** The text a classifier reads: the last user message's. */
export function lastUserText(messages: ChatMessage[]): string {
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  return lastUser ? contentText(lastUser.content) : '';
}

export { DEFAULT_OUTPUT_TOKENS } from './limits';

/** The keyword rules (`rules-1`): the transparent first cut, and the fallback with no trained model. */
function classifyByRules(input: ClassifyInput): Classification {
  const signals: string[] = [];
  const text = lastUserText(input.messages);

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
  const complexity: Complexity = score >= 2 ? 'complex' : score === 1 ? 'medium' : 'simple';

  return {
    operation: input.operation,
    taskType,
    complexity,
    inputTokens,
    requiredContext: inputTokens + (input.maxOutputTokens ?? DEFAULT_OUTPUT_TOKENS),
    signals,
    classifier: {
      version: RULES_VERSION,
      taskConfidence: 1,
      complexityConfidence: 1,
      complexityProbs: { simple: 0, medium: 0, complex: 0, [complexity]: 1 },
      // The rules' evidence is `signals`.
      features: [],
    },
  };
}
