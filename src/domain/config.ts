/**
 * The routing configuration as one document: catalog, strategy, rules, overrides, tenant policies,
 * retry and fallback settings. It is versioned in Postgres (every change is a new version, so a
 * recorded decision names the version it was made with) and exported/imported whole.
 */
import { z } from 'zod';
import { CatalogSchema, ComplianceSchema, findModel, RegionSchema } from './catalog';
import { ClassifierSettingsSchema } from './llmClassifierSettings';
import { BreakerSettingsSchema } from './breakerSettings';
import { AlertSettingsSchema } from './alerts';
import { EventSettingsSchema } from './events';
import { TenantBudgetSchema } from './budget';
import { SettingsSchema } from './settings';
import { patternProblem, RULE_PATTERN } from './pattern';
import { FitModeSchema } from './fitMode';

export { COMPLIANCE_TAGS, REGIONS, RegionSchema, type Region } from './catalog';
export const STRATEGIES = ['auto', 'cost', 'quality', 'balanced', 'latency', 'round-robin'] as const;
export const StrategySchema = z.enum(STRATEGIES);
export type Strategy = z.infer<typeof StrategySchema>;

const id = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.:-]{0,63}$/, 'letters, digits and _ . : - (at most 64)');

/** Request attributes a rule can test; `metadata.<key>` reads the request's metadata. */
export const RULE_FIELDS = [
  'tenantId',
  'workspaceId',
  'userId',
  'region',
  'agentType',
  'subject',
  'gradeBand',
  'operation',
  /** The model the request names (its catalog id), or `auto`: for rules that apply to named models. */
  'requestedModel',
  'taskType',
  /** Under `auto`, the tier the cost–quality dial chose; otherwise the classifier's label. */
  'complexity',
  /** The classifier's label (its most likely class), whatever the dial chose. */
  'classifiedComplexity',
  'inputTokens',
] as const;

export const ConditionSchema = z
  .object({
    field: z.union([
      z.enum(RULE_FIELDS),
      z.string().regex(/^metadata\.[A-Za-z0-9_.-]{1,64}$/, 'a rule field or metadata.<key>'),
    ]),
    op: z.enum(['eq', 'ne', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'contains', 'matches']),
    value: z.union([z.string(), z.number(), z.array(z.union([z.string(), z.number()])).min(1)]),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.op === 'in' || c.op === 'nin') !== Array.isArray(c.value))
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `'${c.op}' ${c.op === 'in' || c.op === 'nin' ? 'needs' : 'does not take'} a list`,
      });
    if (['gt', 'gte', 'lt', 'lte'].includes(c.op) && typeof c.value !== 'number')
      ctx.addIssue({ code: 'custom', path: ['value'], message: `'${c.op}' needs a number` });
    // The one check of a rule's pattern, for storing and for replay alike: RE2, bounded (issue 28).
    const problem = c.op === 'matches' ? patternProblem(String(c.value), RULE_PATTERN) : undefined;
    if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: `'matches' pattern ${problem}` });
  });
export type Condition = z.infer<typeof ConditionSchema>;

/** Requests a rule or override applies to: asking for `auto`, naming a model, or either. */
export const AppliesToSchema = z.enum(['auto', 'named', 'any']);

export const RuleSchema = z
  .object({
    id,
    name: z.string().max(200).optional(),
    enabled: z.boolean().default(true),
    /** Lower runs first; the first rule whose conditions all hold (and has an eligible target) decides. */
    priority: z.number().int().default(100),
    when: z.array(ConditionSchema).default([]),
    targets: z.array(z.object({ model: z.string().min(1), weight: z.number().positive().optional() }).strict()).min(1),
    /** `ordered`: targets in the listed order. `weighted`: one picked by weight (a canary split), the rest follow. */
    split: z.enum(['ordered', 'weighted']).optional(),
    /** Weighted pick keyed by user instead of by request, so a user stays on one side of a split. */
    sticky: z.boolean().default(false),
    /** A tenant's own rule: it applies to that tenant's requests only (the rules a tenant's admin manages). */
    tenantId: z.string().min(1).max(64).optional(),
    /**
     * Which requests the rule applies to: `auto` (absent: the default), `named` (requests naming a
     * model: its targets lead, the named model follows), or `any`.
     */
    appliesTo: AppliesToSchema.optional(),
  })
  .strict();
export type Rule = z.infer<typeof RuleSchema>;

export const OverrideSchema = z
  .object({
    id,
    /** user > workspace > tenant: the most specific unexpired override wins. */
    scope: z.enum(['user', 'workspace', 'tenant']),
    /** The user, workspace or tenant id it applies to. */
    subject: z.string().min(1).max(200),
    /** For user and workspace overrides: the tenant they belong to (ids are per tenant). */
    tenantId: z.string().min(1).max(64).optional(),
    model: z.string().min(1),
    reason: z.string().max(500).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    /** As a rule's: `auto` (absent), `named` or `any` (then it pins a named request's model too). */
    appliesTo: AppliesToSchema.optional(),
  })
  .strict();
export type Override = z.infer<typeof OverrideSchema>;

const Restrictions = {
  allowedModels: z.array(z.string()).optional(),
  allowedProviders: z.array(z.string()).optional(),
  excludedProviders: z.array(z.string()).default([]),
};

export const TenantPolicySchema = z
  .object({
    /** Data residency for every request of the tenant (a request may only narrow it). */
    region: RegionSchema.optional(),
    compliance: z.array(ComplianceSchema).default([]),
    strategy: StrategySchema.optional(),
    /**
     * The cost–quality dial for the tenant's requests that do not set one (0 = the cheapest
     * acceptable tier, 1 = the best available); absent: `routing.defaultQuality`, else 0.5.
     */
    quality: z.number().min(0).max(1).optional(),
    /** The default for requests naming a model: `none` never answers them with another model. */
    substitution: z.enum(['none', 'allowed']).optional(),
    /**
     * Context fitting for the tenant's requests that do not set it (`X-Switchyard-Fit`,
     * `switchyard.fit`): `truncate`, `summarize` or `off` (absent: off, a 400 as before).
     */
    fit: FitModeSchema.optional(),
    ...Restrictions,
    workspaces: z.record(z.string(), z.object(Restrictions).strict()).default({}),
    /** Spend limits (per request, daily, weekly, monthly), for the tenant and its users. */
    budget: TenantBudgetSchema.optional(),
    /** Request limits: per key per minute, and routed requests in flight for the whole tenant. */
    limits: z
      .object({
        requestsPerMinute: z.number().int().positive().optional(),
        maxConcurrent: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type TenantPolicy = z.infer<typeof TenantPolicySchema>;

/**
 * A session's pin lives this long by default: the lifetime of Anthropic's default (ephemeral)
 * prompt cache, and the low end of OpenAI's automatic cache (5–10 minutes of inactivity).
 */
export const DEFAULT_SESSION_TTL_SECONDS = 300;

/**
 * The longest call the fast path takes by default: the default per-attempt timeout (60 s,
 * src/domain/settings.ts), so a plain request takes it. A local activity holds its workflow task,
 * which the SDK keeps alive past its timeout (10 s) by heartbeating it, three history events each
 * time; a deployment whose calls run longer keeps them regular activities.
 */
export const DEFAULT_FAST_PATH_MAX_CALL_MS = 60_000;

export const RoutingSchema = z
  .object({
    defaultStrategy: StrategySchema.default('auto'),
    /** The cost–quality dial for requests and tenants that set none (absent: 0.5). */
    defaultQuality: z.number().min(0).max(1).optional(),
    /** Weights of the balanced score: quality up, cost and latency down. */
    balancedWeights: z
      .object({ quality: z.number().min(0), cost: z.number().min(0), latency: z.number().min(0) })
      .strict()
      .default({ quality: 0.5, cost: 0.3, latency: 0.2 }),
    /**
     * Sessions that keep their provider's prompt cache: requests with the same session go to the
     * model that answered the last one while its pin lives (`ttlSeconds`, refreshed by each answer;
     * a provider's `promptCacheTtlSeconds` overrides it). Absent: on, 300 s.
     */
    sessions: z
      .object({
        enabled: z.boolean().default(true),
        ttlSeconds: z.number().int().min(1).max(86_400).default(DEFAULT_SESSION_TTL_SECONDS),
      })
      .strict()
      .optional(),
    /**
     * The classifier's optional second opinion: `llm` names a cheap catalog model that classifies
     * the prompts the trained classifier is unsure of. Absent: off.
     */
    classifier: ClassifierSettingsSchema.optional(),
    /**
     * The fast path (issue 24): a short, non-streamed call runs as a local activity in the
     * workflow's own task, not as a scheduled activity. "Short": its per-attempt timeout, or the
     * time left to the request's deadline, is at most `maxCallMs`. Absent: on, 60 s (the default
     * per-attempt timeout, so a plain request takes it; a deployment with longer timeouts does not).
     */
    fastPath: z
      .object({
        enabled: z.boolean().default(true),
        maxCallMs: z.number().int().min(100).max(600_000).default(DEFAULT_FAST_PATH_MAX_CALL_MS),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Whether the fast path is on, and the longest call it takes. */
export function fastPathOf(config: Pick<SwitchyardConfig, 'routing'>): { enabled: boolean; maxCallMs: number } {
  return {
    enabled: config.routing.fastPath?.enabled ?? true,
    maxCallMs: config.routing.fastPath?.maxCallMs ?? DEFAULT_FAST_PATH_MAX_CALL_MS,
  };
}

/** Whether sessions are on, and how long a pin lives unless its provider says otherwise. */
export function sessionsOf(config: Pick<SwitchyardConfig, 'routing'>): { enabled: boolean; ttlSeconds: number } {
  return {
    enabled: config.routing.sessions?.enabled ?? true,
    ttlSeconds: config.routing.sessions?.ttlSeconds ?? DEFAULT_SESSION_TTL_SECONDS,
  };
}

export const SwitchyardConfigSchema = SettingsSchema.extend({
  catalog: CatalogSchema,
  routing: RoutingSchema.default({
    defaultStrategy: 'auto',
    balancedWeights: { quality: 0.5, cost: 0.3, latency: 0.2 },
  }),
  rules: z.array(RuleSchema).default([]),
  overrides: z.array(OverrideSchema).default([]),
  tenants: z.record(z.string(), TenantPolicySchema).default({}),
  /** Circuit breakers, one per model endpoint (providerHealth workflows). */
  breakers: BreakerSettingsSchema.default(BreakerSettingsSchema.parse({})),
  /**
   * Operator alerts (src/domain/alerts.ts): webhooks, how often conditions are evaluated, the
   * latency objective and the rate-limit fraction. Absent: defaults, no webhooks (the console
   * still shows every alert).
   */
  alerts: AlertSettingsSchema.optional(),
  /** Usage events out (src/domain/events.ts): the sinks the outbox is delivered to. Absent: none. */
  events: EventSettingsSchema.optional(),
})
  .strict()
  .superRefine((c, ctx) => {
    const models = new Set(c.catalog.models.map((m) => m.id));
    const unique = (items: Array<{ id: string }>, path: string) => {
      const seen = new Set<string>();
      items.forEach((x, i) => {
        if (seen.has(x.id)) ctx.addIssue({ code: 'custom', path: [path, i, 'id'], message: `duplicate id '${x.id}'` });
        seen.add(x.id);
      });
    };
    unique(c.rules, 'rules');
    unique(c.overrides, 'overrides');
    c.rules.forEach((r, i) =>
      r.targets.forEach((t, j) => {
        if (!models.has(t.model))
          ctx.addIssue({
            code: 'custom',
            path: ['rules', i, 'targets', j, 'model'],
            message: `unknown model '${t.model}'`,
          });
      }),
    );
    // Fallback chains name catalog models (by id); a chain may not list its own model.
    Object.entries(c.fallback.chains ?? {}).forEach(([model, chain]) => {
      if (!models.has(model))
        ctx.addIssue({ code: 'custom', path: ['fallback', 'chains', model], message: `unknown model '${model}'` });
      chain.forEach((f, j) => {
        if (!models.has(f))
          ctx.addIssue({ code: 'custom', path: ['fallback', 'chains', model, j], message: `unknown model '${f}'` });
        else if (f === model)
          ctx.addIssue({
            code: 'custom',
            path: ['fallback', 'chains', model, j],
            message: `'${f}' cannot be its own fallback`,
          });
      });
    });
    // The classifying model: in the catalog, active, and a chat model.
    const llm = c.routing.classifier?.llm;
    if (llm) {
      const m = findModel(c.catalog, llm.model);
      const problem = !m
        ? `unknown model '${llm.model}' (a catalog id, provider/model, or a name the catalog has once)`
        : m.status === 'inactive'
          ? `model '${m.id}' is inactive`
          : !m.capabilities.includes('chat')
            ? `model '${m.id}' is not a chat model`
            : undefined;
      if (problem) ctx.addIssue({ code: 'custom', path: ['routing', 'classifier', 'llm', 'model'], message: problem });
    }
    c.overrides.forEach((o, i) => {
      if (!models.has(o.model))
        ctx.addIssue({ code: 'custom', path: ['overrides', i, 'model'], message: `unknown model '${o.model}'` });
      if (o.scope !== 'tenant' && !o.tenantId)
        ctx.addIssue({
          code: 'custom',
          path: ['overrides', i, 'tenantId'],
          message: `a ${o.scope} override needs tenantId`,
        });
    });
  });
export type SwitchyardConfig = z.infer<typeof SwitchyardConfigSchema>;
export type SwitchyardConfigInput = z.input<typeof SwitchyardConfigSchema>;
