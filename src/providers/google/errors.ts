/**
 * Gemini's errors onto our failures. The SDK throws `ApiError` with the HTTP status and the body
 * as JSON text in its message (a stream's error chunk: `got status: …. {json}`); the body is
 * Google's `{error: {code, message, status, details}}`, whose details carry the refusal's reason
 * (`google.rpc.ErrorInfo`: API_KEY_INVALID comes as a 400) and the retry delay
 * (`google.rpc.RetryInfo`, "2s" / "0.5s").
 */
import { ApiError } from '@google/genai';
import type { FailureType } from '../../domain/failures';
import { classifyStatus, failure } from '../errors';
import { safeIdentifier } from '../redact';
import { GeminiRequestError } from './mapping';

export interface GeminiErrorBody {
  code?: number;
  message?: string;
  status?: string;
  details?: Array<Record<string, unknown>>;
}

/** The `error` object of the body an ApiError's message holds (undefined: not JSON). */
export function errorBodyOf(message: string): GeminiErrorBody | undefined {
  const start = message.indexOf('{');
  if (start < 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(message.slice(start));
    const inner = (parsed as { error?: unknown } | null)?.error;
    return inner !== null && typeof inner === 'object' ? (inner as GeminiErrorBody) : undefined;
  } catch {
    return undefined;
  }
}

const detail = (body: GeminiErrorBody, type: string) =>
  body.details?.find((d) => typeof d['@type'] === 'string' && d['@type'].endsWith(`google.rpc.${type}`));

/** A protobuf Duration as JSON ("2s", "0.5s", "1.250s"; or `{seconds, nanos}`) in milliseconds. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)s\s*$/.exec(value);
    return m ? Math.round(Number(m[1]) * 1000) : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
    const s = Number(seconds ?? 0);
    const n = Number(nanos ?? 0);
    return Number.isFinite(s) && Number.isFinite(n) && (seconds !== undefined || nanos !== undefined)
      ? Math.round(s * 1000 + n / 1e6)
      : undefined;
  }
  return undefined;
}

/** The retry delay Google's RetryInfo gives, in milliseconds. */
export const retryDelayMs = (body: GeminiErrorBody): number | undefined =>
  durationMs(detail(body, 'RetryInfo')?.retryDelay);

/** ErrorInfo's reason (API_KEY_INVALID, RATE_LIMIT_EXCEEDED…), as a short identifier only. */
export const reasonOf = (body: GeminiErrorBody): string | undefined =>
  safeIdentifier(detail(body, 'ErrorInfo')?.reason);

const TOKEN_LIMIT = /input token count.*exceeds the maximum|exceeds the maximum number of tokens|token count exceeds/i;
const KEY_REFUSED = /^(API_KEY_INVALID|API_KEY_EXPIRED|API_KEY_SERVICE_BLOCKED|API_KEY_HTTP_REFERRER_BLOCKED)$/;

export function classifyGemini(status: number, body: GeminiErrorBody): FailureType {
  const reason = reasonOf(body) ?? '';
  const text = body.message ?? '';
  if (KEY_REFUSED.test(reason) || body.status === 'UNAUTHENTICATED' || body.status === 'PERMISSION_DENIED')
    return 'AuthFailed';
  if (status === 429 || body.status === 'RESOURCE_EXHAUSTED') return 'RateLimited';
  if (status === 504 || body.status === 'DEADLINE_EXCEEDED') return 'Timeout';
  if (status === 400 && TOKEN_LIMIT.test(text)) return 'ContextLengthExceeded';
  if (status === 404 || body.status === 'NOT_FOUND') return 'NotFound';
  return classifyStatus(status, text, body.status);
}

/** The `fetch failed` error in an error or its causes. */
function fetchFailureOf(err: unknown): { cause?: unknown } | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== null && typeof e === 'object'; depth++) {
    const { message, cause } = e as { message?: unknown; cause?: unknown };
    if (message === 'fetch failed') return e as { cause?: unknown };
    e = cause;
  }
  return undefined;
}

/** Anything a Gemini call threw, as our failure where we can tell (the rest is `toProviderFailure`'s). */
export function geminiFailure(err: unknown, provider: string, model: string): unknown {
  const base = { provider, model };
  if (err instanceof GeminiRequestError) return failure('InvalidRequest', `${provider}/${model}: ${err.message}`, base);
  if (err instanceof ApiError || (err instanceof Error && err.name === 'ApiError')) {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as ApiError).status : 500;
    const body = errorBodyOf(err.message) ?? {};
    const type = classifyGemini(status, body);
    const code = reasonOf(body) ?? safeIdentifier(body.status);
    const details = {
      ...base,
      status,
      ...(code !== undefined && { providerCode: code }),
      ...(type === 'RateLimited' && retryDelayMs(body) !== undefined && { retryAfterMs: retryDelayMs(body) }),
    };
    // A refused key's message may quote the key: not passed on at all (the reason says enough).
    const said = type === 'AuthFailed' ? `the key was refused (${code ?? 'no reason given'})` : (body.message ?? '');
    return failure(type, `${provider}/${model} ${status}${body.status ? ` ${body.status}` : ''}: ${said}`, details);
  }
  // fetch's own failure (refused, reset, DNS), maybe wrapped by the client; read by name and
  // message, as it may come from another realm than ours.
  const fetchFailed = fetchFailureOf(err);
  if (fetchFailed) {
    const cause = fetchFailed.cause as { code?: unknown; message?: unknown } | undefined;
    const why = safeIdentifier(cause?.code) ?? (typeof cause?.message === 'string' ? cause.message : 'no cause');
    return failure('Connection', `${provider}/${model} connection failed: ${why}`, base);
  }
  return err;
}
