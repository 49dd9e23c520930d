/**
 * The route plan: the policy's decision for a request, with what the workflow needs to act on it
 * (each candidate's call policy and budget reservation, the fallback settings). One function for
 * the workflow's `decideRoute` step and the `POST /v1/route` dry run, so the two cannot disagree.
 */
import type { Db, Queryable } from '../db';
import { readPin } from '../db/sessionPins';
import { CONTINUATION_KINDS, findModel, kindOf, type Catalog, type Model } from '../domain/catalog';
import { reservationUsd } from '../domain/budget';
import type { Classification } from '../domain/classify';
import { sessionsOf } from '../domain/config';
import { decide, type BudgetView, type HealthView, type PolicyInput, type SessionView } from '../domain/policy';
import { policyInputOf, type PlannedRoute, type PolicyFields, type RouteRequestInput } from '../domain/request';
import { callPolicyFor } from '../domain/settings';
import { budgetStateFor, type UsageReader } from './budgetOperations';
import type { VersionedConfig } from './configStore';
import type { HealthPort } from './healthPort';

export type PlanRequest = Pick<RouteRequestInput, 'tenantId' | PolicyFields>;

export interface RoutePlan {
  planned: PlannedRoute;
  /** Everything the decision read, breaker and budget views included: replay re-runs exactly this. */
  decisionInput: PolicyInput & { health: HealthView; budget?: BudgetView; session?: SessionView };
}

/**
 * A candidate that may finish another's broken stream: it declares `continuation`, and its
 * provider takes an assistant prefill as the same turn: Anthropic's Messages API does; an
 * OpenAI-wire server does only where its instance says how (`continuation`: vLLM's
 * `continue_final_message`, DeepSeek's and Mistral's `prefix`), else it answers the prefill as a
 * new turn, which would repeat the answer. Never for a structured answer: its JSON cannot be
 * carried as text (Anthropic forces a schema tool for it).
 */
function continues(catalog: Catalog, m: Model, needsJson: boolean): boolean {
  if (needsJson || !m.capabilities.includes('continuation')) return false;
  const provider = catalog.providers.find((p) => p.id === m.provider);
  if (!provider || provider.simulated) return false;
  const kind = kindOf(provider);
  return kind === 'anthropic' || (provider.continuation !== undefined && CONTINUATION_KINDS.includes(kind));
}

/** Throws the policy's UnknownModelError for a model the catalog does not have. */
export async function planRoute(
  /** `usage`: how budget usage is read (the request path reads it through `cachedUsage`). */
  deps: {
    db: Db | Queryable;
    config: VersionedConfig;
    health?: HealthPort;
    usage?: UsageReader;
    /** Models this process cannot call (merged with the open breakers). */
    unreachable?: HealthView;
  },
  route: PlanRequest,
  classification: Classification,
  now: Date,
): Promise<RoutePlan> {
  const { version, config } = deps.config;
  const policyInput = policyInputOf(route, now.toISOString());
  // Breaker states (cached briefly by the port): open endpoints are filtered out by the policy.
  const breakers = deps.health ? await deps.health.viewOf(config.catalog) : {};
  const health: HealthView = deps.unreachable
    ? { blocked: { ...deps.unreachable.blocked, ...breakers.blocked } }
    : breakers;
  // The budget's windows now: models whose worst case does not fit are filtered out, and near the
  // limit cheaper models lead.
  const budget = await budgetStateFor(
    deps.usage ?? deps.db,
    config,
    { tenantId: route.tenantId, userId: route.context.userId },
    now.getTime(),
    version,
  );
  // A request of a session: its pin, read from the table every process shares (one statement,
  // for these requests only; sessions off: none is read, and none is written).
  const key = route.context.session;
  const session: SessionView | undefined =
    key !== undefined && sessionsOf(config).enabled
      ? { key, ...(await readPin(deps.db, route.tenantId, key).then((pin) => pin && { pin })) }
      : undefined;
  const decision = decide(policyInput, classification, config, health, budget?.view, session);
  const planned: PlannedRoute = {
    ...decision,
    candidates: decision.candidates.map((c) => {
      const m = findModel(config.catalog, c.modelId)!;
      return {
        ...c,
        contextWindow: m.contextWindow,
        qualityTier: m.qualityTier,
        ...(continues(config.catalog, m, policyInput.needsJson) && { continues: true }),
        call: callPolicyFor(config, c.provider, c.modelId),
        ...(budget && {
          reserveUsd: reservationUsd(
            m,
            classification.inputTokens,
            policyInput.maxOutputTokens,
            policyInput.capability,
          ),
        }),
      };
    }),
    configVersion: version,
    ...(budget?.view.tightest && { budget: budget.view.tightest }),
    fallbackOnContentFilter: config.fallback.onContentFilter,
    maxEscalations: config.fallback.maxEscalations,
  };
  return {
    planned,
    decisionInput: { ...policyInput, health, ...(budget && { budget: budget.view }), ...(session && { session }) },
  };
}
