/**
 * The optional configured classifying model (`routing.classifier.llm`) on the held-out test split:
 * its accuracy and cost next to the trained classifier's, on the prompts it would be asked about
 * (the trained model's task-type or complexity confidence below the threshold) and on all of them
 * combined as routing combines them (its answer where it gave a valid one, else the trained one).
 *
 *   npm run eval:classifier -- --llm <baseURL> <model> [options]
 *
 * Options: `--kind openai` (the provider kind whose adapter is used: openai, openai-compatible,
 * anthropic, …), `--key-env NAME` (the variable holding the key; default OPENAI_API_KEY, or none),
 * `--below 0.6` (the threshold; `--all` asks about every prompt), `--limit N`, `--concurrency 4`,
 * `--timeout-ms 10000`, `--no-json` (no structured output), `--input-price P --output-price P`
 * ($ per million tokens, for the cost), `--split tune`, `--corpus file.jsonl`, `--version clf-…`.
 * Each call is made with the same instruction, answer schema and adapter as the worker's.
 */
import { predict, TASK_TYPES, COMPLEXITIES } from '../../src/domain/classifier/model';
import { formatReport, headReport } from '../../src/domain/classifier/metrics';
import {
  LLM_ANSWER_JSON_SCHEMA,
  LLM_MAX_ANSWER_TOKENS,
  llmMessages,
  parseLlmAnswer,
  type LlmAnswer,
} from '../../src/domain/llmClassifier';
import { toProviderFailure } from '../../src/providers/errors';
import { kindNamed } from '../../src/providers/kinds';
import type { ChatCallInput } from '../../src/providers/types';
import { loadClassifierModel } from '../../src/services/classifierModels';
import { readCorpus, splitOf, type CorpusRow, type Split } from './corpus';

export interface LlmEvalOptions {
  baseURL: string;
  model: string;
  kind: string;
  apiKey: string | null;
  below: number;
  all: boolean;
  limit?: number;
  concurrency: number;
  timeoutMs: number;
  json: boolean;
  inputPricePerMTok?: number;
  outputPricePerMTok?: number;
  split: Split;
  corpus: string[];
  version?: string;
}

interface Asked {
  row: CorpusRow;
  answer?: LlmAnswer;
  /** Why there is no answer: invalid output or the call's failure type. */
  error?: string;
  inputTokens: number;
  outputTokens: number;
  latencyMs: number;
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

const num = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} takes a number, not '${v}'`);
  return n;
};

/** The options from `--llm <baseURL> <model> …`; undefined without `--llm`. */
export function llmEvalOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): LlmEvalOptions | undefined {
  const at = argv.indexOf('--llm');
  if (at < 0) return undefined;
  const baseURL = argv[at + 1];
  const model = argv[at + 2];
  if (!baseURL || !model || baseURL.startsWith('--') || model.startsWith('--'))
    throw new Error('usage: npm run eval:classifier -- --llm <baseURL> <model> [--kind openai] [--key-env NAME] …');
  const keyEnv = flag(argv, 'key-env') ?? 'OPENAI_API_KEY';
  const kind = flag(argv, 'kind') ?? 'openai';
  if (!kindNamed(kind)) throw new Error(`--kind: no provider kind '${kind}'`);
  const inputPrice = num(flag(argv, 'input-price'), 'input-price');
  const outputPrice = num(flag(argv, 'output-price'), 'output-price');
  const limit = num(flag(argv, 'limit'), 'limit');
  const version = flag(argv, 'version');
  return {
    baseURL,
    model,
    kind,
    apiKey: env[keyEnv] || null,
    below: num(flag(argv, 'below'), 'below') ?? 0.6,
    all: argv.includes('--all'),
    ...(limit !== undefined && { limit }),
    concurrency: Math.max(1, num(flag(argv, 'concurrency'), 'concurrency') ?? 4),
    timeoutMs: num(flag(argv, 'timeout-ms'), 'timeout-ms') ?? 10_000,
    json: !argv.includes('--no-json'),
    ...(inputPrice !== undefined && { inputPricePerMTok: inputPrice }),
    ...(outputPrice !== undefined && { outputPricePerMTok: outputPrice }),
    split: (flag(argv, 'split') ?? 'test') as Split,
    corpus: argv.flatMap((a, i) => (a === '--corpus' && argv[i + 1] ? [argv[i + 1]!] : [])),
    ...(version !== undefined && { version }),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : 0;
};

/** Runs the evaluation, writing the report line by line to `log`. */
export async function evaluateLlm(o: LlmEvalOptions, log: (line: string) => void = console.log): Promise<void> {
  const model = loadClassifierModel(o.version);
  const corpus = await readCorpus(o.corpus);
  let rows = corpus.rows.filter((r) => splitOf(r) === o.split);
  if (o.limit !== undefined) rows = rows.slice(0, o.limit);
  const trained = rows.map((r) => predict(model, r.text));
  const unsure = rows.flatMap((r, i) => {
    const p = trained[i]!;
    return o.all || p.taskType.confidence < o.below || p.complexity.confidence < o.below ? [i] : [];
  });
  log(
    `${o.model} at ${o.baseURL} (kind ${o.kind}) on the ${o.split} split: ${rows.length} prompts, ` +
      `${unsure.length} asked (${o.all ? 'all' : `trained ${model.version} confidence below ${o.below}`})\n`,
  );

  const adapter = kindNamed(o.kind)!.create({
    providerId: 'eval',
    apiKey: o.apiKey,
    baseURL: o.baseURL,
    timeoutMs: o.timeoutMs,
  });
  const asked = new Map<number, Asked>();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < unsure.length) {
      const i = unsure[next++]!;
      const row = rows[i]!;
      const call: ChatCallInput = {
        model: o.model,
        messages: llmMessages(row.text),
        maxOutputTokens: LLM_MAX_ANSWER_TOKENS,
        temperature: 0,
        ...(o.json && {
          responseFormat: {
            type: 'json_schema' as const,
            json_schema: { name: 'prompt_label', strict: true, schema: { ...LLM_ANSWER_JSON_SCHEMA } },
          },
        }),
      };
      const started = Date.now();
      try {
        const out = await adapter.chat(call, { timeoutMs: o.timeoutMs });
        const parsed = parseLlmAnswer(out.content);
        asked.set(i, {
          row,
          ...(parsed.ok ? { answer: parsed.answer } : { error: `invalid: ${parsed.why}` }),
          inputTokens: out.inputTokens,
          outputTokens: out.outputTokens,
          latencyMs: Date.now() - started,
        });
      } catch (err) {
        const f = toProviderFailure(err, 'eval', o.model);
        asked.set(i, {
          row,
          error: `${f.type ?? 'Unknown'}: ${f.message}`,
          inputTokens: 0,
          outputTokens: 0,
          latencyMs: Date.now() - started,
        });
      }
      if (++done % 50 === 0) log(`  ${done}/${unsure.length} asked`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, Math.max(1, unsure.length)) }, worker));

  const answered = [...asked.values()].filter((a) => a.answer);
  const failures = new Map<string, number>();
  for (const a of asked.values())
    if (a.error) failures.set(a.error.split(':')[0]!, (failures.get(a.error.split(':')[0]!) ?? 0) + 1);
  log(
    `answers: ${answered.length} valid of ${asked.size}` +
      (failures.size ? ` (${[...failures].map(([k, n]) => `${n} ${k}`).join(', ')})` : ''),
  );
  const first = [...asked.values()].find((a) => a.error);
  if (first) log(`  first failure: ${first.error!.slice(0, 300)}`);

  for (const head of ['taskType', 'complexity'] as const) {
    const labels = head === 'taskType' ? TASK_TYPES : COMPLEXITIES;
    const truth = rows.map((r) => r[head]);
    const got = trained.map((p) => p[head].label as string);
    const combined = got.map((g, i) => asked.get(i)?.answer?.[head] ?? g);
    log(formatReport(`${head} — trained ${model.version}, all prompts`, headReport(labels, truth, got)));
    log(formatReport(`${head} — trained, with ${o.model} where asked`, headReport(labels, truth, combined)));
    const on = (xs: string[]) =>
      unsure.length ? unsure.filter((i) => xs[i] === truth[i]).length / unsure.length : Number.NaN;
    log(
      `  on the ${unsure.length} prompts asked: trained ${pct(on(got))}, ${o.model} ${pct(on(combined))}` +
        ` (a failed call counts as the trained answer)\n`,
    );
  }

  const outputTokens = [...asked.values()].reduce((n, a) => n + a.outputTokens, 0);
  const allInput = [...asked.values()].reduce((n, a) => n + a.inputTokens, 0);
  log(`tokens: ${allInput} in, ${outputTokens} out (${(allInput / Math.max(1, asked.size)).toFixed(0)} in per call)`);
  if (o.inputPricePerMTok !== undefined && o.outputPricePerMTok !== undefined) {
    const usd = (allInput * o.inputPricePerMTok + outputTokens * o.outputPricePerMTok) / 1e6;
    log(
      `cost: $${usd.toFixed(6)} for ${asked.size} calls ($${(usd / Math.max(1, asked.size)).toFixed(8)} per call; ` +
        `$${((usd / Math.max(1, rows.length)) * 1000).toFixed(6)} per 1,000 routed prompts at this split's ask rate ` +
        `${pct(unsure.length / Math.max(1, rows.length))})`,
    );
  } else log('cost: pass --input-price and --output-price ($ per million tokens) to price the tokens');
  const latencies = [...asked.values()].map((a) => a.latencyMs);
  log(`latency per call: p50 ${quantile(latencies, 0.5)} ms, p95 ${quantile(latencies, 0.95)} ms`);
}
