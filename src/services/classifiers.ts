/**
 * Which classifier classifies a request: the current trained model (models/classifier/CURRENT),
 * a named version (replaying a decision with the version it was made with), or the keyword rules
 * (`rules-1`). Used by the routing activity, the dry run and policy replay; never by workflow code.
 */
import { classify, RULES_VERSION, type Classification, type Classifier } from '../domain/classify';
import { predict, type ClassifierModel } from '../domain/classifier/model';
import { ChatCompletionRequestSchema, type ChatMessage } from '../domain/chat';
import { OperationBodySchemas, operationMessages, type StructuredOperation } from '../domain/operations';
import { currentClassifierVersion, loadClassifierModel, UnknownClassifierVersionError } from './classifierModels';

export { UnknownClassifierVersionError } from './classifierModels';

const bound = new WeakMap<ClassifierModel, Classifier>();
/** The current classifier, read once per process (CURRENT changes with a deployment); null: none installed. */
let current: Classifier | null | undefined;

/** A loaded model with its `predict`, as classify() takes it. */
export function classifierOf(model: ClassifierModel): Classifier {
  let c = bound.get(model);
  if (!c) {
    c = { version: model.version, predict: (text) => predict(model, text) };
    bound.set(model, c);
  }
  return c;
}

/**
 * The classifier of a version: `rules-1` → none (classify() then applies the keyword rules);
 * `current` (or absent) → the model models/classifier/CURRENT names, or the rules when no model is
 * installed; any other version → that model, or UnknownClassifierVersionError.
 */
export function classifierFor(version: string = 'current'): Classifier | undefined {
  if (version === RULES_VERSION) return undefined;
  if (version === 'current') {
    if (current === undefined) {
      try {
        current = classifierOf(loadClassifierModel(currentClassifierVersion()));
      } catch (err) {
        if (!(err instanceof UnknownClassifierVersionError)) throw err;
        current = null; // no trained model installed: the keyword rules
      }
    }
    return current ?? undefined;
  }
  return classifierOf(loadClassifierModel(version));
}

/** The version `classifierFor('current')` uses: the trained model's, or `rules-1`. */
export function currentVersion(): string {
  return classifierFor('current')?.version ?? RULES_VERSION;
}

/** What classification reads of a stored request body: its messages and output cap. */
export function classifyInputOf(
  operation: string,
  body: unknown,
): { messages: ChatMessage[]; maxOutputTokens?: number } {
  if (operation === 'chat') {
    const b = ChatCompletionRequestSchema.parse(body);
    return { messages: b.messages, maxOutputTokens: b.max_completion_tokens ?? b.max_tokens ?? undefined };
  }
  if (operation === 'embed') {
    const input = OperationBodySchemas.embed.parse(body).input;
    return {
      messages: [{ role: 'user', content: Array.isArray(input) ? input.join('\n') : input }],
      maxOutputTokens: 0,
    };
  }
  return { messages: operationMessages(operation as StructuredOperation, body as Record<string, unknown>) };
}

/** A stored request classified again (by a trained classifier, or the keyword rules without one). */
export function classifyStored(operation: string, body: unknown, classifier: Classifier | undefined): Classification {
  return classify({ operation, ...classifyInputOf(operation, body) }, classifier);
}
