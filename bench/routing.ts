/**
 * What the routing decision is worth (issue 23): a labelled, mixed workload replayed through the
 * dry-run route, for the keyword rules (`rules-1`) and the trained classifier side by side, each at
 * three settings of the cost–quality dial.
 *
 * Workload: every prompt of the corpus's held-out test split (scripts/classifier/corpus.ts
 * `splitOf(row) === 'test'`, the split `npm run eval:classifier` scores; training and tuning never
 * saw it), in corpus order; `N=…` takes a deterministic sample instead (the N prompts with the lowest
 * hash of their id). Each prompt is one user message, `model: auto`, a fixed output size (`OUT`,
 * default 500 tokens).
 *
 * Route: `planRoute` (src/services/routePlan.ts), the function `POST /v1/route` and the workflow's
 * decision step both call, in process, with the default strategy (`auto`) and the dial in the
 * request's context (`switchyard.quality`). Catalog: the shipped default catalog with the Google
 * provider only (`defaultCatalog({ google })`), whose three chat models are the cheap, mid and
 * premium tiers: gemini-2.5-flash-lite (qualityTier 3), gemini-2.5-flash (4), gemini-2.5-pro (5).
 * No budget, no breakers, no rules: the decision is the classifier's and the dial's alone.
 *
 * Tiers: the catalog's chat models' distinct qualityTiers in order, the lowest is `cheap`, the
 * highest `premium`, any between `mid`. A label needs: simple → cheap, medium → mid, complex →
 * premium. A prompt is `below` when its first candidate's tier is lower than its label needs (a
 * quality risk), `above` when higher (money spent for nothing), else `exact`.
 * Cost: the sum over the workload of the first candidate's estimate (`estimatedCostUsd`: the
 * prompt's input tokens and OUT output tokens at the catalog's list prices). For reference, the same
 * workload routed on the labels themselves (`labels`) and on each tier alone.
 *
 * Also: latency of `classify()` with the trained classifier over the workload (one call at a time,
 * after a warm-up, PASSES rounds, default 3; acceptance: p99 < 2 ms; beside it predict() alone,
 * classify() with the rules and the token count both classify()s make), and the size of the workflow
 * bundle built as test/workflow/bundle.test.ts builds it (acceptance: < 4 MB). `BUNDLE=0` skips the bundle.
 *
 *   npm run bench:routing
 *   N=300 OUT=1000 npm run bench:routing
 *   CLASSIFIER_VERSION=clf-… npm run bench:routing        (default: models/classifier/CURRENT)
 *   CLASSIFIER_DIR=/elsewhere/models/classifier npm run bench:routing   (weights not in this checkout)
 *
 * Under `auto`, a simple prompt's tier ranks the cheapest first, a complex one's the best first and a
 * medium one's by the balanced score (quality, cost, latency), so `mid` is what that score picks. The
 * keyword rules give one-hot probabilities, so the dial does not move them (src/domain/policy/dial.ts).
 */
import os from 'node:os';
import { readCorpus, splitOf, type CorpusRow } from '../scripts/classifier/corpus';
import { defaultCatalog, type Catalog } from '../src/domain/catalog';
import { classify, RULES_VERSION, type Classification, type Classifier } from '../src/domain/classify';
import { predict } from '../src/domain/classifier/model';
import { fnv1a } from '../src/domain/classifier/features';
import { SwitchyardConfigSchema } from '../src/domain/config';
import { countMessageTokens } from '../src/domain/tokens';
import { RouteContextSchema } from '../src/domain/policy/types';
import type { Queryable } from '../src/db';
import { loadClassifierModel } from '../src/services/classifierModels';
import { classifierOf } from '../src/services/classifiers';
import { planRoute, type PlanRequest } from '../src/services/routePlan';
import type { VersionedConfig } from '../src/services/configStore';

const OUT = Number(process.env.OUT ?? 500);
const PASSES = Number(process.env.PASSES ?? 3);
const N = process.env.N ? Number(process.env.N) : undefined;
const DIALS = [0.2, 0.5, 0.8] as const;
const NOW = new Date('2026-12-07T12:00:00Z');
const TIERS = ['cheap', 'mid', 'premium'] as const;
const NEEDS: Record<CorpusRow['complexity'], number> = { simple: 0, medium: 1, complex: 2 };

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const usd = (x: number) => `$${x.toFixed(4)}`;
const ms = (x: number) => `${x.toFixed(3)} ms`;
const quantile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

/** qualityTier → cheap | mid | premium: lowest chat tier, highest, anything between. */
function tierMap(catalog: Catalog): (qualityTier: number) => number {
  const tiers = [
    ...new Set(catalog.models.filter((m) => m.capabilities.includes('chat')).map((m) => m.qualityTier)),
  ].sort((a, b) => a - b);
  const lo = tiers[0]!;
  const hi = tiers[tiers.length - 1]!;
  return (q) => (q <= lo ? 0 : q >= hi ? 2 : 1);
}

interface Row {
  classifier: string;
  dial: string;
  n: number;
  costUsd: number;
  below: number;
  above: number;
  exact: number;
  routed: [number, number, number];
}

async function main(): Promise<void> {
  const corpus = await readCorpus();
  let rows = corpus.rows.filter((r) => splitOf(r) === 'test');
  const all = rows.length;
  if (N !== undefined && N < rows.length)
    rows = [...rows].sort((a, b) => fnv1a(a.id) - fnv1a(b.id) || a.id.localeCompare(b.id)).slice(0, N);

  const t0 = process.hrtime.bigint();
  const model = loadClassifierModel(
    process.env.CLASSIFIER_VERSION,
    ...(process.env.CLASSIFIER_DIR ? [process.env.CLASSIFIER_DIR] : []),
  );
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (corpus.sha256 !== model.training.corpusSha256)
    console.log(
      `note: the corpus (sha256 ${corpus.sha256.slice(0, 16)}) is not the one ${model.version} was trained on`,
    );
  const trained = classifierOf(model);

  const catalog = defaultCatalog({ google: { apiKeyEnv: 'GEMINI_API_KEY' } });
  const config: VersionedConfig = { version: 1, config: SwitchyardConfigSchema.parse({ catalog }), source: 'bench' };
  const levelOf = tierMap(catalog);
  // No budget is configured, so the plan never reads usage: a query would be a bug in the bench.
  const db: Queryable = {
    query: () => {
      throw new Error('bench:routing: the plan read the database');
    },
  } as unknown as Queryable;

  const count = (xs: CorpusRow[], k: keyof CorpusRow) =>
    [...new Set(xs.map((r) => r[k]))]
      .sort()
      .map((v) => `${v} ${xs.filter((r) => r[k] === v).length}`)
      .join(', ');
  console.log(
    `workload: ${rows.length} prompts${N !== undefined ? ` (deterministic sample of ${all})` : ''} of the held-out test split, ` +
      `${new Set(rows.map((r) => r.source)).size} sources; complexity: ${count(rows, 'complexity')}; ` +
      `task: ${count(rows, 'taskType')}`,
  );
  console.log(`trained classifier ${model.version} (load + parse ${loadMs.toFixed(0)} ms); output size ${OUT} tokens`);
  console.log(
    `catalog: ${catalog.models
      .filter((m) => m.capabilities.includes('chat'))
      .map(
        (m) =>
          `${m.id} (qualityTier ${m.qualityTier} → ${TIERS[levelOf(m.qualityTier)]}, $${m.inputPricePerMTok}/$${m.outputPricePerMTok} per MTok)`,
      )
      .join(', ')}\n`,
  );

  const messagesOf = (r: CorpusRow) => [{ role: 'user' as const, content: r.text }];
  const requestOf = (r: CorpusRow, quality: number): PlanRequest => ({
    requestId: `bench-${r.id}`,
    tenantId: 'bench',
    operation: 'chat',
    requestedModel: 'auto',
    maxOutputTokens: OUT,
    needsJson: false,
    context: RouteContextSchema.parse({ tenantId: 'bench', quality }),
  });

  async function run(name: string, classifications: Classification[], dials: readonly number[]): Promise<Row[]> {
    const out: Row[] = [];
    for (const q of dials) {
      const row: Row = {
        classifier: name,
        dial: String(q),
        n: rows.length,
        costUsd: 0,
        below: 0,
        above: 0,
        exact: 0,
        routed: [0, 0, 0],
      };
      for (let i = 0; i < rows.length; i++) {
        const { planned } = await planRoute({ db, config }, requestOf(rows[i]!, q), classifications[i]!, NOW);
        const first = planned.candidates[0];
        if (!first) throw new Error(`no candidate for ${rows[i]!.id}`);
        const level = levelOf(first.qualityTier);
        const need = NEEDS[rows[i]!.complexity];
        row.costUsd += first.estimatedCostUsd;
        row.routed[level] = row.routed[level]! + 1;
        if (level < need) row.below++;
        else if (level > need) row.above++;
        else row.exact++;
      }
      out.push(row);
    }
    return out;
  }

  const classifyWith = (c?: Classifier) =>
    rows.map((r) => classify({ operation: 'chat', messages: messagesOf(r), maxOutputTokens: OUT }, c));
  const byRules = classifyWith();
  const byModel = classifyWith(trained);
  // The labels as a one-hot classification: the route the labels ask for (the dial cannot move it).
  const byLabels = rows.map((r, i): Classification => {
    const { classifier: _rules, ...rest } = byRules[i]!;
    return { ...rest, complexity: r.complexity };
  });

  const results = [...(await run(RULES_VERSION, byRules, DIALS)), ...(await run(model.version, byModel, DIALS))];
  const reference = await run('labels (reference)', byLabels, [0.5]);

  // Each tier alone, for scale: every prompt on the cheapest, the mid and the premium model.
  const chat = catalog.models.filter((m) => m.capabilities.includes('chat'));
  const alone = TIERS.map((t, level) => {
    const m = chat
      .filter((x) => levelOf(x.qualityTier) === level)
      .sort((a, b) => a.inputPricePerMTok - b.inputPricePerMTok)[0]!;
    const cost = byRules.reduce(
      (s, c) =>
        s + (c.inputTokens * m.inputPricePerMTok + Math.min(OUT, m.maxOutputTokens) * m.outputPricePerMTok) / 1e6,
      0,
    );
    const below = rows.filter((r) => level < NEEDS[r.complexity]).length / rows.length;
    const above = rows.filter((r) => level > NEEDS[r.complexity]).length / rows.length;
    return { t, m, cost, below, above };
  });

  console.log(
    '| classifier | quality | cost of the workload | below label | above label | exact | routed cheap / mid / premium |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const r of [...results, ...reference])
    console.log(
      `| ${r.classifier} | ${r.classifier.startsWith('labels') ? '—' : r.dial} | ${usd(r.costUsd)} | ${pct(r.below / r.n)} | ${pct(r.above / r.n)} | ${pct(r.exact / r.n)} | ${r.routed.join(' / ')} |`,
    );
  for (const a of alone)
    console.log(
      `| all on ${a.t} (${a.m.model}) | — | ${usd(a.cost)} | ${pct(a.below)} | ${pct(a.above)} | ${pct(1 - a.below - a.above)} | — |`,
    );

  // Where each classifier's misroutes fall, by label, at the default dial (0.5).
  console.log('\nRouted tier by label at quality 0.5 (cheap / mid / premium):\n');
  console.log(`| label | prompts | ${RULES_VERSION} | ${model.version} |`);
  console.log('|---|---|---|---|');
  for (const label of ['simple', 'medium', 'complex'] as const) {
    const idx = rows.flatMap((r, i) => (r.complexity === label ? [i] : []));
    const tiers = async (cs: Classification[]) => {
      const n: [number, number, number] = [0, 0, 0];
      for (const i of idx) {
        const { planned } = await planRoute({ db, config }, requestOf(rows[i]!, 0.5), cs[i]!, NOW);
        const level = levelOf(planned.candidates[0]!.qualityTier);
        n[level] = n[level]! + 1;
      }
      return n.join(' / ');
    };
    console.log(`| ${label} | ${idx.length} | ${await tiers(byRules)} | ${await tiers(byModel)} |`);
  }

  // classify() one prompt at a time, as the routing activity calls it: with the trained classifier,
  // the model's predict() alone, classify() with the keyword rules, and the token count both
  // classify()s make for the size signals (the trained model does not read it). Each call its own
  // PASSES rounds over the workload after a warm-up, not interleaved: the token counter keeps recent
  // pieces, so a call right after another on the same text would find them counted.
  const calls: Array<[string, (r: CorpusRow) => unknown]> = [
    [
      `classify() with ${model.version}`,
      (r) => classify({ operation: 'chat', messages: messagesOf(r), maxOutputTokens: OUT }, trained),
    ],
    [`predict() of ${model.version} alone`, (r) => predict(model, r.text)],
    [
      `classify() with ${RULES_VERSION}`,
      (r) => classify({ operation: 'chat', messages: messagesOf(r), maxOutputTokens: OUT }),
    ],
    ['countMessageTokens() alone (the size signal both classify()s compute)', (r) => countMessageTokens(messagesOf(r))],
  ];
  const load0 = os.loadavg()[0]!;
  // Wall-clock time, and this process's CPU time (user + system): on a busy shared machine the
  // wall-clock tail includes slices the scheduler gave other processes mid-call; CPU time does not.
  const times = calls.map(([, f]) => {
    for (const r of rows.slice(0, 200)) f(r);
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let pass = 0; pass < PASSES; pass++)
      for (const r of rows) {
        const c = process.cpuUsage();
        const s = process.hrtime.bigint();
        f(r);
        wall.push(Number(process.hrtime.bigint() - s) / 1e6);
        const d = process.cpuUsage(c);
        cpu.push((d.user + d.system) / 1e3);
      }
    return { wall: wall.sort((a, b) => a - b), cpu: cpu.sort((a, b) => a - b) };
  });
  const chars = rows.map((r) => r.text.length).sort((a, b) => a - b);
  console.log(
    `\nClassification latency: ${PASSES} × ${rows.length} prompts (median ${chars[chars.length >> 1]} chars, ` +
      `${rows.filter((r) => r.text.length >= 2000).length} of ${rows.length} ≥ 2,000 chars, max ${chars[chars.length - 1]}); ` +
      `${os.cpus().length} CPUs, load average ${load0.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)}:\n`,
  );
  console.log('| call | wall p50 | wall p90 | wall p99 | wall max | CPU p50 | CPU p99 |');
  console.log('|---|---|---|---|---|---|---|');
  calls.forEach(([name], k) => {
    const { wall, cpu } = times[k]!;
    console.log(
      `| ${name} | ${ms(quantile(wall, 0.5))} | ${ms(quantile(wall, 0.9))} | ${ms(quantile(wall, 0.99))} | ` +
        `${ms(wall[wall.length - 1]!)} | ${ms(quantile(cpu, 0.5))} | ${ms(quantile(cpu, 0.99))} |`,
    );
  });

  if (process.env.BUNDLE !== '0') {
    const { buildWorkflowBundle } = await import('../src/start/worker');
    const started = performance.now();
    const bytes = Buffer.byteLength((await buildWorkflowBundle()).code);
    console.log(
      `\nWorkflow bundle: ${(bytes / 1e6).toFixed(2)} MB (${(bytes / 1024 / 1024).toFixed(2)} MiB, ${bytes} bytes; built in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
