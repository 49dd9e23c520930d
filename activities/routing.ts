/** The request's first workflow task, as one local activity: classify it and decide its route. */
import { rateLimitWaitOf } from '../src/domain/catalog';
import { Context } from '@temporalio/activity';
import { fastPathOf } from '../src/domain/config';
import { callPathOf } from '../src/domain/fastPath';
import { ApplicationFailure } from '@temporalio/common';
import * as requests from '../src/db/requests';
import { classify, type Classification } from '../src/domain/classify';
import { BLOCKED_FOREVER, UnknownModelError, type HealthView } from '../src/domain/policy';
import { policyInputOf, type PlannedRoute, type RouteRequestInput, type RoutedCandidate } from '../src/domain/request';
import { cachedUsage } from '../src/services/budgetOperations';
import { warmTokenizer } from '../src/domain/tokens';
import { classifierFor } from '../src/services/classifiers';
import { classifyWithLlm } from '../src/services/llmClassifier';
import type { VersionedConfig } from '../src/services/configStore';
import { planRoute } from '../src/services/routePlan';
import { fitConversation, type FitSummaryOutcome } from '../src/services/contextFit';
import { fitNote } from '../src/domain/fit';
import { annotate } from '../src/services/tracing';
import type { ActivityDeps } from './deps';
import { classifyInputOf, loadRequest } from './storedRequest';

/**
 * The request classified by the current classifier (the trained model models/classifier/CURRENT
 * names, loaded once per process; the keyword rules `rules-1` when none is installed). The
 * classification records the version, so the decision can be replayed with it. With
 * `routing.classifier.llm` configured, a prompt the trained model is unsure of is classified by
 * that model instead (`src/services/llmClassifier.ts`; its version `llm:<model>`, the trained
 * reading kept beside it), or the trained result stands, noted.
 */
async function classifyRequest(deps: ActivityDeps, config: VersionedConfig, route: RouteRequestInput) {
  // The client's conversation, even when an earlier attempt of this decision stored a fitted one.
  const stored = await loadRequest(deps.db, route.requestId, { original: true });
  const input = { operation: route.operation, ...classifyInputOf(stored) };
  const trained = classify(input, classifierFor('current'));
  if (!config.config.routing.classifier?.llm) return trained;
  return classifyWithLlm(
    deps,
    config.config,
    {
      requestId: route.requestId,
      tenantId: route.tenantId,
      ...(route.context.userId !== undefined && { userId: route.context.userId }),
      messages: input.messages,
      policy: policyInputOf(route, new Date().toISOString()),
      attempt: activityAttempt(),
    },
    trained,
  );
}

/** This activity's attempt number (1 outside an activity, as in a unit test). */
function activityAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/**
 * The models this worker cannot call (no key for their provider, no simulator here), for the
 * policy to leave out, as it leaves out an open breaker.
 */
function unreachableOf(config: VersionedConfig, canReach: NonNullable<ActivityDeps['canReach']>): HealthView {
  const blocked: NonNullable<HealthView['blocked']> = {};
  for (const p of config.config.catalog.providers) {
    if (canReach(p)) continue;
    for (const m of config.config.catalog.models)
      if (m.provider === p.id)
        blocked[m.id] = { until: BLOCKED_FOREVER, why: `this worker has no credentials for provider '${p.id}'` };
  }
  return { blocked };
}

export function createRoutingActivities(deps: ActivityDeps) {
  // The classifier loaded and its weights decoded when the worker starts, not on its first request
  // (a model file that does not parse stops the worker here, not every request later).
  classifierFor('current')?.predict('');
  // The tokenizer's vocabulary too (a fraction of a second), which classify() counts the prompt with.
  warmTokenizer();
  // Budget usage for routing: one ledger read per tenant (and user) per second, not one per request.
  const usage = cachedUsage(deps.db);
  return {
    /**
     * Local activity: what kind of task this is (how hard, how large), then the routing decision —
     * a pure function of its input, the configuration version, breaker and budget views — stored
     * with that input so it can be read back and replayed.
     */
    async decideRoute(input: {
      route: RouteRequestInput;
      classification?: Classification;
      /** Context fitting's summarizing child ran (issue 26): decide again with its outcome. */
      fitSummary?: FitSummaryOutcome;
    }): Promise<PlannedRoute> {
      const config = deps.config();
      // The first decision classifies the request; a re-decision (waiting out open breakers) is given it.
      let classification = input.classification ?? (await classifyRequest(deps, config, input.route));
      const plan0 = async (c: Classification) => {
        try {
          return await planRoute(
            {
              db: deps.db,
              config,
              health: deps.health,
              usage,
              ...(deps.canReach && { unreachable: unreachableOf(config, deps.canReach) }),
            },
            input.route,
            c,
            new Date(),
          );
        } catch (err) {
          if (err instanceof UnknownModelError) throw ApplicationFailure.nonRetryable(err.message, 'NotFound');
          throw err;
        }
      };
      let plan = await plan0(classification);
      // No candidate's window takes the conversation: fit it when the request (or its tenant) says how.
      const fit = await fitConversation(
        deps.db,
        config.config,
        input.route,
        plan.planned,
        classification,
        input.fitSummary,
      );
      if (fit.kind === 'summarize') {
        // No decision yet: the workflow runs the summarizing child, then asks again.
        return { ...plan.planned, candidates: [], fitSummary: fit.step, classification };
      }
      if (fit.kind === 'fitted') {
        classification = fit.classification;
        plan = await plan0(classification);
      }
      if (fit.kind !== 'none')
        plan = {
          ...plan,
          planned: { ...plan.planned, fit: fit.fit, notes: [...plan.planned.notes, fitNote(fit.fit)] },
        };
      // On the workflow's own queue when queues are shared, unless the provider is one only this
      // process's environment adds: its own queue is served by the workers that have its key.
      // A provider with an `rpm` limit keeps its own queue whatever the mode: the limit is that
      // queue's (server-side, across workers); the call may wait its turn up to its bound.
      const shared = (deps.callQueues ?? 'shared') === 'shared';
      const local = new Set(config.localProviders ?? []);
      const providers = new Map(config.config.catalog.providers.map((p) => [p.id, p]));
      // Then the call's path: a short, non-streamed call on the shared queue runs as a local
      // activity (the fast path); the decision, and so history, says which.
      const fast = fastPathOf(config.config);
      const now = Date.now();
      const placed = (c: RoutedCandidate): RoutedCandidate => {
        const p = providers.get(c.provider);
        const wait = p && rateLimitWaitOf(p);
        const own = local.has(c.provider) || p?.rpm !== undefined;
        const queued: RoutedCandidate = {
          ...c,
          ...(shared && !own && { callQueue: 'shared' }),
          ...(wait !== undefined && { rateLimitWaitMs: wait }),
        };
        return { ...queued, path: callPathOf(queued, input.route, fast, now) };
      };
      plan = { ...plan, planned: { ...plan.planned, candidates: plan.planned.candidates.map(placed) } };
      // Traced: the decision on this activity's span (ids and model names only).
      annotate({
        'switchyard.request_id': input.route.requestId,
        'switchyard.candidates': plan.planned.candidates.map((c) => c.modelId),
        'switchyard.strategy': plan.planned.strategy,
        'switchyard.decision': plan.planned.summary,
        'switchyard.task_type': classification.taskType,
        'switchyard.rejected': plan.planned.rejected.map((r) => `${r.modelId} (${r.filter})`),
      });
      await requests.saveDecision(deps.db, input.route.requestId, {
        classification,
        decision: plan.planned,
        decisionInput: plan.decisionInput,
        configVersion: config.version,
      });
      // A fitted conversation's classification (its size) is the one the workflow goes on with.
      return input.classification && fit.kind !== 'fitted' ? plan.planned : { ...plan.planned, classification };
    },
  };
}
