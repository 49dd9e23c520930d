/**
 * Activities: every side effect of routing a request. Built by a factory that takes its
 * dependencies, so tests pass an in-memory database and fake provider servers while the worker
 * passes the real pool and SDK clients.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { findModel, costUsd, type Catalog } from '../src/domain/catalog';
import { ChatCompletionRequestSchema } from '../src/domain/chat';
import { classify, type Classification } from '../src/domain/classify';
import type { AttemptRecord, CallModelInput, CallModelResult, CallPolicy, PlannedRoute, RouteRequestInput } from '../src/domain/request';
import { decide, UnknownModelError } from '../src/domain/route';
import type { Db } from '../src/db';
import * as requests from '../src/db/requests';
import { toProviderFailure, type ProviderFailureDetails } from '../src/providers/errors';
import { chatCallInput, type ProviderAdapter } from '../src/providers/types';

export interface ActivityDeps {
  db: Db;
  /** Current catalog (a function: the catalog can be reloaded without restarting the worker). */
  catalog: () => Catalog;
  adapters: Map<string, ProviderAdapter>;
  callPolicy: CallPolicy;
}

export function createActivities(deps: ActivityDeps) {
  async function loadBody(requestId: string) {
    const row = await requests.getRequest(deps.db, requestId);
    if (!row) throw ApplicationFailure.nonRetryable(`request ${requestId} is not in the database`, 'RequestNotFound');
    return ChatCompletionRequestSchema.parse(row.body);
  }

  return {
    /** Local activity: what kind of task this is, how hard and how large. */
    async classifyRequest(input: { requestId: string; operation: string }): Promise<Classification> {
      const body = await loadBody(input.requestId);
      return classify({ operation: input.operation, messages: body.messages, maxOutputTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined });
    },

    /** Local activity: the routing decision, stored with the request so it can be read back later. */
    async decideRoute(input: { route: RouteRequestInput; classification: Classification }): Promise<PlannedRoute> {
      const catalog = deps.catalog();
      let decision;
      try {
        decision = decide(
          {
            requestedModel: input.route.requestedModel,
            classification: input.classification,
            maxOutputTokens: input.route.maxOutputTokens ?? 1024,
            needsJson: input.route.needsJson,
          },
          catalog,
        );
      } catch (err) {
        if (err instanceof UnknownModelError) throw ApplicationFailure.nonRetryable(err.message, 'NotFound');
        throw err;
      }
      const planned: PlannedRoute = {
        ...decision,
        candidates: decision.candidates.map((c) => ({ ...c, contextWindow: findModel(catalog, c.modelId)!.contextWindow, call: deps.callPolicy })),
      };
      await requests.saveClassification(deps.db, input.route.requestId, input.classification, planned);
      return planned;
    },

    /**
     * One provider call (runs on the provider's own task queue). Records its attempt, stores the
     * completion in Postgres and returns only usage and cost, so history stays small.
     */
    async callModel(input: CallModelInput): Promise<CallModelResult> {
      const ctx = Context.current();
      const adapter = deps.adapters.get(input.provider);
      if (!adapter) throw ApplicationFailure.nonRetryable(`no adapter for provider '${input.provider}' on this worker`, 'NotFound');
      const model = findModel(deps.catalog(), input.modelId);
      if (!model) throw ApplicationFailure.nonRetryable(`model '${input.modelId}' left the catalog`, 'NotFound');
      const body = await loadBody(input.requestId);
      const startedAt = new Date();
      const attempt: Omit<AttemptRecord, 'outcome' | 'latencyMs'> = {
        candidateIndex: input.candidateIndex,
        attempt: ctx.info.attempt,
        provider: input.provider,
        model: input.model,
        startedAt: startedAt.toISOString(),
      };
      try {
        const out = await adapter.chat(chatCallInput(input.model, body), { signal: ctx.cancellationSignal });
        const latencyMs = Date.now() - startedAt.getTime();
        const cost = costUsd(model, out.inputTokens, out.outputTokens);
        await requests.saveResponse(deps.db, input.requestId, { content: out.content, finishReason: out.finishReason, providerModel: out.providerModel, providerRequestId: out.providerRequestId });
        await requests.recordAttempt(deps.db, input.requestId, { ...attempt, outcome: 'success', latencyMs });
        return { providerModel: out.providerModel, finishReason: out.finishReason, inputTokens: out.inputTokens, outputTokens: out.outputTokens, costUsd: cost, latencyMs };
      } catch (err) {
        const failure = toProviderFailure(err, input.provider, input.model);
        const details = failure.details?.[0] as ProviderFailureDetails | undefined;
        await requests.recordAttempt(deps.db, input.requestId, {
          ...attempt,
          outcome: 'error',
          errorType: failure.type ?? 'Unknown',
          errorMessage: failure.message,
          status: details?.status,
          latencyMs: Date.now() - startedAt.getTime(),
        });
        throw failure;
      }
    },

    /** Final record of the request: status, chosen provider, every attempt, usage and cost. */
    async recordOutcome(input: { requestId: string; outcome: Omit<requests.RequestOutcome, 'attempts'> }): Promise<void> {
      const attempts = await requests.listAttempts(deps.db, input.requestId);
      await requests.completeRequest(deps.db, input.requestId, { ...input.outcome, attempts });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
