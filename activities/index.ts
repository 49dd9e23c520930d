/**
 * Activities: every side effect of routing a request. Built by a factory that takes its
 * dependencies, so tests pass an in-memory database and fake provider servers while the worker
 * passes the real pool and SDK clients.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { costUsd, findModel, type Model } from '../src/domain/catalog';
import { ChatCompletionRequestSchema, type ChatMessage } from '../src/domain/chat';
import { classify, DEFAULT_OUTPUT_TOKENS, type Classification } from '../src/domain/classify';
import { isStructured, OperationBodySchemas, operationMessages, validateOutput } from '../src/domain/operations';
import { policyInputOf, totalCost, type AttemptRecord, type CallModelInput, type CallModelResult, type Operation, type PlannedRoute, type RouteRequestInput } from '../src/domain/request';
import { decide, UnknownModelError } from '../src/domain/policy';
import { callPolicyFor } from '../src/domain/settings';
import type { VersionedConfig } from '../src/configStore';
import type { HealthClient } from '../src/health';
import { budgetStateFor, closeCall, reserveCall } from '../src/budgets';
import { applicableWindows, PERIODS, reservationUsd, round10, tenantScope, userScope, windowEnd, type BudgetLimits, type WindowState } from '../src/domain/budget';
import * as budgets from '../src/db/budgets';
import type { Db } from '../src/db';
import * as requests from '../src/db/requests';
import { failure, toProviderFailure, type ProviderFailureDetails } from '../src/providers/errors';
import type { AdapterRegistry } from '../src/providers/registry';
import { chatCallInput, type CallOptions, type ChatCallInput, type ProviderAdapter } from '../src/providers/types';

export interface ActivityDeps {
  db: Db;
  /** The current configuration version (a function: it changes without a worker restart). */
  config: () => VersionedConfig;
  adapters: AdapterRegistry;
  /** Breakers: read by the policy, probed and fed by provider calls. Absent: no breakers. */
  health?: HealthClient;
}

const HEARTBEAT_EVERY_MS = 2_000;
const DAY_MS = 86_400_000;
// A reservation outlives its call by this much before the budget workflow expires it.
const RESERVATION_MARGIN_MS = 60_000;

const capChat = (c: ChatCallInput, cap: boolean): ChatCallInput => (cap && c.maxOutputTokens === undefined ? { ...c, maxOutputTokens: DEFAULT_OUTPUT_TOKENS } : c);

interface StoredRequest {
  operation: Operation;
  body: Record<string, unknown>;
}

/** The chat messages a request sends (for chat, the client's; for operations, their prompt). */
function messagesOf(r: StoredRequest): ChatMessage[] {
  if (r.operation === 'chat') return ChatCompletionRequestSchema.parse(r.body).messages;
  if (r.operation === 'embed') {
    const input = OperationBodySchemas.embed.parse(r.body).input;
    return [{ role: 'user', content: Array.isArray(input) ? input.join('\n') : input }];
  }
  return operationMessages(r.operation, r.body);
}

function maxOutputOf(r: StoredRequest): number | undefined {
  if (r.operation === 'chat') {
    const b = ChatCompletionRequestSchema.parse(r.body);
    return b.max_completion_tokens ?? b.max_tokens ?? undefined;
  }
  return r.operation === 'embed' ? 0 : undefined;
}

export function createActivities(deps: ActivityDeps) {
  async function load(requestId: string): Promise<StoredRequest> {
    const row = await requests.getRequest(deps.db, requestId);
    if (!row) throw ApplicationFailure.nonRetryable(`request ${requestId} is not in the database`, 'RequestNotFound');
    return { operation: row.operation as Operation, body: row.body as Record<string, unknown> };
  }

  /** The provider call itself, for the request's operation; returns what to store and the usage. */
  /** `capOutput`: under a budget, a chat without max_tokens gets the cap its reservation covers. */
  async function call(adapter: ProviderAdapter, model: Model, r: StoredRequest, options: CallOptions, capOutput = false) {
    if (r.operation === 'embed') {
      if (!adapter.embed) throw failure('NotFound', `${model.id} has no embeddings API`, { provider: model.provider, model: model.model });
      const input = OperationBodySchemas.embed.parse(r.body).input;
      const out = await adapter.embed(model.model, Array.isArray(input) ? input : [input], options);
      const dimensions = out.embeddings[0]?.length ?? 0;
      return {
        stored: { embeddings: out.embeddings.map((embedding, index) => ({ index, embedding })), dimensions, providerModel: out.providerModel },
        usage: { inputTokens: out.inputTokens, outputTokens: 0, finishReason: 'stop', providerModel: out.providerModel },
      };
    }
    const callInput: ChatCallInput =
      r.operation === 'chat'
        ? capChat(chatCallInput(model.model, ChatCompletionRequestSchema.parse(r.body)), capOutput)
        : {
            model: model.model,
            messages: messagesOf(r),
            maxOutputTokens: DEFAULT_OUTPUT_TOKENS,
            temperature: 0,
            // Native JSON mode where the model has it; the output is validated either way.
            ...(model.capabilities.includes('json') && { responseFormat: { type: 'json_object' as const } }),
          };
    const out = await adapter.chat(callInput, options);
    if (out.finishReason === 'content_filter' && !out.content) {
      throw failure('ContentFiltered', `${model.id} filtered the output (finish_reason content_filter)`, { provider: model.provider, model: model.model });
    }
    const usage = { inputTokens: out.inputTokens, outputTokens: out.outputTokens, finishReason: out.finishReason, providerModel: out.providerModel };
    const base = { content: out.content, finishReason: out.finishReason, providerModel: out.providerModel, providerRequestId: out.providerRequestId };
    if (isStructured(r.operation)) {
      const check = validateOutput(r.operation, r.body, out.content);
      if (!check.ok) return { usage, invalid: `${model.id} returned invalid ${r.operation} output: ${check.reason}` };
      return { usage, stored: { ...base, result: check.value } };
    }
    const wantsJson = callInput.responseFormat !== undefined && callInput.responseFormat.type !== 'text';
    if (wantsJson && out.finishReason !== 'length') {
      try {
        JSON.parse(out.content ?? '');
      } catch {
        return { usage, invalid: `${model.id} returned invalid JSON in JSON mode` };
      }
    }
    return { usage, stored: base };
  }

  return {
    /** Local activity: what kind of task this is, how hard and how large. */
    async classifyRequest(input: { requestId: string; operation: string }): Promise<Classification> {
      const r = await load(input.requestId);
      return classify({ operation: input.operation, messages: messagesOf(r), maxOutputTokens: maxOutputOf(r) });
    },

    /**
     * Local activity: the routing decision — a pure function of its input, the configuration
     * version, breaker and budget views — stored with that input so it can be read back and replayed.
     */
    async decideRoute(input: { route: RouteRequestInput; classification: Classification }): Promise<PlannedRoute> {
      const { version, config } = deps.config();
      const policyInput = policyInputOf(input.route, new Date().toISOString());
      // Breaker states, at most a second old: open endpoints are filtered out by the policy.
      const health = deps.health ? await deps.health.viewOf(config.catalog) : {};
      // The budget's windows now: models whose worst case does not fit are filtered out, and
      // near the limit cheaper models lead.
      const budget = await budgetStateFor(deps.db, config, { tenantId: input.route.tenantId, userId: input.route.context.userId }, Date.parse(policyInput.now));
      let decision;
      try {
        decision = decide(policyInput, input.classification, config, health, budget?.view);
      } catch (err) {
        if (err instanceof UnknownModelError) throw ApplicationFailure.nonRetryable(err.message, 'NotFound');
        throw err;
      }
      const planned: PlannedRoute = {
        ...decision,
        candidates: decision.candidates.map((c) => {
          const m = findModel(config.catalog, c.modelId)!;
          return {
            ...c,
            contextWindow: m.contextWindow,
            qualityTier: m.qualityTier,
            call: callPolicyFor(config, c.provider, c.modelId),
            ...(budget && { reserveUsd: reservationUsd(m, input.classification.inputTokens, policyInput.maxOutputTokens, policyInput.capability) }),
          };
        }),
        configVersion: version,
        ...(budget?.view.tightest && { budget: budget.view.tightest }),
        fallbackOnContentFilter: config.fallback.onContentFilter,
        maxEscalations: config.fallback.maxEscalations,
      };
      // The full input, breaker view included, so that replay re-runs exactly this decision.
      await requests.saveDecision(deps.db, input.route.requestId, { classification: input.classification, decision: planned, decisionInput: { ...policyInput, health, ...(budget && { budget: budget.view }) }, configVersion: version });
      return planned;
    },

    /**
     * One provider call (runs on the provider's own task queue). Heartbeats while it waits, so a
     * dead worker is noticed quickly; records its own attempt; stores the answer in Postgres and
     * returns only usage and cost, so history stays small.
     */
    async callModel(input: CallModelInput): Promise<CallModelResult> {
      const ctx = Context.current();
      const catalog = deps.config().config.catalog;
      const provider = catalog.providers.find((p) => p.id === input.provider);
      const model = findModel(catalog, input.modelId);
      if (!provider || !model) throw failure('NotFound', `model '${input.modelId}' left the catalog`, { provider: input.provider, model: input.model });
      const adapter = deps.adapters.get(provider);
      // The breaker, checked again at call time (the decision may be a second old): an open one
      // fails fast without a call; a half-open one admits this call only as its probe.
      let probe = false;
      const snap = deps.health ? await deps.health.snapshot(input.modelId) : undefined;
      if (snap?.status === 'open') throw failure('BreakerOpen', `${input.modelId}: breaker open until ${snap.openUntil}`, { provider: input.provider, model: input.model });
      const r = await load(input.requestId);
      // The budget: reserve the worst case before the call, one reservation per call attempt
      // (a retried task of the same attempt finds its own). Refused: no call, a cheaper
      // candidate may still fit. A reservation never closed (a crash) expires after its TTL.
      let reservation: string | undefined;
      if (input.budget) {
        const held = await reserveCall(deps.db, deps.config().config, {
          id: `${input.requestId}:${input.candidateIndex}:${ctx.info.attempt}`,
          tenantId: input.budget.tenantId,
          userId: input.budget.userId,
          amountUsd: input.budget.reserveUsd,
          ttlMs: input.timeoutMs + RESERVATION_MARGIN_MS,
          now: Date.now(),
        });
        if (!held.ok) {
          throw ApplicationFailure.create({ type: 'BudgetExceeded', message: `${input.modelId}: ${held.message}`, nonRetryable: true, details: [{ provider: input.provider, model: input.model, budget: held.window }] });
        }
        reservation = held.id;
      }
      // The probe slot only once the budget admits the call: a refused call must not take it.
      if (snap?.status === 'half-open') {
        probe = await deps.health!.requestProbe(input.modelId);
        if (!probe) {
          if (reservation) await budgets.release(deps.db, reservation);
          throw failure('BreakerOpen', `${input.modelId}: breaker half-open and its probe is taken`, { provider: input.provider, model: input.model });
        }
      }
      // One transaction: the attempt's recorded cost and the ledger's spend cannot disagree.
      const finish = (a: AttemptRecord) =>
        deps.db.transaction(async (tx) => {
          await requests.recordAttempt(tx, input.requestId, a);
          if (reservation) await closeCall(tx, reservation, a.costUsd ?? 0);
        });
      const startedAt = new Date();
      const attempt = { candidateIndex: input.candidateIndex, attempt: ctx.info.attempt, provider: input.provider, model: input.model, startedAt: startedAt.toISOString() };
      const heartbeat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        const out = await call(adapter, model, r, { signal: ctx.cancellationSignal, timeoutMs: input.timeoutMs }, input.budget !== undefined);
        const latencyMs = Date.now() - startedAt.getTime();
        // The endpoint answered: healthy, even if the answer fails its schema.
        deps.health?.report(input.modelId, { ok: true, latencyMs, probe });
        const cost = costUsd(model, out.usage.inputTokens, out.usage.outputTokens);
        const spent = { inputTokens: out.usage.inputTokens, outputTokens: out.usage.outputTokens, costUsd: cost };
        if (out.invalid !== undefined) {
          await finish({ ...attempt, ...spent, outcome: 'error', errorType: 'InvalidOutput', errorMessage: out.invalid, latencyMs });
          throw failure('InvalidOutput', out.invalid, { provider: input.provider, model: input.model });
        }
        await requests.saveResponse(deps.db, input.requestId, out.stored);
        await finish({ ...attempt, ...spent, outcome: 'success', latencyMs });
        return { providerModel: out.usage.providerModel, finishReason: out.usage.finishReason, inputTokens: out.usage.inputTokens, outputTokens: out.usage.outputTokens, costUsd: cost, latencyMs };
      } catch (err) {
        if (err instanceof ApplicationFailure && err.type === 'InvalidOutput') throw err;
        const f = toProviderFailure(err, input.provider, input.model);
        const details = f.details?.[0] as ProviderFailureDetails | undefined;
        deps.health?.report(input.modelId, { ok: false, type: f.type ?? 'Unknown', message: f.message, latencyMs: Date.now() - startedAt.getTime(), probe });
        await finish({
          ...attempt,
          outcome: 'error',
          errorType: f.type ?? 'Unknown',
          errorMessage: f.message,
          status: details?.status,
          latencyMs: Date.now() - startedAt.getTime(),
        });
        throw f;
      } finally {
        clearInterval(heartbeat);
      }
    },

    /**
     * One tick of a tenant's budgetWindow entity, at the workflow's time `at`: close the windows
     * that ended, open the current ones (with the limits in force), expire stale reservations,
     * raise alerts that crossed the threshold (once per window), and report the state.
     */
    async budgetTick(input: { tenantId: string; at: number }) {
      const budget = deps.config().config.tenants[input.tenantId]?.budget;
      const closed = await budgets.closeEndedWindows(deps.db, input.tenantId, input.at);
      const expired = await budgets.expireStale(deps.db, input.at, input.tenantId);
      if (!budget) return { active: false, closed, expired, alerts: [], windows: [], nextBoundaryAt: input.at + DAY_MS };
      const scopes = [
        { scope: tenantScope(input.tenantId), limits: budget as BudgetLimits },
        ...Object.entries(budget.users).map(([user, limits]) => ({ scope: userScope(input.tenantId, user), limits })),
      ];
      await budgets.openWindows(deps.db, input.tenantId, applicableWindows(scopes, input.at));
      const alerts = await budgets.raiseAlerts(deps.db, input.tenantId, budget.alertThreshold, input.at, budget.webhookUrl);
      const windows: WindowState[] = (await budgets.tenantWindows(deps.db, input.tenantId, input.at)).map((w) => ({
        scope: w.scope,
        period: w.period,
        windowStart: w.windowStart,
        resetsAt: w.windowEnd,
        limitUsd: w.limitUsd,
        spentUsd: w.spentUsd,
        reservedUsd: w.reservedUsd,
        remainingUsd: Math.max(0, round10(w.limitUsd - w.spentUsd - w.reservedUsd)),
      }));
      const periods = PERIODS.filter((p) => [budget, budget.perUser ?? {}, ...Object.values(budget.users)].some((l) => l[`${p}Usd`] !== undefined));
      const nextBoundaryAt = periods.length ? Math.min(...periods.map((p) => windowEnd(p, input.at))) : input.at + DAY_MS;
      return { active: true, closed, expired, alerts, windows, nextBoundaryAt, nextExpiryAt: await budgets.nextExpiry(deps.db, input.tenantId) };
    },

    /** POSTs an alert to the tenant's webhook; a non-2xx answer fails (and is retried). */
    async deliverBudgetAlert(alert: budgets.BudgetAlert): Promise<void> {
      const res = await fetch(alert.webhookUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'switchyard-budget-alert' },
        body: JSON.stringify({ type: 'budget.threshold_crossed', ...alert }),
        signal: AbortSignal.timeout(10_000),
      }).catch(async (err: unknown) => {
        await budgets.markAlertDelivered(deps.db, alert, String(err));
        throw err;
      });
      if (!res.ok) {
        await budgets.markAlertDelivered(deps.db, alert, `HTTP ${res.status}`);
        throw ApplicationFailure.retryable(`webhook answered HTTP ${res.status}`, 'WebhookFailed');
      }
      await budgets.markAlertDelivered(deps.db, alert);
    },

    /** Final record of the request: status, chosen provider, every attempt, usage and cost. Returns the attempts. */
    async recordOutcome(input: { requestId: string; outcome: Omit<requests.RequestOutcome, 'attempts'> }): Promise<AttemptRecord[]> {
      const attempts = await requests.listAttempts(deps.db, input.requestId);
      await requests.completeRequest(deps.db, input.requestId, { ...input.outcome, attempts, costUsd: totalCost(attempts) });
      return attempts;
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
