/**
 * The fault matrix: for both wire formats, each provider fault injected on the requested model,
 * over real HTTP (client → API → workflow → official SDK → fake provider), with the expected
 * retries, fallback target, final HTTP status and attempt list.
 */
import { CatalogSchema } from '../../src/domain/catalog';
import type { Behaviour, FakeProvider, WireFormat } from '../support/fakeProvider';
import { fakeCatalogProviders, useTestStack } from '../support/stack';

// Two providers, one per wire format, each with a small and a large model. `an/tiny-strong` is a
// high-tier model with a small window: first in line after `oa/small`, so a context-length
// failure must skip it.
const stack = useTestStack(
  {
    catalog: (f) =>
      CatalogSchema.parse({
        providers: fakeCatalogProviders(f),
        models: [
          {
            id: 'oa/small',
            provider: 'oa',
            model: 'small',
            inputPricePerMTok: 0.1,
            outputPricePerMTok: 0.4,
            contextWindow: 8_000,
            maxOutputTokens: 1_000,
            capabilities: ['chat', 'json'],
            qualityTier: 2,
          },
          {
            id: 'oa/large',
            provider: 'oa',
            model: 'large',
            inputPricePerMTok: 2,
            outputPricePerMTok: 8,
            contextWindow: 200_000,
            maxOutputTokens: 4_000,
            capabilities: ['chat', 'json'],
            qualityTier: 4,
          },
          {
            id: 'an/small',
            provider: 'an',
            model: 'small',
            inputPricePerMTok: 0.2,
            outputPricePerMTok: 1,
            contextWindow: 8_000,
            maxOutputTokens: 1_000,
            capabilities: ['chat'],
            qualityTier: 2,
          },
          {
            id: 'an/tiny-strong',
            provider: 'an',
            model: 'tiny-strong',
            inputPricePerMTok: 1,
            outputPricePerMTok: 4,
            contextWindow: 8_000,
            maxOutputTokens: 1_000,
            capabilities: ['chat'],
            qualityTier: 5,
          },
          {
            id: 'an/large',
            provider: 'an',
            model: 'large',
            inputPricePerMTok: 3,
            outputPricePerMTok: 15,
            contextWindow: 200_000,
            maxOutputTokens: 4_000,
            capabilities: ['chat'],
            qualityTier: 4,
          },
        ],
      }),
    config: {
      // Fallback order by quality: after oa/small comes an/tiny-strong (another provider, tier 5), then oa/large.
      routing: { defaultStrategy: 'quality' },
      retry: {
        default: {
          maximumAttempts: 3,
          initialIntervalMs: 20,
          backoffCoefficient: 1,
          maximumIntervalMs: 20,
          timeoutMs: 600,
        },
      },
    },
  },
  { resetFakes: true },
);

interface Row {
  fault: string;
  behaviour: (format: WireFormat) => Behaviour;
  errorType: string;
  primaryAttempts: number;
  status: number;
  /** The error's code when nobody answers (default: the failure type). */
  code?: string;
  /** The model that answers, per format of the failing primary; undefined when nobody does. */
  answeredBy?: Record<WireFormat, string>;
}

const OTHER_PROVIDER = { openai: 'an/tiny-strong', anthropic: 'oa/large' } as const;
const LARGER_CONTEXT = { openai: 'oa/large', anthropic: 'oa/large' } as const;

const ROWS: Row[] = [
  {
    fault: '429 rate limited',
    behaviour: () => ({
      kind: 'error',
      status: 429,
      code: 'rate_limit_exceeded',
      message: 'Rate limit reached',
      headers: { 'retry-after-ms': '10' },
    }),
    errorType: 'RateLimited',
    primaryAttempts: 3,
    status: 200,
    answeredBy: OTHER_PROVIDER,
  },
  {
    fault: '500 server error',
    behaviour: () => ({
      kind: 'error',
      status: 500,
      message: 'The server had an error while processing your request.',
    }),
    errorType: 'Overloaded',
    primaryAttempts: 3,
    status: 200,
    answeredBy: OTHER_PROVIDER,
  },
  {
    fault: '503 overloaded',
    behaviour: (f) => ({ kind: 'error', status: f === 'anthropic' ? 529 : 503, message: 'Overloaded' }),
    errorType: 'Overloaded',
    primaryAttempts: 3,
    status: 200,
    answeredBy: OTHER_PROVIDER,
  },
  {
    fault: 'hang past the timeout',
    behaviour: () => ({ kind: 'hang' }),
    errorType: 'Timeout',
    primaryAttempts: 3,
    status: 200,
    answeredBy: OTHER_PROVIDER,
  },
  {
    fault: 'connection reset',
    behaviour: () => ({ kind: 'reset' }),
    errorType: 'Connection',
    primaryAttempts: 3,
    status: 200,
    answeredBy: OTHER_PROVIDER,
  },
  {
    fault: 'malformed JSON',
    behaviour: () => ({ kind: 'malformed' }),
    errorType: 'MalformedResponse',
    primaryAttempts: 3,
    status: 200,
    answeredBy: OTHER_PROVIDER,
  },
  {
    fault: 'context length exceeded',
    behaviour: (f) =>
      f === 'anthropic'
        ? { kind: 'error', status: 400, message: 'prompt is too long: 215000 tokens > 200000 maximum' }
        : {
            kind: 'error',
            status: 400,
            code: 'context_length_exceeded',
            message:
              "This model's maximum context length is 8000 tokens. However, your messages resulted in 9000 tokens.",
          },
    errorType: 'ContextLengthExceeded',
    primaryAttempts: 1,
    status: 200,
    answeredBy: LARGER_CONTEXT,
  },
  {
    fault: 'content filtered',
    behaviour: (f) =>
      f === 'anthropic'
        ? { kind: 'ok', filtered: true }
        : {
            kind: 'error',
            status: 400,
            code: 'content_filter',
            message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
          },
    errorType: 'ContentFiltered',
    primaryAttempts: 1,
    // Propagated by default (`fallback.onContentFilter` off): the provider's code, or OpenAI's
    // `content_filter` for a filtered answer.
    status: 400,
    code: 'content_filter',
  },
  {
    fault: 'auth failed',
    behaviour: (f) => ({
      kind: 'error',
      status: 401,
      message: f === 'anthropic' ? 'invalid x-api-key' : 'Incorrect API key provided',
    }),
    errorType: 'AuthFailed',
    primaryAttempts: 1,
    status: 200,
    answeredBy: OTHER_PROVIDER,
  },
  {
    fault: 'unknown model',
    behaviour: () => ({ kind: 'error', status: 404, code: 'model_not_found', message: 'The model does not exist' }),
    errorType: 'NotFound',
    primaryAttempts: 1,
    status: 200,
    answeredBy: OTHER_PROVIDER,
  },
  {
    fault: 'invalid request',
    behaviour: (f) => ({
      kind: 'error',
      status: 400,
      code: 'invalid_value',
      message:
        f === 'anthropic'
          ? 'messages: roles must alternate between "user" and "assistant"'
          : "Invalid value: 'wizard'. Supported values are: 'system', 'user'.",
    }),
    errorType: 'InvalidRequest',
    primaryAttempts: 1,
    status: 400,
  },
];

const FORMATS: Array<{ format: WireFormat; primary: string; fake: () => FakeProvider }> = [
  { format: 'openai', primary: 'oa/small', fake: () => stack.fakes.openai },
  { format: 'anthropic', primary: 'an/small', fake: () => stack.fakes.anthropic },
];

type Attempt = {
  candidateIndex: number;
  attempt: number;
  provider: string;
  model: string;
  outcome: string;
  errorType?: string;
};

describe.each(FORMATS)('$format wire format', ({ format, primary, fake }) => {
  it.each(ROWS)('$fault → $errorType', async (row) => {
    fake().setDefault('small', row.behaviour(format));
    const res = await stack.post('/chat/completions', {
      model: primary,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(res.status).toBe(row.status);

    const attempts: Attempt[] = res.status === 200 ? res.body.switchyard.attempts : res.body.error.attempts;
    const onPrimary = attempts.filter((a) => `${a.provider}/${a.model}` === primary);
    expect(onPrimary).toHaveLength(row.primaryAttempts);
    expect(onPrimary.map((a) => a.attempt)).toEqual(Array.from({ length: row.primaryAttempts }, (_, i) => i + 1));
    expect(new Set(onPrimary.map((a) => a.errorType))).toEqual(new Set([row.errorType]));
    // The fake saw exactly the attempts the record lists: no hidden SDK retries.
    expect(fake().callsFor('small')).toHaveLength(row.primaryAttempts);

    if (row.answeredBy) {
      const target = row.answeredBy[format];
      expect(res.headers.get('x-switchyard-model')).toBe(target);
      expect(attempts.filter((a) => a.outcome === 'success').map((a) => `${a.provider}/${a.model}`)).toEqual([target]);
      // Nothing but the primary's attempts and one success on the target.
      expect(attempts).toHaveLength(row.primaryAttempts + 1);
    } else {
      expect(res.body.error.type).toBe('invalid_request_error');
      expect(res.body.error.code).toBe(row.code ?? row.errorType);
      expect(attempts).toHaveLength(row.primaryAttempts);
      // Not sent to a second provider.
      const other = format === 'openai' ? stack.fakes.anthropic : stack.fakes.openai;
      expect(other.calls).toHaveLength(0);
    }
  });
});

it('a context-length failure never falls back to another model that is too small', async () => {
  stack.fakes.openai.setDefault('small', {
    kind: 'error',
    status: 400,
    code: 'context_length_exceeded',
    message: "This model's maximum context length is 8000 tokens.",
  });
  const res = await stack.post('/chat/completions', {
    model: 'oa/small',
    messages: [{ role: 'user', content: 'Hello' }],
  });
  expect(res.status).toBe(200);
  const candidates = res.body.switchyard.candidates as Array<{ modelId: string; outcome: string; action?: string }>;
  expect(candidates.map((c) => [c.modelId, c.outcome])).toEqual([
    ['oa/small', 'error'],
    ['an/tiny-strong', 'skipped'],
    ['oa/large', 'success'],
  ]);
  expect(candidates[1]!.action).toMatch(/context window 8000/);
  expect(stack.fakes.anthropic.callsFor('tiny-strong')).toHaveLength(0);
});

it('every candidate failing is a 503 that lists each attempt and why', async () => {
  stack.fakes.openai.setDefault('small', { kind: 'error', status: 500 });
  stack.fakes.anthropic.setDefault('tiny-strong', { kind: 'error', status: 529, message: 'Overloaded' });
  stack.fakes.openai.setDefault('large', { kind: 'reset' });
  const res = await stack.post('/chat/completions', {
    model: 'oa/small',
    messages: [{ role: 'user', content: 'Hello' }],
  });
  expect(res.status).toBe(503);
  expect(res.body.error).toMatchObject({ type: 'provider_error', code: 'AllCandidatesFailed' });
  expect((res.body.error.candidates as Array<{ errorType: string }>).map((c) => c.errorType)).toEqual([
    'Overloaded',
    'Overloaded',
    'Connection',
  ]);
  expect(res.body.error.attempts).toHaveLength(9);
});

it('every candidate rate limited is a 429', async () => {
  for (const m of ['small', 'large'])
    stack.fakes.openai.setDefault(m, { kind: 'error', status: 429, headers: { 'retry-after-ms': '5' } });
  for (const m of ['tiny-strong', 'large'])
    stack.fakes.anthropic.setDefault(m, { kind: 'error', status: 429, headers: { 'retry-after': '0' } });
  const res = await stack.post('/chat/completions', {
    model: 'oa/small',
    messages: [{ role: 'user', content: 'Hello' }],
  });
  expect(res.status).toBe(429);
  expect(res.body.error).toMatchObject({ type: 'rate_limit_error', code: 'AllRateLimited' });
});

it('retry-after: 2 on a 429 delays the next attempt by about 2 s (from the attempt timestamps)', async () => {
  stack.fakes.openai.script('small', {
    kind: 'error',
    status: 429,
    message: 'Rate limit reached',
    headers: { 'retry-after': '2' },
  });
  const res = await stack.post('/chat/completions', {
    model: 'oa/small',
    messages: [{ role: 'user', content: 'Hello' }],
  });
  expect(res.status).toBe(200);
  const attempts = res.body.switchyard.attempts as Array<{
    attempt: number;
    outcome: string;
    startedAt: string;
    latencyMs: number;
  }>;
  expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
    [1, 'error'],
    [2, 'success'],
  ]);
  // Gap between the end of attempt 1 and the start of attempt 2; the policy's own backoff is 20 ms.
  const gap = Date.parse(attempts[1]!.startedAt) - (Date.parse(attempts[0]!.startedAt) + attempts[0]!.latencyMs);
  expect(gap).toBeGreaterThanOrEqual(1_900);
  expect(gap).toBeLessThan(3_500);
});

it('a request past its deadline ends with 504 and its attempts', async () => {
  stack.fakes.openai.setDefault('small', { kind: 'hang' });
  const res = await stack.post(
    '/chat/completions',
    { model: 'oa/small', messages: [{ role: 'user', content: 'Hello' }] },
    { 'X-Switchyard-Timeout-Ms': '900' },
  );
  expect(res.status).toBe(504);
  expect(res.body.error).toMatchObject({ type: 'timeout_error', code: 'DeadlineExceeded' });
  // Nothing was tried after the deadline.
  expect(stack.fakes.anthropic.calls).toHaveLength(0);
});
