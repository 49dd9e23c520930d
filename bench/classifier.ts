/**
 * Latency of the trained prompt classifier (issue 23): predict() on every corpus prompt (or, without a
 * corpus, on generated prompts of 10 to 4,000 characters), after a warm-up, one call at a time.
 *
 *   npm run bench:classifier
 *
 * Target: p99 under 2 ms on the project's machine. Loading and decoding the weights happens once per
 * process and per version (reported separately).
 */
import { predict } from '../src/domain/classifier/model';
import { loadClassifierModel } from '../src/services/classifierModels';
import { readCorpus } from '../scripts/classifier/corpus';

async function main(): Promise<void> {
  const t0 = process.hrtime.bigint();
  const model = loadClassifierModel();
  predict(model, 'warm up');
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  let texts: string[];
  try {
    texts = (await readCorpus()).rows.map((r) => r.text);
  } catch {
    let seed = 23;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
    const words = ['prove', 'the', 'function', 'write', 'a', 'summary', 'of', 'integral', 'why', 'données', '証明'];
    texts = Array.from({ length: 2000 }, () =>
      Array.from({ length: 2 + (next() % 600) }, () => words[next() % words.length]).join(' '),
    );
  }

  for (const t of texts.slice(0, 200)) predict(model, t);
  const times: number[] = [];
  for (const t of texts) {
    const s = process.hrtime.bigint();
    predict(model, t);
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  const chars = texts.map((t) => t.length).sort((a, b) => a - b);
  console.log(`classifier ${model.version}: load + decode ${loadMs.toFixed(0)} ms`);
  console.log(
    `predict() on ${times.length} prompts (median ${chars[chars.length >> 1]} chars, max ${chars[chars.length - 1]}): ` +
      `p50 ${q(0.5).toFixed(3)} ms, p90 ${q(0.9).toFixed(3)} ms, p99 ${q(0.99).toFixed(3)} ms, max ${q(1).toFixed(3)} ms`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
