/**
 * The webhook sink: one POST per batch, `{"events": [...]}` in delivery order, through the one
 * safe path (safeFetch: the URL policy's checked address, no redirects, a deadline). Signed like
 * the alert webhooks, over the timestamp and the body, so a receiver can refuse replays:
 * `X-Switchyard-Signature: sha256=HMAC(secret, "<X-Switchyard-Timestamp>.<body>")`.
 * Any answer but 2xx, and any failure to connect, leaves the batch undelivered (sent again).
 */
import { safeFetch } from '../safeFetch';
import type { UrlPolicy } from '../urlPolicy';
import { SIGNATURE_HEADER, signBody } from '../webhookSignature';
import type { EventSink, UsageEvent } from './types';

export const TIMESTAMP_HEADER = 'x-switchyard-timestamp';

export interface WebhookSinkSettings {
  name: string;
  url: string;
  /** The HMAC key (read by the caller from the environment variable the configuration names). */
  secret?: string;
  policy: UrlPolicy;
  timeoutMs?: number;
  /** Seconds since the epoch (tests pin it). */
  now?: () => number;
}

export function createWebhookSink(s: WebhookSinkSettings): EventSink {
  return {
    name: s.name,
    async send(events: readonly UsageEvent[]) {
      if (!events.length) return;
      const body = JSON.stringify({ events });
      const timestamp = String(Math.floor(s.now ? s.now() : Date.now() / 1000));
      const res = await safeFetch(s.policy, s.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'switchyard-events',
          [TIMESTAMP_HEADER]: timestamp,
          ...(s.secret && { [SIGNATURE_HEADER]: signBody(s.secret, `${timestamp}.${body}`) }),
        },
        body,
        timeoutMs: s.timeoutMs ?? 10_000,
        maxResponseBytes: 16 * 1024,
      });
      if (!res.ok) throw new Error(`webhook answered HTTP ${res.status}`);
    },
    async close() {},
  };
}
