/**
 * Hugging Face's own error bodies, which the router and TGI send instead of OpenAI's:
 * `{ error: "Model X is currently loading", estimated_time: 20.0 }` (503: Overloaded, retried
 * after the estimate, at most 30 s), `{ error, error_type: 'overloaded' }` (429), TGI's validation error for a
 * prompt over the model's limit (422: ContextLengthExceeded). OpenAI-shaped bodies (the router
 * passes some providers' on) are left to `toProviderFailure`.
 */
import { APIError } from 'openai';
import { classifyStatus, failure, retryAfterMs } from '../errors';

/** HF's error body: `error` is a string (OpenAI's is an object). */
export interface HfErrorBody {
  error: string;
  error_type?: string;
  estimated_time?: number;
}

export const isHfErrorBody = (b: unknown): b is HfErrorBody =>
  typeof b === 'object' && b !== null && typeof (b as { error?: unknown }).error === 'string';

/**
 * The longest wait a load estimate sets before the next attempt. A model may take minutes to load
 * (HF says so, `estimated_time: 600`): waiting that long would hold the request until its deadline,
 * so the retry comes sooner, and a fallback can answer meanwhile.
 */
export const HF_MAX_LOADING_RETRY_MS = 30_000;

/** TGI: "`inputs` tokens + `max_new_tokens` must be <= 4096", "`inputs` must have less than 4096 tokens". */
const TGI_TOO_LONG = /tokens \+ `?max_new_tokens`? must be <=|must have less than \d+ tokens/i;

/** The failure an HF error body means; anything else is returned as it was. */
export function hfFailure(
  err: unknown,
  body: unknown,
  provider: string,
  model: string,
  apiKey: string | null,
): unknown {
  if (!(err instanceof APIError) || typeof err.status !== 'number' || !isHfErrorBody(body)) return err;
  // The message is built here from the provider's text: the key it was sent is cut out first.
  const text = apiKey ? body.error.split(apiKey).join('[redacted]') : body.error;
  const code = body.error_type && /^[a-z_]{1,40}$/.test(body.error_type) ? body.error_type : undefined;
  const details = { provider, model, status: err.status, ...(code && { providerCode: code }) };
  const message = `${provider}/${model} ${err.status}: ${text}`;
  if (err.status === 503 && typeof body.estimated_time === 'number' && Number.isFinite(body.estimated_time))
    // A cold model: worth waiting about as long as HF estimates it takes to load, up to the cap.
    return failure('Overloaded', message, {
      ...details,
      providerCode: 'model_loading',
      retryAfterMs: Math.min(HF_MAX_LOADING_RETRY_MS, Math.max(0, Math.round(body.estimated_time * 1000))),
    });
  if (TGI_TOO_LONG.test(text)) return failure('ContextLengthExceeded', message, details);
  const retry = retryAfterMs(err.headers);
  return failure(classifyStatus(err.status, text, code), message, {
    ...details,
    ...(retry !== undefined && { retryAfterMs: retry }),
  });
}
