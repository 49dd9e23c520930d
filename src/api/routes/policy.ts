/**
 * `POST /v1/route`: the routing decision for a chat request, without calling any model.
 * `POST /v1/policy/replay` (admin): a proposed configuration evaluated against the last N recorded
 * requests — what would route differently, the cost delta, residency changes.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { ConfigStore } from '../../services/configStore';
import { validateConfig } from '../../services/configStore';
import type { Db } from '../../db';
import type { HealthPort } from '../../services/healthPort';
import { planRoute } from '../../services/routePlan';
import type { Catalog } from '../../domain/catalog';
import { ChatCompletionRequestSchema } from '../../domain/chat';
import { classify, type Classification } from '../../domain/classify';
import { UnknownModelError, type PolicyInput } from '../../domain/policy';
import { replay, type RecordedDecision } from '../../domain/replay';
import { authOf, requireAdmin, tenantFilterOf, tenantInScope } from '../auth';
import { HttpError } from '../errors';
import { chatRouteInput } from '../runRoute';
import { readBody, validate } from '../validate';

export const ReplayRequest = z
  .object({
    /** The proposed configuration, whole (as exported by GET /v1/admin/config)… */
    config: z.unknown().optional(),
    /** …or changes to the current one, top-level keys replaced (e.g. just `rules`). */
    changes: z.record(z.string(), z.unknown()).optional(),
    limit: z.number().int().min(1).max(10_000).default(1_000),
    tenantId: z.string().optional(),
  })
  .strict();

export function policyRoutes(deps: { db: Db; configStore: ConfigStore; health?: HealthPort }): Router {
  const router = Router();

  router.post('/v1/route', async (req, res) => {
    const { tenantId } = authOf(req);
    const body = readBody(req, ChatCompletionRequestSchema);
    const config = deps.configStore.current();
    // The workflow's decision step, minus the call and the record: the same plan function.
    const route = chatRouteInput(req, tenantId, body);
    const classification = classify({
      operation: 'chat',
      messages: body.messages,
      maxOutputTokens: route.maxOutputTokens,
    });
    const requestId = req.header('idempotency-key') ?? 'dry-run';
    try {
      const { planned } = await planRoute(
        { db: deps.db, config, health: deps.health },
        { ...route, requestId, tenantId },
        classification,
        new Date(),
      );
      res.json({ object: 'route.decision', config_version: config.version, classification, decision: planned });
    } catch (err) {
      if (err instanceof UnknownModelError)
        throw HttpError.notFound(err.message, { param: 'model', code: 'model_not_found' });
      throw err;
    }
  });

  router.post('/v1/policy/replay', requireAdmin, async (req, res) => {
    const r = validate(ReplayRequest, req.body ?? {});
    // An admin replays its own tenant's requests; an operator any tenant's, or all.
    const tenantId = r.tenantId ? tenantInScope(req, r.tenantId) : tenantFilterOf(req);
    const current = await deps.configStore.refresh();
    const proposed = validateConfig(r.config ?? { ...current.config, ...(r.changes ?? {}) });

    const started = process.hrtime.bigint();
    const rows = await deps.db.query<{
      request_id: string;
      decision_input: PolicyInput;
      classification: Classification;
      decision: RecordedDecision['decision'];
      config_version: number;
    }>(
      `select request_id, decision_input, classification, decision, config_version from requests
       where decision_input is not null ${tenantId ? 'and tenant_id = $2' : ''}
       order by created_at desc limit $1`,
      tenantId ? [r.limit, tenantId] : [r.limit],
    );
    const versions = [...new Set(rows.rows.map((x) => x.config_version))];
    const catalogs = new Map<number, Catalog>();
    if (versions.length) {
      // Only each version's catalog: a whole version can be megabytes, and there may be hundreds.
      const cfgs = await deps.db.query<{ version: number; catalog: Catalog }>(
        "select version, config->'catalog' as catalog from config_versions where version = any($1::int[])",
        [versions],
      );
      for (const c of cfgs.rows) catalogs.set(c.version, c.catalog);
    }
    const records: RecordedDecision[] = rows.rows.map((x) => ({
      requestId: x.request_id,
      input: x.decision_input,
      classification: x.classification,
      decision: x.decision,
      configVersion: x.config_version,
    }));
    const report = replay(records, proposed, (v) => catalogs.get(v));
    res.json({
      object: 'policy.replay',
      current_config_version: current.version,
      elapsed_ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
      ...report,
    });
  });

  return router;
}
