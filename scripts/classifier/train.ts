/**
 * Rebuilds the prompt classifier's weights from the labelled corpus (issue 23).
 *
 *   npm run train:classifier [-- --date YYYY-MM-DD] [--corpus file.jsonl ...]
 *
 * Reads the corpus (scripts/classifier/corpus.ts: loadCorpus(), or --corpus JSONL files), splits it (scripts/classifier/corpus.ts), picks each head's
 * hyper-parameters and temperature on the tune split, trains, and writes
 * models/classifier/<version>.json and models/classifier/CURRENT. Deterministic: the same corpus gives
 * byte-identical weights; the version's hash part covers everything in the file but the version, and
 * its date part is the day of the run (or --date), so a retrain on another day names the same weights
 * with the same hash.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readCorpus, REPO_ROOT } from './corpus';
import { DEFAULT_FEATURIZER } from '../../src/domain/classifier/features';
import { type HeadHyper } from '../../src/domain/classifier/train';
import { fitClassifier, versioned } from './fit';

function arg(name: string): string[] {
  const out: string[] = [];
  const argv = process.argv.slice(2);
  argv.forEach((a, i) => {
    if (a === `--${name}` && argv[i + 1]) out.push(argv[i + 1]!);
  });
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const corpus = await readCorpus(arg('corpus').map((f) => path.resolve(f)));
  console.log(`corpus: ${corpus.rows.length} prompts from ${corpus.from} (sha256 ${corpus.sha256.slice(0, 16)})`);
  // --quick: skip the hyper-parameter search (BASE_HYPER only), for trying features; never for a shipped model.
  const quick = process.argv.includes('--quick');
  const hyper = arg('hyper')[0];
  const rest = fitClassifier(corpus.rows, corpus.sha256, {
    log: (line) => console.log(line),
    // --hyper '{"l2":1e-4}': try one setting instead of the search (implies --quick).
    ...(quick || hyper
      ? { grid: [hyper ? (JSON.parse(hyper) as Partial<HeadHyper>) : {}], featurizers: [DEFAULT_FEATURIZER] }
      : {}),
  });
  const date = arg('date')[0] ?? new Date().toISOString().slice(0, 10);
  const { model, json } = versioned(rest, date);

  const dir = path.join(REPO_ROOT, 'models', 'classifier');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${model.version}.json`);
  writeFileSync(file, json);
  writeFileSync(path.join(dir, 'CURRENT'), `${model.version}\n`);
  console.log(
    `wrote ${path.relative(REPO_ROOT, file)} (${(json.length / 1e6).toFixed(2)} MB) and models/classifier/CURRENT in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
