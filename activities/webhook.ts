/**
 * A webhook POST (budget alerts, finished batches) through the one safe path (safeFetch: checked
 * address pinned, no redirects, a deadline, a bounded read), with its failures as Temporal sees
 * them: refused or redirected is final (retrying changes nothing), anything else is retried.
 */
import { ApplicationFailure } from '@temporalio/common';
import { safeFetch, SafeFetchError } from '../src/services/safeFetch';
import { UrlPolicy } from '../src/services/urlPolicy';
import type { ActivityDeps } from './deps';

/** Without a policy from the process: public addresses only (an allowlist must be passed to widen it). */
const PUBLIC_ONLY = new UrlPolicy();

export async function postWebhook(
  deps: Pick<ActivityDeps, 'urlPolicy'>,
  url: string,
  payload: unknown,
  headers: Record<string, string> = {},
): Promise<void> {
  try {
    const res = await safeFetch(deps.urlPolicy ?? PUBLIC_ONLY, url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(payload),
      timeoutMs: 10_000,
      maxResponseBytes: 16 * 1024,
    });
    if (!res.ok) throw ApplicationFailure.retryable(`webhook answered HTTP ${res.status}`, 'WebhookFailed');
  } catch (err) {
    if (!(err instanceof SafeFetchError)) throw err;
    if (err.kind === 'blocked')
      throw ApplicationFailure.nonRetryable(`webhook not called: ${err.message}`, 'WebhookBlocked');
    if (err.kind === 'redirect') throw ApplicationFailure.nonRetryable(err.message, 'WebhookRedirected');
    throw ApplicationFailure.retryable(err.message, 'WebhookFailed');
  }
}
