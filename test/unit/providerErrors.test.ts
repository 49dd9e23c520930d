import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { HEALTH_FAILURES, healthFailureType } from '../../src/domain/breaker';
import { StreamStalledError } from '../../src/providers/deadline';
import { classifyStatus, retryAfterMs, toProviderFailure } from '../../src/providers/errors';

// Error bodies as the providers send them (OpenAI: {error:{...}}; Anthropic: {type:'error', error:{...}}).
const openai = (status: number, error: object, headers: Record<string, string> = {}) =>
  OpenAI.APIError.generate(status, { error }, undefined, new Headers(headers));
const anthropic = (status: number, error: object, headers: Record<string, string> = {}) =>
  Anthropic.APIError.generate(status, { type: 'error', error }, undefined, new Headers(headers));

const map = (err: unknown) => toProviderFailure(err, 'p', 'm');

describe('provider error taxonomy', () => {
  it.each([
    [
      'OpenAI 429',
      openai(
        429,
        {
          message: 'Rate limit reached for gpt-4o-mini on tokens per min (TPM)',
          type: 'tokens',
          param: null,
          code: 'rate_limit_exceeded',
        },
        { 'retry-after-ms': '450' },
      ),
      'RateLimited',
      false,
    ],
    [
      'OpenAI 500',
      openai(500, {
        message: 'The server had an error while processing your request. Sorry about that!',
        type: 'server_error',
        param: null,
        code: null,
      }),
      'Overloaded',
      false,
    ],
    [
      'OpenAI 503',
      openai(503, {
        message: 'The engine is currently overloaded, please try again later.',
        type: 'server_error',
        param: null,
        code: null,
      }),
      'Overloaded',
      false,
    ],
    [
      'OpenAI context',
      openai(400, {
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
        type: 'invalid_request_error',
        param: 'messages',
        code: 'context_length_exceeded',
      }),
      'ContextLengthExceeded',
      true,
    ],
    [
      'Azure content filter',
      openai(400, {
        message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        type: null,
        param: 'prompt',
        code: 'content_filter',
      }),
      'ContentFiltered',
      true,
    ],
    [
      'OpenAI invalid role',
      openai(400, {
        message:
          "Invalid value: 'wizard'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
        type: 'invalid_request_error',
        param: 'messages[0].role',
        code: 'invalid_value',
      }),
      'InvalidRequest',
      true,
    ],
    [
      'OpenAI 401',
      openai(401, {
        message: 'Incorrect API key provided: sk-xxx.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      }),
      'AuthFailed',
      true,
    ],
    [
      'OpenAI unknown model',
      openai(404, {
        message: 'The model `gpt-9` does not exist or you do not have access to it.',
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      }),
      'NotFound',
      true,
    ],
    ['Anthropic 529', anthropic(529, { type: 'overloaded_error', message: 'Overloaded' }), 'Overloaded', false],
    [
      'Anthropic 429',
      anthropic(
        429,
        { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' },
        { 'retry-after': '20' },
      ),
      'RateLimited',
      false,
    ],
    [
      'Anthropic prompt too long',
      anthropic(400, { type: 'invalid_request_error', message: 'prompt is too long: 215000 tokens > 200000 maximum' }),
      'ContextLengthExceeded',
      true,
    ],
    [
      'Anthropic role alternation',
      anthropic(400, {
        type: 'invalid_request_error',
        message: 'messages: roles must alternate between "user" and "assistant"',
      }),
      'InvalidRequest',
      true,
    ],
    [
      'Anthropic 401',
      anthropic(401, { type: 'authentication_error', message: 'invalid x-api-key' }),
      'AuthFailed',
      true,
    ],
    [
      'Anthropic 403',
      anthropic(403, {
        type: 'permission_error',
        message: 'Your API key does not have permission to use the specified resource.',
      }),
      'AuthFailed',
      true,
    ],
    [
      'Anthropic unknown model',
      anthropic(404, { type: 'not_found_error', message: 'model: claude-9' }),
      'NotFound',
      true,
    ],
  ])('%s → %s', (_name, err, type, nonRetryable) => {
    const f = map(err);
    expect(f.type).toBe(type);
    expect(f.nonRetryable).toBe(nonRetryable);
  });

  it('carries retry-after into nextRetryDelay, from retry-after-ms or retry-after seconds', () => {
    expect(
      map(openai(429, { message: 'slow down', code: 'rate_limit_exceeded' }, { 'retry-after-ms': '450' }))
        .nextRetryDelay,
    ).toBe(450);
    expect(
      map(anthropic(429, { type: 'rate_limit_error', message: 'slow down' }, { 'retry-after': '2' })).nextRetryDelay,
    ).toBe(2000);
    expect(map(openai(500, { message: 'boom' })).nextRetryDelay).toBeUndefined();
    // `retry-after: 0` means "now": a next-retry delay of 0 would mean no retry at all to Temporal.
    expect(map(openai(429, { message: 'slow down' }, { 'retry-after': '0' })).nextRetryDelay).toBe(1);
  });

  it('parses retry-after as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now)).toBe(5000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
  });

  it('maps timeouts and connection failures from both SDKs', () => {
    expect(map(new OpenAI.APIConnectionTimeoutError()).type).toBe('Timeout');
    expect(map(new Anthropic.APIConnectionTimeoutError()).type).toBe('Timeout');
    expect(map(new OpenAI.APIConnectionError({ cause: new Error('ECONNRESET') })).type).toBe('Connection');
    expect(map(new Anthropic.APIConnectionError({ cause: new Error('ECONNREFUSED') })).message).toMatch(/ECONNREFUSED/);
  });

  it('a stream with no first token is a FirstTokenTimeout, not retried; a stall after it stays a retryable Timeout', () => {
    const first = map(new StreamStalledError(1500, true));
    expect(first).toMatchObject({ type: 'FirstTokenTimeout', nonRetryable: true });
    expect(first.message).toBe('p/m: no first token within 1500 ms');
    const idle = map(new StreamStalledError(1500, false));
    expect(idle).toMatchObject({ type: 'Timeout', nonRetryable: false });
    expect(idle.message).toMatch(/no chunk within 1500 ms/);
    // The breaker hears a first-token timeout as the endpoint's Timeout (its vocabulary unchanged).
    expect(healthFailureType('FirstTokenTimeout')).toBe('Timeout');
    expect(HEALTH_FAILURES.has(healthFailureType('FirstTokenTimeout'))).toBe(true);
    expect(healthFailureType('Overloaded')).toBe('Overloaded');
  });

  it('treats an unparseable body as a malformed response', () => {
    expect(map(new SyntaxError('Unexpected token < in JSON at position 0')).type).toBe('MalformedResponse');
  });

  it('classifies bare statuses', () => {
    expect(classifyStatus(413, '')).toBe('ContextLengthExceeded');
    expect(classifyStatus(408, '')).toBe('Timeout');
    expect(classifyStatus(422, 'bad field')).toBe('InvalidRequest');
    expect(classifyStatus(502, '')).toBe('Overloaded');
  });
});
