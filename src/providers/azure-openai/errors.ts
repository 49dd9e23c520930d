/**
 * Azure's content filter. A prompt it blocks is a 400 with `code: 'content_filter'` and
 * `innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result }`; an answer it
 * blocks is a 200 whose choice ends `finish_reason: 'content_filter'` (read by the activity).
 * Everything else Azure answers is OpenAI-shaped and left to `toProviderFailure`.
 */
import { APIError } from 'openai';
import { failure } from '../errors';

interface AzureErrorBody {
  code?: unknown;
  innererror?: { code?: unknown; content_filter_result?: Record<string, { filtered?: unknown; severity?: unknown }> };
}

/** The categories that were filtered, e.g. `violence (high)`: fixed names and levels, nothing of the text. */
function filteredCategories(result: AzureErrorBody['innererror']): string[] {
  const r = result?.content_filter_result;
  if (!r || typeof r !== 'object') return [];
  return Object.entries(r).flatMap(([name, v]) =>
    v && typeof v === 'object' && v.filtered === true && /^[a-z_]{1,40}$/.test(name)
      ? [typeof v.severity === 'string' && /^[a-z_]{1,20}$/.test(v.severity) ? `${name} (${v.severity})` : name]
      : [],
  );
}

/** Azure's content-filter 400 as ContentFiltered; any other error is returned as it was. */
export function azureFailure(err: unknown, provider: string, model: string): unknown {
  if (!(err instanceof APIError) || err.status !== 400) return err;
  const body = (typeof err.error === 'object' && err.error ? err.error : {}) as AzureErrorBody;
  const inner = body.innererror;
  if (body.code !== 'content_filter' && inner?.code !== 'ResponsibleAIPolicyViolation') return err;
  const categories = filteredCategories(inner);
  return failure(
    'ContentFiltered',
    `${provider}/${model} 400: Azure's content filter blocked the prompt${categories.length ? `: ${categories.join(', ')}` : ''}`,
    {
      provider,
      model,
      status: 400,
      providerCode: typeof inner?.code === 'string' ? inner.code : 'content_filter',
    },
  );
}
