/**
 * The labelled corpus (data/classifier/corpus*.jsonl) and its fixed split into train, tune and test.
 *
 * The split is by source, so one collection's style cannot be learned on one side and scored on the
 * other:
 *  - TEST_SOURCES are held out whole: no prompt of theirs is ever trained or tuned on. Each has a
 *    sibling collection in training whose labels mean the same (hh-rlhf ↔ nq-open: simple chat;
 *    olympiadbench ↔ math500: complex maths; aqua ↔ gsm8k: medium word problems; vicuna-bench ↔
 *    mtbench and the instruction sets: mixed questions), so they measure whether the model learned
 *    the language of a class rather than one collection's wording.
 *    Collections whose only sibling carries a different label (mbpp simple vs humaneval medium code,
 *    svamp simple vs gsm8k medium word problems) are not held out whole: there the label is a property
 *    of the collection, no text model can recover it from a sibling, and holding them out would also
 *    take the only simple code and simple word problems out of training.
 *  - Every other source is split by a hash of the prompt's group (its id without the language part, so
 *    the translations of one question land on the same side): 15 % test, 10 % tune, 75 % train. This
 *    puts prompts of the large multi-category collections (arena-hard, belle-eval, mtbench, the
 *    instruction sets, the house prompts) on the test side too.
 *  - The tune split (hyper-parameters, temperature) is that hash part; it is folded into the final
 *    training run (scripts/classifier/fit.ts).
 * The split depends only on ids and sources, never on labels, order or a random seed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { COMPLEXITIES, TASK_TYPES } from '../../src/domain/classify';
import { fnv1a } from '../../src/domain/classifier/features';

export const CorpusRowSchema = z.object({
  id: z.string(),
  source: z.string(),
  text: z.string(),
  taskType: z.enum(TASK_TYPES),
  complexity: z.enum(COMPLEXITIES),
  lang: z.string(),
  labelEvidence: z.string().optional(),
});
export type CorpusRow = z.infer<typeof CorpusRowSchema>;
export type Split = 'train' | 'tune' | 'test';

export const SPLIT_POLICY = {
  testSources: ['vicuna-bench', 'hh-rlhf', 'olympiadbench', 'aqua'] as string[],
  tuneSources: [] as string[],
  /** Of the other sources, by hash of the group: [0, testPercent) test, then tunePercent tune. */
  testPercent: 15,
  tunePercent: 10,
};

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CORPUS_DIR = path.join(REPO_ROOT, 'data', 'classifier');

/** The id without a language segment (mtbench-ja-81 → mtbench-81), so translations share a side. */
export function groupOf(row: Pick<CorpusRow, 'id' | 'lang'>): string {
  return row.id
    .split('-')
    .filter((part) => part !== row.lang)
    .join('-');
}

export function splitOf(row: Pick<CorpusRow, 'id' | 'lang' | 'source'>, policy = SPLIT_POLICY): Split {
  if (policy.testSources.includes(row.source)) return 'test';
  if (policy.tuneSources.includes(row.source)) return 'tune';
  const h = fnv1a(`split:${groupOf(row)}`) % 100;
  if (h < policy.testPercent) return 'test';
  if (h < policy.testPercent + policy.tunePercent) return 'tune';
  return 'train';
}

export function corpusFiles(dir = CORPUS_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^corpus.*\.jsonl$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export function parseCorpus(text: string, where: string): CorpusRow[] {
  return text
    .split('\n')
    .map((line, i) => [line, i] as const)
    .filter(([line]) => line.trim() !== '')
    .map(([line, i]) => {
      const parsed = CorpusRowSchema.safeParse(JSON.parse(line));
      if (!parsed.success) throw new Error(`${where}:${i + 1}: ${parsed.error.message}`);
      return parsed.data;
    });
}

export function readCorpus(files = corpusFiles()): { rows: CorpusRow[]; sha256: string; files: string[] } {
  if (!files.length) throw new Error(`no corpus: expected data/classifier/corpus*.jsonl under ${CORPUS_DIR}`);
  const hash = createHash('sha256');
  const rows: CorpusRow[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    hash.update(text);
    rows.push(...parseCorpus(text, path.relative(REPO_ROOT, f)));
  }
  return { rows, sha256: hash.digest('hex'), files: files.map((f) => path.relative(REPO_ROOT, f)) };
}
