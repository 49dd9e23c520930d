/** gRPC statuses of the HTTP path's errors, the RetryInfo detail, and Struct ↔ JSON. */
import { status } from '@grpc/grpc-js';
import { HttpError } from '../../src/api/errors';
import { grpcCodeOf, retryDelayOf, toGrpcError } from '../../src/grpc/status';
import { fromStruct, toStruct } from '../../src/grpc/struct';
import { chatBodyOf, operationBodyOf } from '../../src/grpc/server';

it('maps each HTTP status to its gRPC code', () => {
  const code = (s: number, c: string | null = null) => grpcCodeOf({ status: s, code: c });
  expect([400, 401, 403, 404, 409, 429, 501, 502, 503, 504, 500].map((s) => status[code(s)])).toEqual([
    'INVALID_ARGUMENT',
    'UNAUTHENTICATED',
    'PERMISSION_DENIED',
    'NOT_FOUND',
    'ABORTED',
    'RESOURCE_EXHAUSTED',
    'UNIMPLEMENTED',
    'UNAVAILABLE',
    'UNAVAILABLE',
    'DEADLINE_EXCEEDED',
    'INTERNAL',
  ]);
  expect(code(409, 'Cancelled')).toBe(status.CANCELLED);
});

it('carries type, code, param, request id and retry information as trailers', () => {
  const e = toGrpcError(
    new HttpError(429, 'rate_limit_error', 'slow down', {
      code: 'key_rate_limited',
      param: 'x',
      extra: { request_id: 'r1' },
      headers: { 'retry-after': '7' },
    }),
  );
  expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
  expect(e.details).toBe('slow down');
  const md = e.metadata.getMap();
  expect(md).toMatchObject({
    'switchyard-error-type': 'rate_limit_error',
    'switchyard-error-code': 'key_rate_limited',
    'switchyard-error-param': 'x',
    'x-switchyard-request-id': 'r1',
    'retry-after': '7',
  });
  expect(retryDelayOf(e.metadata.get('grpc-status-details-bin')[0] as Buffer)).toBe(7);
  // An error the path does not know: INTERNAL, its message not leaked.
  const internal = toGrpcError(new Error('secret detail'));
  expect([internal.code, internal.details]).toEqual([status.INTERNAL, 'Internal error; it has been logged.']);
});

it('round-trips JSON through google.protobuf.Struct', () => {
  const json = { a: 1, b: 'x', c: true, d: null, e: [1, 'two', { f: false }], g: { h: [] } };
  expect(fromStruct(toStruct(json))).toEqual(json);
  expect(fromStruct(toStruct({ when: new Date('2026-01-02T03:04:05Z'), skip: undefined }))).toEqual({
    when: '2026-01-02T03:04:05.000Z',
  });
});

it('builds the HTTP bodies from the messages (empty strings are unset fields)', () => {
  expect(
    chatBodyOf({
      model: 'auto',
      messages: [{ role: 'user', content: 'hi', name: '' }],
      max_tokens: 5,
      user: '',
      extra: toStruct({ top_p: 0.5 }),
    }),
  ).toEqual({ model: 'auto', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, top_p: 0.5 });
  expect(operationBodyOf('embed', { text: 'x' })).toEqual({ input: 'x' });
  expect(operationBodyOf('intent', { text: 'x', options: toStruct({ labels: ['a', 'b'] }) })).toEqual({
    text: 'x',
    labels: ['a', 'b'],
  });
});
