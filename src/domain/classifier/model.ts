/**
 * The trained prompt classifier (issue 23): two multinomial logistic-regression heads (task type,
 * complexity) over the hashed features of ./features, with temperature-calibrated probabilities.
 *
 * The weights file (models/classifier/<version>.json, parsed with ClassifierModelSchema) is produced by
 * `npm run train:classifier`; this module only reads it. `predict` is pure and deterministic: the same
 * model and text give the same prediction, so a decision can be replayed with the version it was made
 * with. Decoded weights are memoised per model object (a cache, not state that changes answers).
 */
import { z } from 'zod';
import { COMPLEXITIES, TASK_TYPES, type TaskType } from '../classify';
import { decodeAscending, decodeInt16, fromBase64 } from './codec';
import { featurize, type FeatureVector } from './features';

export { COMPLEXITIES, TASK_TYPES };
export type { TaskType };
export type Complexity = (typeof COMPLEXITIES)[number];

const HeadSchema = z.object({
  labels: z.array(z.string()).min(2),
  /** Logits are divided by this before the softmax (fitted on the tune split). */
  temperature: z.number().positive(),
  bias: z.array(z.number()),
  /** A weight is its int16 value × scale. */
  scale: z.number().positive(),
  /** Base64 of the varint-encoded deltas of the buckets that have any non-zero weight, ascending. */
  buckets: z.string(),
  /** Base64 of little-endian int16 weights, bucket-major: labels.length values per bucket. */
  weights: z.string(),
});
export type HeadWeights = z.infer<typeof HeadSchema>;

export const ClassifierModelSchema = z.object({
  /** clf-<date>-<first 8 hex of the sha256 of this file's JSON without the version field>. */
  version: z.string().regex(/^clf-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/),
  featurizer: z.object({
    bucketBits: z.number().int().min(10).max(24),
    charMin: z.number().int().min(1),
    charMax: z.number().int().min(1),
    maxChars: z.number().int().positive(),
    /** Absent in files made before them (those keep the maxChars cut): see FeaturizerSettings. */
    headChars: z.number().int().nonnegative().optional(),
    tailChars: z.number().int().nonnegative().optional(),
    charWeight: z.number().positive(),
  }),
  heads: z.object({ taskType: HeadSchema, complexity: HeadSchema }),
  /** How the weights were made (corpus hash, split, hyper-parameters, held-out figures): for people. */
  training: z.record(z.string(), z.unknown()),
});
export type ClassifierModel = z.infer<typeof ClassifierModelSchema>;

export interface HeadPrediction<L extends string> {
  label: L;
  /** Calibrated probability of `label`. */
  confidence: number;
  /** Calibrated, sums to 1. */
  probs: Record<L, number>;
  /** Top contributing features for `label` (at most 5), e.g. ['w:prove', 'c:tegr']. */
  features: string[];
}

export interface Prediction {
  version: string;
  taskType: HeadPrediction<TaskType>;
  complexity: HeadPrediction<Complexity>;
}

/**
 * A head's weights, decoded into a table shared by both heads: one row of int16 per bucket, task-type
 * columns then complexity columns, so a feature costs one memory fetch for both heads (the table is
 * megabytes; each row is a cache miss). int16 (× scale) keeps it half the size of float32.
 */
interface DecodedHead {
  labels: string[];
  bias: number[];
  temperature: number;
  scale: number;
  table: Int16Array;
  /** Columns per row in `table`, and this head's first column. */
  stride: number;
  offset: number;
}

const decoded = new WeakMap<ClassifierModel, { taskType: DecodedHead; complexity: DecodedHead }>();

function decodeInto(head: HeadWeights, table: Int16Array, stride: number, offset: number): DecodedHead {
  const k = head.labels.length;
  const buckets = decodeAscending(fromBase64(head.buckets));
  const q = decodeInt16(fromBase64(head.weights));
  if (q.length !== buckets.length * k) throw new Error('classifier model: weights and buckets disagree');
  buckets.forEach((b, i) => table.set(q.subarray(i * k, i * k + k), b * stride + offset));
  return {
    labels: head.labels,
    bias: head.bias,
    temperature: head.temperature,
    scale: head.scale,
    table,
    stride,
    offset,
  };
}

function heads(model: ClassifierModel) {
  let d = decoded.get(model);
  if (!d) {
    const kt = model.heads.taskType.labels.length;
    const stride = kt + model.heads.complexity.labels.length;
    const table = new Int16Array((1 << model.featurizer.bucketBits) * stride);
    d = {
      taskType: decodeInto(model.heads.taskType, table, stride, 0),
      complexity: decodeInto(model.heads.complexity, table, stride, kt),
    };
    decoded.set(model, d);
  }
  return d;
}

/** Softmax of logits / temperature (stable). */
export function softmax(logits: ArrayLike<number>, temperature = 1): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]! / temperature);
  const e = Array.from({ length: logits.length }, (_, i) => Math.exp(logits[i]! / temperature - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function predictHead<L extends string>(head: DecodedHead, x: FeatureVector): HeadPrediction<L> {
  const k = head.labels.length;
  const n = x.buckets.length;
  const { table, stride, offset, scale } = head;
  const sums = new Float64Array(k);
  for (let j = 0; j < n; j++) {
    const base = x.buckets[j]! * stride + offset;
    const v = x.values[j]!;
    for (let c = 0; c < k; c++) sums[c]! += v * table[base + c]!;
  }
  const logits = head.bias.map((b, c) => b + scale * sums[c]!);
  const p = softmax(logits, head.temperature);
  let best = 0;
  for (let c = 1; c < k; c++) if (p[c]! > p[best]!) best = c;

  // What decided: each feature's push towards `label` against the average label; the 5 largest.
  const top: Array<[number, number]> = [];
  for (let j = 0; j < n; j++) {
    const base = x.buckets[j]! * stride + offset;
    let mean = 0;
    for (let c = 0; c < k; c++) mean += table[base + c]!;
    const push = x.values[j]! * scale * (table[base + best]! - mean / k);
    if (push <= 0 || (top.length === 5 && push <= top[4]![1])) continue;
    top.push([j, push]);
    top.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    if (top.length > 5) top.pop();
  }

  const probs = {} as Record<L, number>;
  head.labels.forEach((l, c) => (probs[l as L] = p[c]!));
  return {
    label: head.labels[best] as L,
    confidence: p[best]!,
    probs,
    features: top.map(([j]) => x.nameOf(j)),
  };
}

/** Classifies one prompt (the text of the last user message). Pure, deterministic, no I/O. */
export function predict(model: ClassifierModel, text: string): Prediction {
  const h = heads(model);
  const x = featurize(text, model.featurizer);
  return {
    version: model.version,
    taskType: predictHead<TaskType>(h.taskType, x),
    complexity: predictHead<Complexity>(h.complexity, x),
  };
}
