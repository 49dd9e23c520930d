/**
 * Latency of classifying one prompt (issue 23), on every corpus prompt (or, without a corpus, on
 * generated prompts of 10 to 4,000 characters), after a warm-up, one call at a time:
 *  - classify() as the routing activity calls it (one user message, the trained classifier): the
 *    acceptance figure, since it is what a request waits for;
 *  - its parts: the model's predict() alone, and countMessageTokens() alone (the size signals);
 *  - classify() with the keyword rules (no trained model installed).
 *
 *   npm run bench:classifier [-- --version clf-…]   (default: models/classifier/CURRENT)
 *
 * Then the same calls on long prompts: 100 each in zh, ja and en of 4,000 characters (the most a
 * corpus text keeps), each the train split's prompts of that language joined until long enough, since
 * the default corpus has none that long and they are what the tail is made of in traffic.
 *
 * Target: classify() p99 under 2 ms on the project's machine. Prints wall-clock and CPU-time
 * percentiles and the load average (on a busy shared machine the wall-clock tail is mostly other
 * processes' time slices). Loading and decoding the weights, and building the tokenizer's
 * vocabulary, happen once per process, when the worker starts (reported separately).
 */
import os from 'node:os';
import { classify } from '../src/domain/classify';
import { predict } from '../src/domain/classifier/model';
import { countMessageTokens, warmTokenizer } from '../src/domain/tokens';
import { loadClassifierModel } from '../src/services/classifierModels';
import { classifierOf } from '../src/services/classifiers';
import { readCorpus, splitOf, type CorpusRow } from '../scripts/classifier/corpus';

async function main(): Promise<void> {
  const t0 = process.hrtime.bigint();
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--version');
  const model = loadClassifierModel(at >= 0 ? argv[at + 1] : undefined);
  predict(model, 'warm up');
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  let texts: string[];
  let rows: CorpusRow[] = [];
  try {
    rows = (await readCorpus()).rows;
    texts = rows.map((r) => r.text);
  } catch {
    let seed = 23;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
    const words = ['prove', 'the', 'function', 'write', 'a', 'summary', 'of', 'integral', 'why', 'données', '証明'];
    texts = Array.from({ length: 2000 }, () =>
      Array.from({ length: 2 + (next() % 600) }, () => words[next() % words.length]).join(' '),
    );
  }

  const t1 = process.hrtime.bigint();
  warmTokenizer();
  const vocabMs = Number(process.hrtime.bigint() - t1) / 1e6;
  const trained = classifierOf(model);
  const messagesOf = (t: string) => [{ role: 'user' as const, content: t }];
  const calls: Array<[string, (t: string) => unknown]> = [
    [`classify() with ${model.version}`, (t) => classify({ operation: 'chat', messages: messagesOf(t) }, trained)],
    [`predict() of ${model.version} alone`, (t) => predict(model, t)],
    ['countMessageTokens() alone', (t) => countMessageTokens(messagesOf(t))],
    ['classify() with the keyword rules', (t) => classify({ operation: 'chat', messages: messagesOf(t) })],
  ];
  const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(3);
  const chars = texts.map((t) => t.length).sort((a, b) => a - b);
  const load0 = os.loadavg()[0]!;
  console.log(
    `classifier ${model.version}: load + decode ${loadMs.toFixed(0)} ms; tokenizer vocabulary ${vocabMs.toFixed(0)} ms`,
  );
  console.log(
    `${texts.length} prompts (median ${chars[chars.length >> 1]} chars, ` +
      `${texts.filter((t) => t.length >= 2000).length} ≥ 2,000, max ${chars[chars.length - 1]}), one call at a time:\n`,
  );
  const table = (prompts: string[]) => {
    console.log('| call | wall p50 | wall p90 | wall p99 | wall max | CPU p50 | CPU p90 | CPU p99 | CPU max |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const [name, f] of calls) {
      for (const t of prompts.slice(0, 200)) f(t);
      // Wall-clock time, and this process's CPU time (user + system): on a shared machine the
      // wall-clock tail includes time the scheduler gave to other processes mid-call; CPU time does not.
      const times: number[] = [];
      const cpu: number[] = [];
      for (const t of prompts) {
        const c = process.cpuUsage();
        const s = process.hrtime.bigint();
        f(t);
        times.push(Number(process.hrtime.bigint() - s) / 1e6);
        const d = process.cpuUsage(c);
        cpu.push((d.user + d.system) / 1e3);
      }
      times.sort((a, b) => a - b);
      cpu.sort((a, b) => a - b);
      console.log(
        `| ${name} | ${q(times, 0.5)} | ${q(times, 0.9)} | ${q(times, 0.99)} | ${q(times, 1)} | ` +
          `${q(cpu, 0.5)} | ${q(cpu, 0.9)} | ${q(cpu, 0.99)} | ${q(cpu, 1)} |`,
      );
    }
  };
  table(texts);

  const train = rows.filter((r) => splitOf(r) === 'train');
  const long = ['zh', 'ja', 'en'].flatMap((lang) => {
    const parts = train.filter((r) => r.lang === lang).map((r) => r.text);
    if (!parts.length) return [];
    return Array.from({ length: 100 }, (_, i) => {
      let t = '';
      for (let j = i * 7; t.length < 4000; j++) t += `${parts[j % parts.length]}\n`;
      return t.slice(0, 4000);
    });
  });
  if (long.length) {
    console.log(
      `\n${long.length} prompts of 4,000 characters (100 each of zh, ja, en, from the train split), one call at a time:\n`,
    );
    table(long);
  }
  console.log(`\nload average ${load0.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
