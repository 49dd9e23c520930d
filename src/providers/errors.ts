/**
 * Maps every SDK error (openai, @anthropic-ai/sdk) and HTTP status onto our failure taxonomy
 * (`src/domain/failures.ts`) as a Temporal `ApplicationFailure`, so retries and fallbacks key on
 * one vocabulary. Provider error *text* matters: a context-window overflow arrives as a plain 400
 * and must not be mistaken for an invalid request, or the fallback to a larger model never fires.
 */
import { redact, safeIdentifier } from './redact';
import Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import { FAILURE_RULES, type FailureType } from '../domain/failures';

export interface ProviderFailureDetails {
  provider: string;
  model: string;
  status?: number;
  /**
   * Provider's own error code/type, e.g. `context_length_exceeded`, `overloaded_error`: only a short
   * identifier with no secret in it (`safeIdentifier`), else absent.
   */
  providerCode?: string;
  retryAfterMs?: number;
}

const CONTEXT_LENGTH =
  /context[_ ]length|context window|maximum context|too many tokens|prompt is too long|input is too long|reduce the length/i;
const CONTENT_FILTER = /content[_ ]?(filter|policy|management)|safety system|flagged|responsible ai/i;
const TIMED_OUT = /timed? ?out|timeout/i;
const UNKNOWN_MODEL = /model[_ ]not[_ ]found|does not exist|unknown model|no such model/i;

/** Reads `retry-after-ms` (OpenAI) or `retry-after` (seconds or HTTP date) from response headers. */
export function retryAfterMs(
  headers: Headers | Record<string, string> | undefined,
  now = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const get = (k: string) =>
    (headers instanceof Headers ? headers.get(k) : (headers[k] ?? headers[k.toLowerCase()])) ?? undefined;
  const ms = get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const ra = get('retry-after');
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra.trim())) return Math.round(Number(ra) * 1000);
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Longest provider text kept in a failure's message (a provider may answer with a whole HTML page). */
export const MAX_FAILURE_MESSAGE = 2_000;

function bodyOf(err: { error?: unknown }): { code?: string; type?: string; message?: string } {
  // OpenAI: {error: {message, type, code}} (SDK hands us the inner object);
  // Anthropic: {type: 'error', error: {type, message}} (SDK hands us the whole body).
  const e = err.error as Record<string, unknown> | undefined;
  if (!e || typeof e !== 'object') return {};
  const inner = (typeof e.error === 'object' && e.error ? e.error : e) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return { code: str(inner.code), type: str(inner.type), message: str(inner.message) };
}

export function classifyStatus(status: number, text: string, code?: string): FailureType {
  if (status === 429) return 'RateLimited';
  if (status === 408) return 'Timeout';
  if (status === 401 || status === 403) return 'AuthFailed';
  if (status === 404) return 'NotFound';
  if (status === 413 || code === 'context_length_exceeded' || CONTEXT_LENGTH.test(text)) return 'ContextLengthExceeded';
  if (code === 'content_filter' || CONTENT_FILTER.test(text)) return 'ContentFiltered';
  if (status === 400 && UNKNOWN_MODEL.test(text)) return 'NotFound';
  if (status >= 500) return 'Overloaded';
  if (status >= 400) return 'InvalidRequest';
  return 'MalformedResponse';
}

const bounded = (text: string) =>
  text.length <= MAX_FAILURE_MESSAGE ? text : `${text.slice(0, MAX_FAILURE_MESSAGE)}… (truncated)`;

export function failure(type: FailureType, message: string, details: ProviderFailureDetails): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    // Redacted here, so no provider text reaches the attempt row, the client or history unredacted
    // (and bounded: an attempt row and a history event are no place for a provider's whole page).
    // Only the head is read: a key cut at that edge lies far past what is kept.
    message: bounded(redact(message.slice(0, 64 * MAX_FAILURE_MESSAGE))),
    nonRetryable: !FAILURE_RULES[type].retryable,
    // Rebuilt field by field: whatever a caller put in `providerCode`, only an identifier goes on.
    details: [
      {
        provider: details.provider,
        model: details.model,
        ...(details.status !== undefined && { status: details.status }),
        ...(safeIdentifier(details.providerCode) !== undefined && { providerCode: details.providerCode }),
        ...(details.retryAfterMs !== undefined && { retryAfterMs: details.retryAfterMs }),
      },
    ],
    // Honour the provider's retry-after: Temporal waits exactly this long before the next attempt.
    // At least 1 ms: a zero delay (`retry-after: 0`) makes Temporal skip the retry altogether.
    nextRetryDelay: details.retryAfterMs !== undefined ? Math.max(1, details.retryAfterMs) : undefined,
  });
}

/** Converts anything a provider call threw into an ApplicationFailure of our taxonomy. */
export function toProviderFailure(err: unknown, provider: string, model: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const base = { provider, model };
  // Names and messages, not only instanceof: errors can cross realms (native JSON.parse errors in a
  // sandbox, an SDK bundled twice), and a misread type would send a timeout down the wrong path.
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    name?: unknown;
    message?: unknown;
    cause?: { name?: unknown; message?: unknown };
  };
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const cause =
    typeof e.cause === 'object' && e.cause !== null
      ? { name: String(e.cause.name ?? ''), message: String(e.cause.message ?? '') }
      : undefined;
  const isTimeout =
    err instanceof OpenAI.APIConnectionTimeoutError ||
    err instanceof Anthropic.APIConnectionTimeoutError ||
    name === 'APIConnectionTimeoutError' ||
    name === 'ProviderTimeoutError' ||
    ((err instanceof OpenAI.APIConnectionError || err instanceof Anthropic.APIConnectionError) &&
      TIMED_OUT.test(`${message} ${cause?.name ?? ''} ${cause?.message ?? ''}`));
  if (isTimeout) return failure('Timeout', `${provider}/${model} did not answer in time`, base);
  if (name === 'StreamStalledError') {
    // Before the first token: its own type, not retried on this candidate (FAILURE_RULES); read
    // by field, not instanceof, as the name is. Once the stream has begun, a stall stays a Timeout.
    const firstToken = (err as { firstToken?: unknown }).firstToken === true;
    return failure(firstToken ? 'FirstTokenTimeout' : 'Timeout', `${provider}/${model}: ${message}`, base);
  }
  const isConnection =
    err instanceof OpenAI.APIConnectionError ||
    err instanceof Anthropic.APIConnectionError ||
    name === 'APIConnectionError';
  if (isConnection)
    return failure('Connection', `${provider}/${model} connection failed${cause ? `: ${cause.message}` : ''}`, base);
  const isApi = err instanceof OpenAI.APIError || err instanceof Anthropic.APIError;
  if (isApi && typeof (err as { status?: unknown }).status === 'number') {
    const apiErr = err as { status: number; headers?: Headers; error?: unknown; message: string };
    const body = bodyOf(apiErr);
    const text = `${body.message ?? ''} ${body.code ?? ''} ${body.type ?? ''} ${apiErr.message}`;
    const type = classifyStatus(apiErr.status, text, body.code);
    const details: ProviderFailureDetails = {
      ...base,
      status: apiErr.status,
      // The code or type as a short identifier, never free text: a provider may echo the key there.
      providerCode: safeIdentifier(body.code) ?? safeIdentifier(body.type),
      retryAfterMs: retryAfterMs(apiErr.headers),
    };
    return failure(type, `${provider}/${model} ${apiErr.status}: ${body.message ?? apiErr.message}`, details);
  }
  // MalformedStreamError (`sse.ts`): more malformed events than a stream may skip.
  if (name === 'SyntaxError' || name === 'MalformedStreamError' || /JSON|Unexpected token|malformed/i.test(message)) {
    return failure('MalformedResponse', `${provider}/${model} returned a malformed response: ${message}`, base);
  }
  return failure('Connection', `${provider}/${model} call failed: ${message}`, base);
}
