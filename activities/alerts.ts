/**
 * The alert monitor's steps: `evaluateAlerts` looks at every condition once (breakers, budget
 * windows, latency over the last window, rate-limit episodes' windows), opens and resolves
 * episodes, and says which events the webhooks have not heard yet; `deliverAlert` sends one event
 * to its webhooks through the SSRF-checked path, signed when the webhook has a secret.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import * as store from '../src/db/alerts';
import { listBreakerStates } from '../src/db/breakerStates';
import {
  alertJson,
  alertsOf,
  breakerConditions,
  budgetConditions,
  latencyConditions,
  rateLimitsStillNear,
  reconcile,
  webhooksFor,
  type AlertCondition,
  type AlertKind,
} from '../src/domain/alerts';
import { noteSwallowed } from '../src/services/metrics';
import { SIGNATURE_HEADER, signBody } from '../src/services/webhookSignature';
import type { ActivityDeps } from './deps';
import { postWebhook } from './webhook';

const hashUrl = (url: string) => createHash('sha256').update(url).digest('hex');

export function createAlertActivities(deps: ActivityDeps) {
  return {
    /** One look at every condition at `at` (the workflow's time). */
    async evaluateAlerts(input: { at: number }) {
      const { config } = deps.config();
      const settings = alertsOf(config);
      const at = input.at;
      const holding: AlertCondition[] = [];
      const evaluated: AlertKind[] = [];
      // Each source on its own: one failing query leaves its kind's episodes as they are.
      const sources: Array<[AlertKind[], () => Promise<AlertCondition[]>]> = [
        [['provider_down'], async () => breakerConditions(await listBreakerStates(deps.db))],
        [
          ['budget_threshold', 'budget_exhausted'],
          async () =>
            budgetConditions(
              await store.currentBudgetWindows(deps.db, at),
              (t) => config.tenants[t]?.budget?.alertThreshold,
            ),
        ],
        [
          ['latency_slo'],
          async () =>
            latencyConditions(
              await store.latencyStats(deps.db, at - settings.latencyObjective.windowMinutes * 60_000),
              settings.latencyObjective,
            ),
        ],
      ];
      const open = await store.openAlerts(deps.db);
      for (const [kinds, read] of sources) {
        try {
          holding.push(...(await read()));
          evaluated.push(...kinds);
        } catch (err) {
          noteSwallowed('alert_evaluation', err, { kinds }, 'could not evaluate alert conditions');
        }
      }
      // Opened by the API as requests are counted; they end when their window does.
      holding.push(...rateLimitsStillNear(open, at));
      evaluated.push('rate_limit_near');
      const { toOpen, toResolve } = reconcile(open, holding, evaluated);
      let opened = 0;
      for (const c of toOpen) if (await store.openAlert(deps.db, c, at)) opened++;
      for (const a of toResolve) await store.resolveAlert(deps.db, a.id, at);
      const due = await store.unnotifiedEvents(deps.db);
      return {
        opened,
        resolved: toResolve.length,
        due,
        evaluateEveryMs: settings.evaluateEverySeconds * 1000,
      };
    },

    /**
     * Sends an event to every webhook that wants its kind and has not taken it yet. A webhook the
     * URL policy refuses is recorded as refused and never called; any other failure is recorded
     * and retried (the activity fails, Temporal retries with backoff). When every webhook has
     * answered or been refused, the event is marked told.
     */
    async deliverAlert(input: { alertId: string; event: 'opened' | 'resolved' }): Promise<{ sent: number }> {
      const alert = await store.getAlert(deps.db, input.alertId);
      if (!alert) return { sent: 0 };
      const hooks = webhooksFor(alertsOf(deps.config().config), alert.kind);
      const done = new Set(
        (await store.deliveriesOf(deps.db, [alert.id]))
          .filter((d) => d.event === input.event && (d.status === 'delivered' || d.status === 'refused'))
          .map((d) => d.url_hash),
      );
      const eventId = `${alert.id}:${input.event}`;
      const payload = {
        type: `alert.${input.event}`,
        event_id: eventId,
        alert: alertJson(alert, []),
      };
      const body = JSON.stringify(payload);
      let sent = 0;
      let failure: string | undefined;
      for (const hook of hooks) {
        const urlHash = hashUrl(hook.url);
        if (done.has(urlHash)) continue;
        const urlHost = new URL(hook.url).host;
        const secret = hook.secretName ? process.env[hook.secretName] : undefined;
        const headers: Record<string, string> = {
          'user-agent': 'switchyard-alerts',
          'x-switchyard-event-id': eventId,
          ...(secret && { [SIGNATURE_HEADER]: signBody(secret, body) }),
        };
        try {
          await postWebhook(deps, hook.url, payload, headers);
          sent++;
          await store.recordDelivery(
            deps.db,
            { alertId: alert.id, event: input.event, urlHash, urlHost, status: 'delivered' },
            Date.now(),
          );
        } catch (err) {
          const refused = err instanceof ApplicationFailure && err.nonRetryable;
          const message = err instanceof Error ? err.message : String(err);
          await store.recordDelivery(
            deps.db,
            {
              alertId: alert.id,
              event: input.event,
              urlHash,
              urlHost,
              status: refused ? 'refused' : 'failed',
              error: message,
            },
            Date.now(),
          );
          if (!refused) failure ??= `${urlHost}: ${message}`;
        }
      }
      if (failure) throw ApplicationFailure.retryable(`alert webhook not delivered (${failure})`, 'WebhookFailed');
      await store.markNotified(deps.db, alert.id, input.event, Date.now());
      return { sent };
    },

    /** Retries ran out: the event is not sent again (each failure is recorded on the alert). */
    async giveUpAlertEvent(input: { alertId: string; event: 'opened' | 'resolved' }): Promise<void> {
      await store.markNotified(deps.db, input.alertId, input.event, Date.now());
    },
  };
}
