/**
 * `POST /v1/route`: the routing decision for a chat request, without calling any model.
 * `POST /v1/policy/replay` (admin): a proposed configuration evaluated against the last N recorded
 * requests — what would route differently, the cost delta, residency changes, and the cost of the
 * same traffic at each setting of the cost–quality dial.
 *
 * Classifier versions: the dry run classifies with the current classifier (or the version
 * `X-Switchyard-Classifier-Version` names); a replay uses each record's classification, made by
 * the version it was decided with (`rules-1` for records from before versions were kept), unless
 * `classifierVersion` asks for another (`current`, `rules-1`, or a model's version).
 */
import { z } from 'zod';
import type { ConfigStore } from '../../services/configStore';
import { ConfigValidationError, validateConfig } from '../../services/configStore';
import type { Db } from '../../db';
import type { HealthPort } from '../../services/healthPort';
import { planRoute } from '../../services/routePlan';
import { classifierFor, classifyStored, UnknownClassifierVersionError } from '../../services/classifiers';
import { classifierVersions } from '../../services/classifierModels';
import { classifyFromCache } from '../../services/llmClassifier';
import type { Catalog } from '../../domain/catalog';
import { boundIssues } from '../../domain/configBounds';
import { ChatCompletionRequestSchema } from '../../domain/chat';
import { classify, RULES_VERSION, type Classification, type Classifier } from '../../domain/classify';
import { operatorOnlyRules, UnknownModelError, type PolicyInput } from '../../domain/policy';
import { Replayer, type RecordedDecision } from '../../domain/replay';
import { authOf, tenantFilterOf, tenantInScope } from '../auth';
import { HttpError } from '../errors';
import { chatRouteInput } from '../runRoute';
import { checkModel } from '../requestPath/run';
import { ADMIN_ERRORS, routeSpecs } from '../routeSpec';
import { readBody, validate } from '../validate';

export const ReplayRequest = z
  .object({
    /** The proposed configuration, whole (as exported by GET /v1/admin/config)… */
    config: z.unknown().optional(),
    /** …or changes to the current one, top-level keys replaced (e.g. just `rules`). */
    changes: z.record(z.string(), z.unknown()).optional(),
    limit: z.number().int().min(1).max(10_000).default(1_000),
    tenantId: z.string().optional(),
    /** One recorded request only (the console's "replay under the current configuration"). */
    requestId: z.string().min(1).max(256).optional(),
    /**
     * The classifier the records are replayed with: `recorded` (the default: the version each was
     * decided with), `current`, `rules-1` (the keyword rules), or a trained model's version.
     */
    classifierVersion: z.string().min(1).max(64).default('recorded'),
  })
  .strict();

/** The classifier a version names, or a 400 naming the field it came from. */
function classifierNamed(version: string, param: string): Classifier | undefined {
  try {
    return classifierFor(version);
  } catch (err) {
    // Named without the loader's message: it holds a path on the server.
    if (err instanceof UnknownClassifierVersionError)
      throw HttpError.invalid(
        `Invalid value for '${param}': unknown classifier version '${version}'. Use 'current', '${RULES_VERSION}' or one of: ${classifierVersions().join(', ') || '(no trained model installed)'}.`,
        { param, code: 'invalid_value' },
      );
    throw err;
  }
}

/** The longest a replay holds the event loop before it lets other work run. */
const REPLAY_SLICE_MS = 20;

export const policyRoutes = routeSpecs<{ db: Db; configStore: ConfigStore; health?: HealthPort }>([
  {
    method: 'post',
    path: '/v1/route',
    summary: 'The routing decision for a chat request, without a call',
    tag: 'routing',
    role: 'member',
    body: ChatCompletionRequestSchema,
    errors: [400, 401, 404],
    handle: async (deps, req, res) => {
      const { tenantId } = authOf(req);
      const body = readBody(req, ChatCompletionRequestSchema);
      const config = deps.configStore.current();
      // The workflow's decision step, minus the call and the record: the same plan function.
      const route = chatRouteInput(req, tenantId, body);
      // The same checks of `model` and `models` as a routed request's.
      checkModel({ configStore: deps.configStore }, route);
      const version = req.header('x-switchyard-classifier-version');
      const trained = classify(
        { operation: 'chat', messages: body.messages, maxOutputTokens: route.maxOutputTokens },
        classifierNamed(version ?? 'current', 'X-Switchyard-Classifier-Version'),
      );
      // The configured classifying model's cached answer, if any: the dry run calls no model.
      const classification = version
        ? trained
        : await classifyFromCache(deps.db, config.config, { tenantId, messages: body.messages }, trained);
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
          throw HttpError.notFound(err.message, { param: err.param, code: 'model_not_found' });
        throw err;
      }
    },
  },

  {
    method: 'post',
    path: '/v1/policy/replay',
    summary: 'A proposed configuration against recorded decisions',
    tag: 'policy',
    role: 'admin',
    body: ReplayRequest,
    // The store's checks: a pattern RE2 cannot run (400), matches by a non-operator (403), size (413).
    errors: [...ADMIN_ERRORS, 413],
    handle: async (deps, req, res) => {
      const r = validate(ReplayRequest, req.body ?? {});
      const reclassifying = r.classifierVersion !== 'recorded';
      // Checked before any work: an unknown version is the request's error.
      const classifier = reclassifying ? classifierNamed(r.classifierVersion, 'classifierVersion') : undefined;
      // An admin replays its own tenant's requests; an operator any tenant's, or all.
      const tenantId = r.tenantId ? tenantInScope(req, r.tenantId) : tenantFilterOf(req);
      const current = await deps.configStore.refresh();
      const proposed = validateConfig(r.config ?? { ...current.config, ...(r.changes ?? {}) });
      // The checks of storing that bear on a replay: the schema's (patterns included) above, the
      // bounds on rules and size, and the role's. (URLs and keys matter only once calls are made.)
      const bounds = boundIssues(proposed, current.config);
      if (bounds.length) throw new ConfigValidationError(bounds);
      const newRule = operatorOnlyRules(authOf(req).role, proposed.rules, current.config.rules)[0];
      if (newRule !== undefined)
        throw HttpError.forbidden("Only an operator may write rules with 'matches' (a regular expression).", {
          param: `${r.config ? 'config' : 'changes'}.rules[${newRule}].when`,
          code: 'operator_required',
        });

      const started = process.hrtime.bigint();
      const rows = await deps.db.query<{
        request_id: string;
        decision_input: PolicyInput;
        classification: Classification;
        decision: RecordedDecision['decision'];
        config_version: number;
        operation: string;
        body?: unknown;
      }>(
        // The bodies only when they are classified again.
        `select request_id, decision_input, classification, decision, config_version, operation${reclassifying ? ', body' : ''}
       from requests where decision_input is not null ${tenantId ? 'and tenant_id = $2' : ''}
       ${r.requestId ? `and request_id = $${tenantId ? 3 : 2}` : ''}
       order by created_at desc limit $1`,
        [r.limit, ...(tenantId ? [tenantId] : []), ...(r.requestId ? [r.requestId] : [])],
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
      const bodies = new Map(rows.rows.map((x) => [x.request_id, x]));
      // Another version: the stored request classified again (one whose body no longer parses
      // keeps its recorded classification, and its version is counted as such).
      const reclassify = reclassifying
        ? (rec: RecordedDecision): Classification | undefined => {
            const row = bodies.get(rec.requestId)!;
            try {
              return classifyStored(row.operation, row.body, classifier);
            } catch {
              return undefined;
            }
          }
        : undefined;
      // In slices, so the process keeps answering (/health, other tenants) through a long replay.
      const replayer = new Replayer(proposed, (v) => catalogs.get(v), { ...(reclassify && { reclassify }) });
      let slice = performance.now();
      for (const record of records) {
        replayer.add(record);
        if (performance.now() - slice < REPLAY_SLICE_MS) continue;
        await new Promise((resolve) => setImmediate(resolve));
        if (req.socket.destroyed) return; // the client has gone
        slice = performance.now();
      }
      const report = replayer.report();
      res.json({
        object: 'policy.replay',
        current_config_version: current.version,
        elapsed_ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
        classifier_version: r.classifierVersion,
        ...report,
      });
    },
  },
]);
