/**
 * Figures for a classifier head on labelled data: accuracy, macro-F1, per-class precision and recall,
 * the confusion matrix, and expected calibration error. Pure; printed by scripts/classifier/eval.ts.
 */

export interface HeadReport {
  labels: string[];
  n: number;
  accuracy: number;
  macroF1: number;
  perClass: Array<{ label: string; support: number; precision: number; recall: number; f1: number }>;
  /** confusion[truth][predicted] */
  confusion: number[][];
}

export function headReport(labels: readonly string[], truth: string[], predicted: string[]): HeadReport {
  const k = labels.length;
  const index = new Map(labels.map((l, i) => [l, i]));
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  truth.forEach((t, i) => {
    const a = index.get(t);
    const b = index.get(predicted[i]!);
    if (a === undefined || b === undefined) throw new Error(`unknown label ${t} / ${predicted[i]}`);
    confusion[a]![b]!++;
    if (a === b) correct++;
  });
  const perClass = labels.map((label, c) => {
    const tp = confusion[c]![c]!;
    const support = confusion[c]!.reduce((s, v) => s + v, 0);
    const predictedAs = confusion.reduce((s, row) => s + row[c]!, 0);
    const precision = predictedAs ? tp / predictedAs : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, support, precision, recall, f1 };
  });
  // Macro-F1 over the classes present in the truth (a class absent from the split has no F1 to average).
  const present = perClass.filter((p) => p.support > 0);
  return {
    labels: [...labels],
    n: truth.length,
    accuracy: truth.length ? correct / truth.length : 0,
    macroF1: present.length ? present.reduce((s, p) => s + p.f1, 0) / present.length : 0,
    perClass,
    confusion,
  };
}

/** Expected calibration error: |accuracy − confidence| averaged over `bins` equal-width confidence bins. */
export function expectedCalibrationError(confidence: number[], correct: boolean[], bins = 10): number {
  const sumConf = new Array<number>(bins).fill(0);
  const sumAcc = new Array<number>(bins).fill(0);
  const count = new Array<number>(bins).fill(0);
  confidence.forEach((c, i) => {
    const b = Math.min(bins - 1, Math.floor(c * bins));
    sumConf[b]! += c;
    sumAcc[b]! += correct[i] ? 1 : 0;
    count[b]!++;
  });
  let ece = 0;
  for (let b = 0; b < bins; b++)
    if (count[b]) ece += Math.abs(sumAcc[b]! - sumConf[b]!) / Math.max(1, confidence.length);
  return ece;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** A printable block: headline figures, per-class table, confusion matrix (rows truth, columns predicted). */
export function formatReport(title: string, r: HeadReport): string {
  const w = Math.max(8, ...r.labels.map((l) => l.length)) + 1;
  const lines = [
    `${title}: n=${r.n}  accuracy ${pct(r.accuracy)}  macro-F1 ${pct(r.macroF1)}`,
    `  ${'class'.padEnd(w)} ${'support'.padStart(8)} ${'precision'.padStart(10)} ${'recall'.padStart(8)} ${'F1'.padStart(7)}`,
    ...r.perClass.map(
      (p) =>
        `  ${p.label.padEnd(w)} ${String(p.support).padStart(8)} ${pct(p.precision).padStart(10)} ${pct(p.recall).padStart(8)} ${pct(p.f1).padStart(7)}`,
    ),
    `  confusion (rows: truth, columns: predicted)`,
    `  ${''.padEnd(w)} ${r.labels.map((l) => l.slice(0, 7).padStart(7)).join(' ')}`,
    ...r.confusion.map((row, i) => `  ${r.labels[i]!.padEnd(w)} ${row.map((v) => String(v).padStart(7)).join(' ')}`),
  ];
  return lines.join('\n');
}
