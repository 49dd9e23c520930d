/**
 * Price sheets: prices and context windows from a JSON file, mapped onto the catalog, so prices
 * need not wait for a Switchyard release. Two shapes are read:
 *
 * - LiteLLM's `model_prices_and_context_window.json`: an object keyed by model name (`gpt-4o`,
 *   `azure/gpt-4o`, `gemini/gemini-2.5-flash`, `anthropic.claude-3-5-haiku-20241022-v1:0`), each
 *   with USD per token (`input_cost_per_token`, `output_cost_per_token`), `max_input_tokens`,
 *   `max_output_tokens`, `litellm_provider` and `mode`. `sample_spec` and unknown fields are
 *   ignored; `max_tokens` is validated but not read (LiteLLM's legacy field: the output limit if
 *   known, else the input limit, so it says neither for sure). Entries of a mode that is not text
 *   (image generation, audio, rerank…) price nothing here: their per-token prices mean other things.
 * - Switchyard's own: `{ models: [{ id, inputPricePerMTok?, outputPricePerMTok?, contextWindow?, maxOutputTokens? }] }`.
 *
 * Matching, per catalog model (instance `p` of kind `k`, model name `m`), the first rule that
 * finds entries wins:
 *   1. the catalog id exactly (`p/m`); for Bedrock also `bedrock/<p's region>/m`, for Azure
 *      `azure/<eu|us>/m` by the instance's residency (LiteLLM prices some regions apart);
 *   2. the model name `m` under a provider of kind `k` (LiteLLM's provider names mapped below,
 *      the primary name first: `gemini` before `vertex_ai-language-models`), or under a LiteLLM
 *      provider named like the instance (`groq` for an instance `groq`, `together_ai` for
 *      `together`): how an OpenAI-compatible instance's models are found;
 *   3. the bare model name `m`, whichever provider; not for a self-hosted kind (`openai-compatible`,
 *      `huggingface`): a vLLM serving `llama-3.3-70b` is not priced by another host's entry, nor given
 *      its smaller context window (routing would then skip the model for longer prompts).
 * A name is the sheet's key without its provider prefix (`azure/gpt-4o` → `gpt-4o`). Entries a
 * rule finds must agree on every value, or the model is ambiguous and left as it is. The
 * built-in simulator's models are matched by their exact id only.
 */
import { z } from 'zod';
import { kindOf, residencyOf, type Catalog, type Model, type Provider } from './catalog';

/** The catalog fields a sheet sets. */
export const PRICE_FIELDS = ['inputPricePerMTok', 'outputPricePerMTok', 'contextWindow', 'maxOutputTokens'] as const;
export type PriceField = (typeof PRICE_FIELDS)[number];
export type PriceValues = Partial<Record<PriceField, number>>;

export interface SheetEntry {
  /** The name as the sheet gives it (its key, or `id`). */
  name: string;
  /** The model name without a provider prefix. */
  model: string;
  /** The Switchyard kind the entry's provider is (LiteLLM's provider mapped, or our own prefix). */
  kind?: string;
  /** 0: the kind's own API; 1: another route to the same models (Vertex for Gemini). */
  rank: number;
  /** Instance ids the entry's provider may go by (`groq`; `together` and `together-ai` for `together_ai`). */
  sources: string[];
  values: PriceValues;
}

export interface PriceSheet {
  format: 'litellm' | 'switchyard';
  entries: SheetEntry[];
}

export interface SheetIssue {
  /** Where in the body: `models[2].contextWindow`, `["gpt-4o"].input_cost_per_token`. */
  path: string;
  message: string;
}

export type ParsedSheet = { ok: true; sheet: PriceSheet } | { ok: false; issues: SheetIssue[] };

/** LiteLLM's provider names → our kinds; rank 1 for a second route to the same models. */
const LITELLM_PROVIDERS: Record<string, { kind: string; rank: number }> = {
  openai: { kind: 'openai', rank: 0 },
  'text-completion-openai': { kind: 'openai', rank: 1 },
  anthropic: { kind: 'anthropic', rank: 0 },
  azure: { kind: 'azure-openai', rank: 0 },
  azure_text: { kind: 'azure-openai', rank: 1 },
  bedrock: { kind: 'bedrock', rank: 0 },
  bedrock_converse: { kind: 'bedrock', rank: 0 },
  gemini: { kind: 'google', rank: 0 },
  'vertex_ai-language-models': { kind: 'google', rank: 1 },
  huggingface: { kind: 'huggingface', rank: 0 },
};

/** LiteLLM modes whose per-token prices are for text in and out. */
const TEXT_MODES = new Set(['chat', 'completion', 'responses', 'embedding']);

/** Prices per token → per million tokens, without float noise (2.5e-6 × 1e6 is 2.4999999999999996). */
export const perMillion = (perToken: number): number => Number((perToken * 1_000_000).toPrecision(12));

const usdPerToken = z.number().nonnegative().nullish();
const tokens = z.number().int().nonnegative().nullish();
/** One LiteLLM entry: what we read, type-checked; anything else it has is ignored. */
const LiteLlmEntry = z.object({
  input_cost_per_token: usdPerToken,
  output_cost_per_token: usdPerToken,
  max_input_tokens: tokens,
  max_output_tokens: tokens,
  max_tokens: tokens,
  litellm_provider: z.string().max(200).nullish(),
  mode: z.string().max(200).nullish(),
});

const OwnEntry = z
  .object({
    id: z.string().min(1).max(300),
    inputPricePerMTok: z.number().nonnegative().optional(),
    outputPricePerMTok: z.number().nonnegative().optional(),
    contextWindow: z.number().int().positive().optional(),
    maxOutputTokens: z.number().int().positive().optional(),
  })
  .strict()
  .refine((e) => PRICE_FIELDS.some((f) => e[f] !== undefined), {
    message: 'sets none of inputPricePerMTok, outputPricePerMTok, contextWindow, maxOutputTokens',
  });
const OwnSheet = z.object({ models: z.array(OwnEntry).min(1, 'lists no models') }).strict();

/** A body path: `models[0].id`, `azure/gpt-4o.mode`; a key with a dot quoted: `["anthropic.claude-…"].mode`. */
export function sheetPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((acc, p) => {
    if (typeof p === 'number') return `${acc}[${p}]`;
    const key = String(p);
    // Model names' slashes and colons read plainly; a dot would read as a step into the entry.
    if (/^[A-Za-z_$][\w$/:-]*$/.test(key)) return acc ? `${acc}.${key}` : key;
    return `${acc}[${JSON.stringify(key)}]`;
  }, '');
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Reads a sheet in either shape; every problem with its path (at most 20). */
export function parsePriceSheet(raw: unknown): ParsedSheet {
  if (!isObject(raw))
    return {
      ok: false,
      issues: [
        {
          path: '',
          message:
            "a price sheet is a JSON object: LiteLLM's, keyed by model name, or { models: [{ id, inputPricePerMTok, … }] }",
        },
      ],
    };
  return Array.isArray(raw.models) ? parseOwn(raw) : parseLiteLlm(raw);
}

function parseOwn(raw: Record<string, unknown>): ParsedSheet {
  const parsed = OwnSheet.safeParse(raw);
  if (!parsed.success)
    return {
      ok: false,
      issues: parsed.error.issues.slice(0, 20).map((i) => ({
        path: sheetPath(i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]!] : i.path),
        message: i.code === 'unrecognized_keys' ? 'is not a field of a price sheet entry' : i.message,
      })),
    };
  const entries = parsed.data.models.map((e): SheetEntry => {
    const slash = e.id.indexOf('/');
    const prefix = slash > 0 ? e.id.slice(0, slash) : undefined;
    const values: PriceValues = {};
    for (const f of PRICE_FIELDS) if (e[f] !== undefined) values[f] = Number(e[f].toPrecision(12));
    return {
      name: e.id,
      model: prefix ? e.id.slice(slash + 1) : e.id,
      ...(prefix && { kind: prefix }),
      rank: 0,
      sources: prefix ? [prefix] : [],
      values,
    };
  });
  return { ok: true, sheet: { format: 'switchyard', entries } };
}

function parseLiteLlm(raw: Record<string, unknown>): ParsedSheet {
  const issues: SheetIssue[] = [];
  const entries: SheetEntry[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (name === 'sample_spec') continue;
    if (issues.length >= 20) break;
    if (!isObject(value)) {
      issues.push({ path: sheetPath([name]), message: 'a model entry is an object' });
      continue;
    }
    const parsed = LiteLlmEntry.safeParse(value);
    if (!parsed.success) {
      for (const i of parsed.error.issues) issues.push({ path: sheetPath([name, ...i.path]), message: i.message });
      continue;
    }
    const e = parsed.data;
    if (e.mode && !TEXT_MODES.has(e.mode)) {
      entries.push({ name, model: name, rank: 0, sources: [], values: {} });
      continue;
    }
    const provider = e.litellm_provider ?? undefined;
    const mapped = provider ? LITELLM_PROVIDERS[provider] : undefined;
    const values: PriceValues = {};
    if (typeof e.input_cost_per_token === 'number') values.inputPricePerMTok = perMillion(e.input_cost_per_token);
    if (typeof e.output_cost_per_token === 'number') values.outputPricePerMTok = perMillion(e.output_cost_per_token);
    if (e.max_input_tokens) values.contextWindow = e.max_input_tokens;
    if (e.max_output_tokens) values.maxOutputTokens = e.max_output_tokens;
    entries.push({
      name,
      model: withoutPrefix(name, provider),
      ...(mapped && { kind: mapped.kind }),
      rank: mapped?.rank ?? 0,
      sources: provider ? sourcesOf(provider) : [],
      values,
    });
  }
  if (issues.length) return { ok: false, issues };
  if (!entries.length) return { ok: false, issues: [{ path: '', message: 'the price sheet lists no models' }] };
  return { ok: true, sheet: { format: 'litellm', entries } };
}

/**
 * LiteLLM's key without its route prefix: `azure/gpt-4o` → `gpt-4o`; `vertex_ai/claude-…` (provider
 * `vertex_ai-anthropic_models`) → `claude-…`. A prefix that is not the provider's (`1024-x-1024/…`) stays.
 */
function withoutPrefix(name: string, provider: string | undefined): string {
  const slash = name.indexOf('/');
  if (slash <= 0 || !provider) return name;
  const prefix = name.slice(0, slash);
  const ofProvider =
    prefix === provider ||
    provider.startsWith(`${prefix}_`) ||
    provider.startsWith(`${prefix}-`) ||
    (prefix === 'bedrock' && provider === 'bedrock_converse');
  return ofProvider ? name.slice(slash + 1) : name;
}

/** The instance ids a LiteLLM provider name may go by: `together_ai` → together_ai, together-ai, together. */
function sourcesOf(provider: string): string[] {
  return [...new Set([provider, provider.replace(/_/g, '-'), provider.replace(/[_-]ai$/, '')])];
}

export interface PriceChange {
  id: string;
  field: PriceField;
  before: number;
  after: number;
}

export interface SheetMapping {
  /** Every field that changes, model by model in catalog order. */
  updated: PriceChange[];
  /** Which sheet entry priced each matched model. */
  matched: Array<{ id: string; name: string }>;
  /** Models several disagreeing entries could price: left as they are. */
  ambiguous: Array<{ id: string; names: string[] }>;
  /** The sheet's names that priced no model, in sheet order. */
  unmatched: string[];
}

/** Kinds whose instances may serve any model on their own terms: no bare-name match (rule 3). */
const SELF_HOSTED_KINDS = new Set(['openai-compatible', 'huggingface']);

const agree = (a: SheetEntry, b: SheetEntry) => PRICE_FIELDS.every((f) => a.values[f] === b.values[f]);

/** The entries of the first rule that finds any, for one catalog model. */
function candidatesFor(model: Model, provider: Provider, index: SheetIndex): SheetEntry[] {
  const exactNames = [model.id];
  const kind = kindOf(provider);
  if (kind === 'bedrock' && provider.region) exactNames.push(`bedrock/${provider.region}/${model.model}`);
  const residency = residencyOf(provider);
  if (kind === 'azure-openai' && (residency === 'EU' || residency === 'US'))
    exactNames.push(`azure/${residency.toLowerCase()}/${model.model}`);
  const exact = exactNames.flatMap((n) => index.byName.get(n) ?? []);
  if (exact.length || provider.simulated) return exact;
  const named = index.byModel.get(model.model) ?? [];
  const ofKind = named.filter((e) => e.kind === kind || e.sources.includes(provider.id));
  if (ofKind.length) {
    const best = Math.min(...ofKind.map((e) => e.rank));
    return ofKind.filter((e) => e.rank === best);
  }
  if (SELF_HOSTED_KINDS.has(kind)) return [];
  return [...named, ...(index.byName.get(model.model) ?? []).filter((e) => !named.includes(e))];
}

interface SheetIndex {
  byName: Map<string, SheetEntry[]>;
  byModel: Map<string, SheetEntry[]>;
}

function indexOf(sheet: PriceSheet): SheetIndex {
  const byName = new Map<string, SheetEntry[]>();
  const byModel = new Map<string, SheetEntry[]>();
  for (const e of sheet.entries) {
    if (!Object.keys(e.values).length) continue; // prices nothing (a non-text mode, or no field we read)
    byName.set(e.name, [...(byName.get(e.name) ?? []), e]);
    byModel.set(e.model, [...(byModel.get(e.model) ?? []), e]);
  }
  return { byName, byModel };
}

/** What a sheet changes in a catalog (nothing is changed here: `applyPriceChanges` does). */
export function mapPriceSheet(catalog: Catalog, sheet: PriceSheet): SheetMapping {
  const index = indexOf(sheet);
  const providers = new Map(catalog.providers.map((p) => [p.id, p]));
  const used = new Set<string>();
  const mapping: SheetMapping = { updated: [], matched: [], ambiguous: [], unmatched: [] };
  for (const model of catalog.models) {
    const provider = providers.get(model.provider);
    if (!provider) continue;
    const found = candidatesFor(model, provider, index);
    if (!found.length) continue;
    const names = [...new Set(found.map((e) => e.name))];
    if (!found.every((e) => agree(e, found[0]!))) {
      mapping.ambiguous.push({ id: model.id, names });
      continue;
    }
    names.forEach((n) => used.add(n));
    mapping.matched.push({ id: model.id, name: names[0]! });
    for (const field of PRICE_FIELDS) {
      const after = found[0]!.values[field];
      if (after !== undefined && after !== model[field])
        mapping.updated.push({ id: model.id, field, before: model[field], after });
    }
  }
  mapping.unmatched = [...new Set(sheet.entries.map((e) => e.name))].filter((n) => !used.has(n));
  return mapping;
}

/** The catalog with the changes made (models not named are the same objects). */
export function applyPriceChanges<C extends Pick<Catalog, 'models'>>(catalog: C, changes: PriceChange[]): C {
  if (!changes.length) return catalog;
  const byId = new Map<string, PriceValues>();
  for (const c of changes) byId.set(c.id, { ...byId.get(c.id), [c.field]: c.after });
  return { ...catalog, models: catalog.models.map((m) => (byId.has(m.id) ? { ...m, ...byId.get(m.id) } : m)) };
}
