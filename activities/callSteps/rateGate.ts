/**
 * The rate gate: waits for the call's turn under its provider's rate limits, up to the
 * provider's bound. The rpm wait already happened (in the provider's task queue: the time from
 * scheduled to started); a `tpm` limit takes this minute's tokens in Postgres, shared by every
 * worker, or waits for the next minute. Refused past the bound: the attempt withdrawn, then
 * `RateLimited` (the workflow falls back). The wait goes on the attempt's record.
 */
import type { Db } from '../../src/db';
import * as requests from '../../src/db/requests';
import { rateLimitWaitOf } from '../../src/domain/catalog';
import { ChatCompletionRequestSchema, maxOutputTokens } from '../../src/domain/chat';
import { DEFAULT_OUTPUT_TOKENS } from '../../src/domain/limits';
import type { CallModelInput } from '../../src/domain/request';
import { countMessageTokens } from '../../src/domain/tokens';
import { failure } from '../../src/providers/errors';
import { noteSwallowed, type Metrics } from '../../src/services/metrics';
import { messagesOf, type StoredRequest } from '../storedRequest';
import { whoOf, type AttemptRef, type CallContext, type Target, type TokenTurn } from './call';
import { withdrawAttempt } from './transactions';

/** Heartbeats while it waits at most this long apart (the call's heartbeat timeout is shorter than a minute). */
const WAIT_HEARTBEAT_MS = 2_000;

/** The tokens a call may use at most: its prompt and its output cap. */
export function tokenEstimate(model: Target['model'], r: StoredRequest): number {
  const cap = r.operation === 'chat' ? maxOutputTokens(ChatCompletionRequestSchema.parse(r.body)) : undefined;
  return countMessageTokens(messagesOf(r)) + Math.min(model.maxOutputTokens, cap ?? DEFAULT_OUTPUT_TOKENS);
}

/** Undefined when the provider has no rate limits to wait for. */
export async function takeTurn(
  deps: { db: Db; metrics?: Metrics },
  ctx: CallContext,
  input: CallModelInput,
  { provider, model }: Target,
  r: StoredRequest,
  startedAt: Date,
  ref: AttemptRef,
): Promise<TokenTurn | undefined> {
  const bound = rateLimitWaitOf(provider);
  if (bound === undefined) return undefined;
  let queuedMs = Math.max(0, startedAt.getTime() - ctx.info.currentAttemptScheduledTimestampMs);
  let taken: { minute: Date; estimate: number } | undefined;
  if (provider.tpm !== undefined) {
    const estimate = tokenEstimate(model, r);
    const gateStart = Date.now();
    for (;;) {
      const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000);
      if (await requests.takeTokens(deps.db, provider.id, minute, estimate, provider.tpm)) {
        taken = { minute, estimate };
        break;
      }
      const next = minute.getTime() + 60_000;
      if (next - gateStart > bound) {
        await withdrawAttempt(deps.db, ref);
        throw failure(
          'RateLimited',
          `${provider.id}: its tpm limit (${provider.tpm}) has no room for ${estimate} more tokens this minute, and the next is past the ${bound} ms wait`,
          whoOf(input),
        );
      }
      while (Date.now() < next) {
        ctx.heartbeat();
        await ctx.sleep(Math.min(WAIT_HEARTBEAT_MS, next - Date.now() + 5));
      }
    }
    queuedMs += Date.now() - gateStart;
  }
  await requests.setQueued(deps.db, input.requestId, input.candidateIndex, ref.attempt, queuedMs);
  deps.metrics?.rateLimitWaitSeconds.observe({ provider: provider.id }, queuedMs / 1000);
  return {
    settle: (actual) => {
      if (taken)
        void requests
          .adjustTokens(deps.db, provider.id, taken.minute, actual - taken.estimate)
          .catch((err: unknown) =>
            noteSwallowed(
              'tpm_adjust',
              err,
              { requestId: input.requestId, provider: provider.id, minute: taken.minute },
              "the provider's tpm count was not corrected to the tokens used",
            ),
          );
    },
  };
}
