/**
 * Scores the current classifier (models/classifier/CURRENT, or --version) on the held-out test split
 * of the corpus, which training and tuning never saw, next to the keyword rules of
 * src/domain/classify.ts ("rules-1") on the same prompts.
 *
 *   npm run eval:classifier [-- --version clf-… --corpus file.jsonl --split tune]
 *   npm run eval:classifier -- --llm <baseURL> <model> [options]   (the configured classifying model: ./evalLlm.ts)
 *
 * Prints, per head: accuracy, macro-F1, per-class precision and recall, the confusion matrix, expected
 * calibration error (10 bins), and accuracy per source and per language.
 */
import { classify } from '../../src/domain/classify';
import { predict, TASK_TYPES, COMPLEXITIES } from '../../src/domain/classifier/model';
import { expectedCalibrationError, formatReport, headReport } from '../../src/domain/classifier/metrics';
import { loadClassifierModel } from '../../src/services/classifierModels';
import { readCorpus, splitOf, type CorpusRow, type Split } from './corpus';
import { evaluateLlm, llmEvalOptions } from './evalLlm';

function arg(name: string): string[] {
  const argv = process.argv.slice(2);
  return argv.flatMap((a, i) => (a === `--${name}` && argv[i + 1] ? [argv[i + 1]!] : []));
}

async function main(): Promise<void> {
  const llm = llmEvalOptions(process.argv.slice(2));
  if (llm) return evaluateLlm(llm);
  const model = loadClassifierModel(arg('version')[0]);
  const which = (arg('split')[0] ?? 'test') as Split;
  const corpus = await readCorpus(arg('corpus'));
  const rows = corpus.rows.filter((r) => splitOf(r) === which);
  if (corpus.sha256 !== model.training.corpusSha256)
    console.log(
      `note: the corpus (sha256 ${corpus.sha256.slice(0, 16)}) is not the one ${model.version} was trained on`,
    );
  console.log(
    `${model.version} on the ${which} split: ${rows.length} prompts from ${new Set(rows.map((r) => r.source)).size} sources\n`,
  );

  const started = process.hrtime.bigint();
  const predictions = rows.map((r) => predict(model, r.text));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const rules = rows.map((r) => classify({ operation: 'chat', messages: [{ role: 'user', content: r.text }] }));

  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  for (const head of ['taskType', 'complexity'] as const) {
    const labels = head === 'taskType' ? TASK_TYPES : COMPLEXITIES;
    const truth = rows.map((r) => r[head]);
    const got = predictions.map((p) => p[head].label);
    const old = rules.map((c) => c[head]);
    const ece = expectedCalibrationError(
      predictions.map((p) => p[head].confidence),
      got.map((g, i) => g === truth[i]),
    );
    console.log(formatReport(`${head} — trained ${model.version}`, headReport(labels, truth, got)));
    console.log(`  expected calibration error: ${pct(ece)}\n`);
    console.log(formatReport(`${head} — keyword rules (rules-1)`, headReport(labels, truth, old)));
    console.log('');
    const by = (key: (r: CorpusRow) => string) => {
      const keys = [...new Set(rows.map(key))].sort();
      return keys
        .map((k) => {
          const idx = rows.flatMap((r, i) => (key(r) === k ? [i] : []));
          const acc = (xs: string[]) => idx.filter((i) => xs[i] === truth[i]).length / idx.length;
          return `    ${k.padEnd(24)} ${String(idx.length).padStart(5)}  trained ${pct(acc(got)).padStart(6)}  rules ${pct(acc(old)).padStart(6)}`;
        })
        .join('\n');
    };
    console.log(`  ${head} accuracy by source:\n${by((r) => r.source)}`);
    console.log(`  ${head} accuracy by language:\n${by((r) => r.lang)}\n`);
  }
  console.log(
    `predict(): ${(ms / Math.max(1, rows.length)).toFixed(3)} ms per prompt on average (see npm run bench:classifier)`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
