/**
 * Operator alerts as episodes (issue 25). A condition (a breaker open, a budget window past its
 * threshold, p95 latency over its objective, a key near its rate limit) opens an episode once when
 * it starts and resolves it when it ends; while open it is never raised again, so each webhook
 * hears of an episode at most once when it opens and once when it resolves. The database enforces
 * "once" (one open row per kind and subject, src/db/migrations/018_alerts.sql); this file is the
 * pure part: the settings, which conditions hold, and what to open and resolve.
 */
import { z } from 'zod';

export const ALERT_KINDS = [
  'provider_down',
  'budget_threshold',
  'budget_exhausted',
  'latency_slo',
  'rate_limit_near',
] as const;
export const AlertKindSchema = z.enum(ALERT_KINDS);
export type AlertKind = z.infer<typeof AlertKindSchema>;
export type Severity = 'critical' | 'warning';

/** Provider and latency alerts are the operator's; budget and rate-limit alerts are also their tenant's. */
export const TENANT_KINDS: readonly AlertKind[] = ['budget_threshold', 'budget_exhausted', 'rate_limit_near'];

export const SEVERITY: Record<AlertKind, Severity> = {
  provider_down: 'critical',
  budget_exhausted: 'critical',
  budget_threshold: 'warning',
  latency_slo: 'warning',
  rate_limit_near: 'warning',
};

const ObjectiveSchema = z
  .object({
    p95Ms: z.number().int().min(1).max(3_600_000).optional(),
    minRequests: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

export const AlertWebhookSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    /** The kinds sent to it (absent: every kind). */
    kinds: z.array(AlertKindSchema).min(1).optional(),
    /**
     * The name of an environment variable of the worker holding the HMAC-SHA256 key of the
     * `X-Switchyard-Signature` header (a name, not the key: the configuration is exported whole).
     */
    secretName: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'an environment variable name (A-Z, 0-9, _)')
      .optional(),
  })
  .strict();
export type AlertWebhook = z.infer<typeof AlertWebhookSchema>;

export const AlertSettingsSchema = z
  .object({
    webhooks: z.array(AlertWebhookSchema).max(20).default([]),
    /** How often the alert monitor looks at every condition (default 15 s). */
    evaluateEverySeconds: z.number().int().min(1).max(3_600).default(15),
    latencyObjective: z
      .object({
        /** p95 of a provider/model's requests over the last window above this: `latency_slo`. */
        p95Ms: z.number().int().min(1).max(3_600_000).default(10_000),
        windowMinutes: z.number().int().min(1).max(1_440).default(5),
        /** Fewer requests than this in the window: too few to judge. */
        minRequests: z.number().int().min(1).max(1_000_000).default(20),
        /** Per provider id or provider/model: its own objective (the most specific wins). */
        overrides: z.record(z.string(), ObjectiveSchema).default({}),
      })
      .strict()
      .default({ p95Ms: 10_000, windowMinutes: 5, minRequests: 20, overrides: {} }),
    /** A key's use of its requests-per-minute limit at or above this fraction: `rate_limit_near`. */
    rateLimitNearFraction: z.number().gt(0).max(1).default(0.9),
  })
  .strict();
export type AlertSettings = z.infer<typeof AlertSettingsSchema>;
export const DEFAULT_ALERT_SETTINGS: AlertSettings = AlertSettingsSchema.parse({});

/** A condition that holds now: what an episode is opened with. */
export interface AlertCondition {
  kind: AlertKind;
  subject: string;
  tenantId: string | null;
  summary: string;
  details: Record<string, unknown>;
}

/** An open episode, as stored. */
export interface OpenAlert {
  id: string;
  kind: AlertKind;
  subject: string;
  details: Record<string, unknown>;
}

/**
 * What to open and what to resolve: a condition with no open episode opens one; an open episode
 * of a kind that was evaluated whose condition no longer holds resolves. Kinds not evaluated this
 * time (a query that failed) keep their episodes as they are.
 */
export function reconcile(
  open: OpenAlert[],
  holding: AlertCondition[],
  evaluated: readonly AlertKind[],
): { toOpen: AlertCondition[]; toResolve: OpenAlert[] } {
  const key = (a: { kind: string; subject: string }) => `${a.kind}\u0000${a.subject}`;
  const openKeys = new Set(open.map(key));
  const holdingKeys = new Set(holding.map(key));
  const seen = new Set<string>();
  const toOpen = holding.filter((c) => {
    const k = key(c);
    if (openKeys.has(k) || seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const toResolve = open.filter((a) => evaluated.includes(a.kind) && !holdingKeys.has(key(a)));
  return { toOpen, toResolve };
}

/**
 * A breaker not closed: open (tripped or forced) or half-open (probing: not serving as it should
 * yet, and counting it as down keeps one episode from flapping open/resolved while it recovers).
 */
export function breakerConditions(
  breakers: Array<{ endpoint: string; status: string; forced?: { status: string; reason?: string } }>,
) {
  return breakers
    .filter((b) => b.status === 'open' || b.status === 'half-open')
    .map((b): AlertCondition => {
      const forced = b.forced?.status === 'open';
      return {
        kind: 'provider_down',
        subject: b.endpoint,
        tenantId: null,
        summary: `Provider endpoint ${b.endpoint} is down: its circuit breaker is ${forced ? 'forced open' : b.status}.`,
        details: {
          endpoint: b.endpoint,
          breaker: b.status,
          forced,
          ...(forced && b.forced?.reason && { reason: b.forced.reason }),
        },
      };
    });
}

export interface BudgetWindowUse {
  tenantId: string;
  scope: string;
  period: string;
  windowStart: string;
  windowEnd: string;
  limitUsd: number;
  spentUsd: number;
}

/** The subject of a window's budget alerts: scope, period and window start. */
export const budgetSubject = (w: Pick<BudgetWindowUse, 'scope' | 'period' | 'windowStart'>) =>
  `${w.scope}/${w.period}/${w.windowStart}`;

/**
 * Current windows past their tenant's threshold (`budget_threshold`) and at or over their limit
 * (`budget_exhausted`): both hold for an exhausted window, so each is raised once. A window that
 * rolled over is not current, so its episodes resolve.
 */
export function budgetConditions(windows: BudgetWindowUse[], thresholdOf: (tenantId: string) => number | undefined) {
  const out: AlertCondition[] = [];
  for (const w of windows) {
    const threshold = thresholdOf(w.tenantId);
    if (threshold === undefined || w.limitUsd <= 0) continue;
    const used = w.spentUsd / w.limitUsd;
    const details = { ...w, threshold, usedFraction: Math.round(used * 10_000) / 10_000 };
    const pct = Math.round(used * 100);
    const what = `${w.period} budget of ${w.scope} (window from ${w.windowStart})`;
    if (used >= threshold)
      out.push({
        kind: 'budget_threshold',
        subject: budgetSubject(w),
        tenantId: w.tenantId,
        summary: `The ${what} is ${pct}% spent, past its ${Math.round(threshold * 100)}% alert threshold.`,
        details,
      });
    if (used >= 1)
      out.push({
        kind: 'budget_exhausted',
        subject: budgetSubject(w),
        tenantId: w.tenantId,
        summary: `The ${what} is exhausted: $${w.spentUsd} spent of $${w.limitUsd}.`,
        details,
      });
  }
  return out;
}

export interface LatencyStat {
  provider: string;
  model: string;
  count: number;
  p95Ms: number;
}

/** A provider/model's endpoint id (`provider/model`), whether the model is named with its provider or not. */
export const endpointOf = (provider: string, model: string) =>
  model.startsWith(`${provider}/`) ? model : `${provider}/${model}`;

/** The objective of a provider/model: its own override, else its provider's, else the default. */
export function objectiveFor(settings: AlertSettings['latencyObjective'], provider: string, model: string) {
  const o = { ...settings.overrides[provider], ...settings.overrides[endpointOf(provider, model)] };
  return { p95Ms: o.p95Ms ?? settings.p95Ms, minRequests: o.minRequests ?? settings.minRequests };
}

/** Provider/models with enough requests in the window whose p95 is above their objective. */
export function latencyConditions(stats: LatencyStat[], settings: AlertSettings['latencyObjective']) {
  return stats.flatMap((s): AlertCondition[] => {
    const objective = objectiveFor(settings, s.provider, s.model);
    if (s.count < objective.minRequests || s.p95Ms <= objective.p95Ms) return [];
    const subject = endpointOf(s.provider, s.model);
    return [
      {
        kind: 'latency_slo',
        subject,
        tenantId: null,
        summary: `p95 latency of ${subject} is ${Math.round(s.p95Ms)} ms over the last ${settings.windowMinutes} min, above its ${objective.p95Ms} ms objective.`,
        details: {
          provider: s.provider,
          model: s.model,
          p95Ms: Math.round(s.p95Ms),
          objectiveMs: objective.p95Ms,
          requests: s.count,
          windowMinutes: settings.windowMinutes,
        },
      },
    ];
  });
}

/**
 * A key's rate-limit use, as its request was counted: near its ceiling when `used / limit` reaches
 * the fraction. The episode lasts until the counting window ends (`windowEndsAt`).
 */
export function rateLimitCondition(input: {
  tenantId: string;
  keyId: string;
  used: number;
  limit: number;
  fraction: number;
  windowEndsAt: number;
}): AlertCondition | undefined {
  if (input.limit <= 0 || input.used / input.limit < input.fraction) return undefined;
  return {
    kind: 'rate_limit_near',
    subject: `key:${input.keyId}`,
    tenantId: input.tenantId,
    summary: `API key ${input.keyId} used ${Math.round(input.used)} of its ${input.limit} requests per minute (≥ ${Math.round(input.fraction * 100)}%).`,
    details: {
      keyId: input.keyId,
      used: Math.round(input.used * 100) / 100,
      limit: input.limit,
      fraction: input.fraction,
      windowEndsAt: new Date(input.windowEndsAt).toISOString(),
    },
  };
}

/** Open rate-limit episodes still within their window (the others resolve: the window rolled over). */
export function rateLimitsStillNear(open: OpenAlert[], now: number): AlertCondition[] {
  return open
    .filter((a) => a.kind === 'rate_limit_near')
    .filter((a) => {
      const end = Date.parse(String(a.details.windowEndsAt ?? ''));
      return Number.isFinite(end) && end > now;
    })
    .map((a) => ({ kind: a.kind, subject: a.subject, tenantId: null, summary: '', details: a.details }));
}

/** The webhooks that want an alert of `kind`. */
export const webhooksFor = (settings: AlertSettings, kind: AlertKind) =>
  settings.webhooks.filter((w) => !w.kinds || w.kinds.includes(kind));

/** The alert settings in force: the configuration's, else the defaults. */
export const alertsOf = (config: { alerts?: AlertSettings }): AlertSettings => config.alerts ?? DEFAULT_ALERT_SETTINGS;

/** An alert as the API and the webhooks show it (snake_case, like every other API object). */
export function alertJson(
  a: {
    id: string;
    kind: AlertKind;
    subject: string;
    tenant_id: string | null;
    severity: string;
    summary: string;
    details: Record<string, unknown>;
    opened_at: Date | string;
    resolved_at: Date | string | null;
  },
  deliveries: Array<{ event: string; url_host: string; status: string; at: Date | string; error: string | null }>,
) {
  const iso = (d: Date | string) => new Date(d).toISOString();
  return {
    object: 'alert' as const,
    id: a.id,
    kind: a.kind,
    subject: a.subject,
    tenant_id: a.tenant_id,
    severity: a.severity,
    status: a.resolved_at ? ('resolved' as const) : ('open' as const),
    opened_at: iso(a.opened_at),
    resolved_at: a.resolved_at ? iso(a.resolved_at) : null,
    summary: a.summary,
    details: a.details,
    deliveries: deliveries.map((d) => ({
      event: d.event,
      url_host: d.url_host,
      status: d.status,
      at: iso(d.at),
      error: d.error,
    })),
  };
}
