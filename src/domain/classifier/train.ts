/**
 * Training for the prompt classifier's heads: multinomial logistic regression with L2, fitted by
 * AdaGrad over sparse hashed features, with a seeded shuffle so the same examples and settings give
 * the same weights bit for bit. Pure (no I/O, no clock, no Math.random); scripts/classifier/train.ts
 * reads the corpus and writes the file.
 *
 * Two guards against learning a collection instead of the language:
 *  - `minSources`: a bucket is used only if its features occur in at least this many training sources,
 *    so a phrase one collection repeats in every prompt (its template) cannot become a rule;
 *  - `sourceCap`: each source weighs at most as much as `sourceCap` examples, so one big collection
 *    cannot drown the others.
 * Class weights (inverse frequency to the power `classPower`) keep rare classes from being ignored.
 */
import { encodeAscending, encodeInt16, toBase64 } from './codec';
import { softmax, type HeadWeights } from './model';
import type { FeatureVector } from './features';
import { seededRandom } from '../seededRandom';

export interface HeadHyper {
  l2: number;
  learningRate: number;
  epochs: number;
  classPower: number;
  sourceCap: number;
  minSources: number;
  seed: number;
  /**
   * Average the weights of this many runs, each with its own shuffle (seeds seed, seed + 1, …); absent
   * or 1 = one run. The average of linear models is one linear model of the same size, so prediction
   * costs the same; it removes most of the run-to-run noise a single shuffle order brings.
   */
  average?: number;
}

export interface TrainedHead {
  k: number;
  weights: Float64Array;
  bias: Float64Array;
}

/** Buckets whose features occur in at least `minSources` distinct sources of the examples. */
export function bucketsInSources(xs: FeatureVector[], sources: string[], bucketBits: number, minSources: number) {
  const allowed = new Uint8Array(1 << bucketBits);
  if (minSources <= 1) return allowed.fill(1);
  const count = new Uint16Array(1 << bucketBits);
  const last = new Int32Array(1 << bucketBits).fill(-1);
  const ids = new Map<string, number>();
  xs.forEach((x, i) => {
    const s = ids.get(sources[i]!) ?? ids.size;
    ids.set(sources[i]!, s);
    for (const b of x.buckets)
      if (last[b] !== s) {
        last[b] = s;
        count[b]!++;
      }
  });
  for (let b = 0; b < allowed.length; b++) allowed[b] = count[b]! >= minSources ? 1 : 0;
  return allowed;
}

export function exampleWeights(ys: number[], sources: string[], k: number, hp: HeadHyper): Float64Array {
  const perClass = new Array<number>(k).fill(0);
  for (const y of ys) perClass[y]!++;
  const perSource = new Map<string, number>();
  for (const s of sources) perSource.set(s, (perSource.get(s) ?? 0) + 1);
  const w = new Float64Array(ys.length);
  let sum = 0;
  ys.forEach((y, i) => {
    const cls = perClass[y]! ? (ys.length / (k * perClass[y]!)) ** hp.classPower : 0;
    const src = hp.sourceCap > 0 ? Math.min(1, hp.sourceCap / perSource.get(sources[i]!)!) : 1;
    w[i] = cls * src;
    sum += w[i]!;
  });
  for (let i = 0; i < w.length; i++) w[i]! *= ys.length / sum;
  return w;
}

export function headLogits(head: TrainedHead, x: FeatureVector, allowed?: Uint8Array): number[] {
  const { k, weights } = head;
  const z = Array.from(head.bias);
  for (let j = 0; j < x.buckets.length; j++) {
    const b = x.buckets[j]!;
    if (allowed && !allowed[b]) continue;
    const v = x.values[j]!;
    for (let c = 0; c < k; c++) z[c]! += v * weights[b * k + c]!;
  }
  return z;
}

export function trainHead(
  xs: FeatureVector[],
  ys: number[],
  sources: string[],
  k: number,
  bucketBits: number,
  hp: HeadHyper,
): TrainedHead {
  const runs = Math.max(1, hp.average ?? 1);
  if (runs === 1) return trainOnce(xs, ys, sources, k, bucketBits, hp);
  let sum: TrainedHead | undefined;
  for (let r = 0; r < runs; r++) {
    const head = trainOnce(xs, ys, sources, k, bucketBits, { ...hp, seed: hp.seed + r });
    if (!sum) sum = head;
    else {
      for (let i = 0; i < head.weights.length; i++) sum.weights[i]! += head.weights[i]!;
      for (let c = 0; c < k; c++) sum.bias[c]! += head.bias[c]!;
    }
  }
  for (let i = 0; i < sum!.weights.length; i++) sum!.weights[i]! /= runs;
  for (let c = 0; c < k; c++) sum!.bias[c]! /= runs;
  return sum!;
}

function trainOnce(
  xs: FeatureVector[],
  ys: number[],
  sources: string[],
  k: number,
  bucketBits: number,
  hp: HeadHyper,
): TrainedHead {
  const size = (1 << bucketBits) * k;
  const head: TrainedHead = { k, weights: new Float64Array(size), bias: new Float64Array(k) };
  const g2 = new Float64Array(size);
  const g2b = new Float64Array(k);
  const allowed = bucketsInSources(xs, sources, bucketBits, hp.minSources);
  const ew = exampleWeights(ys, sources, k, hp);
  const order = xs.map((_, i) => i);
  const grad = new Float64Array(k);
  const eps = 1e-6;
  for (let epoch = 0; epoch < hp.epochs; epoch++) {
    const rand = seededRandom(hp.seed * 1000 + epoch);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const i of order) {
      const x = xs[i]!;
      const p = softmax(headLogits(head, x, allowed));
      for (let c = 0; c < k; c++) grad[c] = (p[c]! - (c === ys[i] ? 1 : 0)) * ew[i]!;
      for (let c = 0; c < k; c++) {
        g2b[c]! += grad[c]! * grad[c]!;
        head.bias[c]! -= (hp.learningRate * grad[c]!) / (Math.sqrt(g2b[c]!) + eps);
      }
      for (let j = 0; j < x.buckets.length; j++) {
        const b = x.buckets[j]!;
        if (!allowed[b]) continue;
        const v = x.values[j]!;
        const base = b * k;
        for (let c = 0; c < k; c++) {
          const w = head.weights[base + c]!;
          const g = grad[c]! * v + hp.l2 * w;
          g2[base + c]! += g * g;
          head.weights[base + c] = w - (hp.learningRate * g) / (Math.sqrt(g2[base + c]!) + eps);
        }
      }
    }
  }
  return head;
}

/** Mean negative log-likelihood of the labels under softmax(logits / t). */
export function nll(logits: number[][], ys: number[], t: number): number {
  let s = 0;
  logits.forEach((z, i) => (s -= Math.log(Math.max(1e-12, softmax(z, t)[ys[i]!]!))));
  return s / Math.max(1, logits.length);
}

/** The temperature that minimises NLL on held-aside data: a log grid, then golden-section refinement. */
export function fitTemperature(logits: number[][], ys: number[]): number {
  let best = 1;
  let bestLoss = Infinity;
  for (let e = -20; e <= 20; e++) {
    const t = Math.exp(e / 10);
    const loss = nll(logits, ys, t);
    if (loss < bestLoss) [best, bestLoss] = [t, loss];
  }
  let lo = Math.log(best) - 0.1;
  let hi = Math.log(best) + 0.1;
  const phi = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < 40; i++) {
    const a = hi - phi * (hi - lo);
    const b = lo + phi * (hi - lo);
    if (nll(logits, ys, Math.exp(a)) < nll(logits, ys, Math.exp(b))) hi = b;
    else lo = a;
  }
  return Number(Math.exp((lo + hi) / 2).toFixed(4));
}

/**
 * Quantizes a trained head to int16 (scale = max |w| / 32767), drops buckets whose weights all round
 * to 0, and encodes it for the file.
 */
export function encodeHead(head: TrainedHead, labels: readonly string[], temperature: number): HeadWeights {
  const { k, weights } = head;
  let max = 0;
  for (const w of weights) max = Math.max(max, Math.abs(w));
  const scale = Number((max / 32767 || 1).toPrecision(6));
  const buckets: number[] = [];
  const q: number[] = [];
  for (let b = 0; b * k < weights.length; b++) {
    const row = Array.from({ length: k }, (_, c) => Math.round(weights[b * k + c]! / scale));
    if (row.some((v) => v !== 0)) {
      buckets.push(b);
      q.push(...row);
    }
  }
  return {
    labels: [...labels],
    temperature,
    bias: Array.from(head.bias, (b) => Number(b.toPrecision(6))),
    scale,
    buckets: toBase64(encodeAscending(buckets)),
    weights: toBase64(encodeInt16(q)),
  };
}
