/**
 * `POST /v1/admin/catalog/prices` (operator): imports prices and context windows from a price
 * sheet (LiteLLM's `model_prices_and_context_window.json`, or our own `{ models: [...] }`; the
 * shapes and the matching rules are in src/domain/priceSheet.ts). `?dryRun=true` answers what
 * would change and stores nothing. Otherwise the changes are one new configuration version
 * (If-Match honoured, as every configuration write) and one audit row with each changed field's
 * value before and after. A sheet that changes nothing writes no version.
 *
 * LiteLLM's sheet is about 1.5 MB: within the API's 4 MiB JSON body limit (src/api/app.ts), and
 * smaller still sent gzip-compressed (`Content-Encoding: gzip`).
 */
import { z } from 'zod';
import { recordAudit } from '../../db/audit';
import type { Db } from '../../db';
import {
  applyPriceChanges,
  mapPriceSheet,
  parsePriceSheet,
  type PriceChange,
  type SheetMapping,
} from '../../domain/priceSheet';
import { ConfigConflictError, type ConfigStore } from '../../services/configStore';
import { actorOf } from '../auth';
import { HttpError } from '../errors';
import { expectedVersion, tagVersion } from '../ifMatch';
import { CONFIG_WRITE_ERRORS, routeSpecs } from '../routeSpec';
import { validate } from '../validate';

export const PricesQuery = z.object({
  dryRun: z.enum(['true', 'false']).optional().meta({ description: '`true`: answer what would change, store nothing' }),
});

const priceChange = z.object({
  id: z.string(),
  field: z.enum(['inputPricePerMTok', 'outputPricePerMTok', 'contextWindow', 'maxOutputTokens']),
  before: z.number(),
  after: z.number(),
});
/** A price sheet: LiteLLM's (keyed by model name) or Switchyard's own list (src/domain/priceSheet.ts). */
const priceSheetBody = z.union([
  z.object({
    models: z.array(
      z.object({
        id: z.string(),
        inputPricePerMTok: z.number().optional(),
        outputPricePerMTok: z.number().optional(),
        contextWindow: z.number().int().optional(),
        maxOutputTokens: z.number().int().optional(),
      }),
    ),
  }),
  z.record(
    z.string(),
    z.object({
      input_cost_per_token: z.number().optional(),
      output_cost_per_token: z.number().optional(),
      max_input_tokens: z.number().int().optional(),
      max_output_tokens: z.number().int().optional(),
      litellm_provider: z.string().optional(),
      mode: z.string().optional(),
    }),
  ),
]);
const priceImport = z.object({
  format: z.enum(['litellm', 'switchyard']),
  dryRun: z.boolean(),
  /** Whether a new configuration version was written. */
  stored: z.boolean(),
  updated: z.array(priceChange),
  matched: z.array(z.object({ id: z.string(), name: z.string() })),
  ambiguous: z.array(z.object({ id: z.string(), names: z.array(z.string()) })),
  unmatched: z.array(z.string()),
  version: z.number().int(),
});
/** Each changed model's fields, as the audit row keeps them. */
const fieldsOf = (changes: PriceChange[], side: 'before' | 'after') => {
  const out: Record<string, Record<string, number>> = {};
  for (const c of changes) (out[c.id] ??= {})[c.field] = c[side];
  return out;
};

export const catalogPriceRoutes = routeSpecs<{ configStore: ConfigStore; db: Db }>([
  {
    method: 'post',
    path: '/v1/admin/catalog/prices',
    summary:
      "Import prices and context windows from a price sheet (LiteLLM's model_prices_and_context_window.json, or { models: [...] }); ?dryRun=true changes nothing",
    tag: 'policy',
    role: 'operator',
    query: PricesQuery,
    body: priceSheetBody,
    response: priceImport,
    errors: CONFIG_WRITE_ERRORS,
    handle: async (deps, req, res) => {
      const store = deps.configStore;
      const dryRun = validate(PricesQuery, req.query).dryRun === 'true';
      if (req.body === undefined)
        throw HttpError.invalid('The price sheet must be JSON, sent with "Content-Type: application/json".', {
          code: 'invalid_json',
        });
      const parsed = parsePriceSheet(req.body);
      if (!parsed.ok) {
        const [first] = parsed.issues;
        const more = parsed.issues.length > 1 ? ` (and ${parsed.issues.length - 1} more)` : '';
        throw HttpError.invalid(`Invalid price sheet at '${first!.path || 'body'}': ${first!.message}${more}`, {
          param: first!.path || null,
          code: 'invalid_value',
          extra: { issues: parsed.issues },
        });
      }
      const { sheet } = parsed;
      const opts = expectedVersion(req);
      // What the write would change, on the stored configuration (a write never stores a process's overlay).
      const stored = await store.storedCurrent();
      const preview = mapPriceSheet(stored.config.catalog, sheet);
      const answer = (m: SheetMapping, version: number, stored: boolean) => {
        tagVersion(res, version);
        return res.json({
          object: 'catalog.prices',
          format: sheet.format,
          dryRun,
          stored,
          updated: m.updated,
          matched: m.matched,
          ambiguous: m.ambiguous,
          unmatched: m.unmatched,
          version,
        });
      };
      if (dryRun || !preview.updated.length) {
        if (opts.expectedVersion !== undefined && opts.expectedVersion !== stored.version)
          throw new ConfigConflictError(opts.expectedVersion, stored.version);
        return answer(preview, stored.version, false);
      }
      // Computed again on the version the write lands on (after a conflict, on the newer one).
      let mapping = preview;
      const v = await store.update((c) => {
        mapping = mapPriceSheet(c.catalog, sheet);
        return { ...c, catalog: applyPriceChanges(c.catalog, mapping.updated) };
      }, opts);
      await recordAudit(deps.db, {
        actor: actorOf(req),
        action: 'catalog.prices',
        target: `version ${v.version}`,
        before: { models: fieldsOf(mapping.updated, 'before') },
        after: { format: sheet.format, models: fieldsOf(mapping.updated, 'after') },
      });
      return answer(mapping, v.version, true);
    },
  },
]);
