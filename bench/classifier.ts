/**
 * Latency of the trained prompt classifier (issue 23): predict() on every corpus prompt (or, without a
 * corpus, on generated prompts of 10 to 4,000 characters), after a warm-up, one call at a time.
 *
 *   npm run bench:classifier
 *
 * Target: p99 under 2 ms on the project's machine. Prints wall-clock and CPU-time percentiles and the
 * load average (on a busy shared machine the wall-clock tail is mostly other processes' time slices). Loading and decoding the weights happens once per
 * process and per version (reported separately).
 */
import os from 'node:os';
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
  // Wall-clock time, and this process's CPU time (user + system, microseconds): on a shared machine the
  // wall-clock tail includes time the scheduler gave to other processes mid-call; CPU time does not.
  const times: number[] = [];
  const cpu: number[] = [];
  for (const t of texts) {
    const c = process.cpuUsage();
    const s = process.hrtime.bigint();
    predict(model, t);
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1e3);
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(3);
  const chars = texts.map((t) => t.length).sort((a, b) => a - b);
  console.log(`classifier ${model.version}: load + decode ${loadMs.toFixed(0)} ms`);
  console.log(
    `predict() on ${times.length} prompts (median ${chars[chars.length >> 1]} chars, max ${chars[chars.length - 1]}): ` +
      `wall p50 ${q(times, 0.5)} ms, p90 ${q(times, 0.9)} ms, p99 ${q(times, 0.99)} ms, max ${q(times, 1)} ms; ` +
      `CPU p50 ${q(cpu, 0.5)} ms, p90 ${q(cpu, 0.9)} ms, p99 ${q(cpu, 0.99)} ms, max ${q(cpu, 1)} ms`,
  );
  console.log(
    `load average while measuring: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(', ')} on ${os.cpus().length} CPUs`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
