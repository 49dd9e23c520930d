/**
 * Errors as gRPC statuses: one mapping from the HTTP path's `HttpError` (its status, type, code,
 * param and extra fields) to a status code, its message, and trailers a client can read without
 * parsing the message: `switchyard-error-type`, `-code`, `-param`, `x-switchyard-request-id`, the
 * whole error object as JSON in `switchyard-error-bin`, and for RESOURCE_EXHAUSTED `retry-after`
 * with a google.rpc.RetryInfo detail in `grpc-status-details-bin` (what gRPC's rich error model
 * clients read).
 */
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { ConfigError } from '../config';
import { HttpError } from '../api/errors';

/** The gRPC code of an HTTP status (and, for a cancelled request, its code). */
export function grpcCodeOf(err: Pick<HttpError, 'status' | 'code'>): Status {
  if (err.code === 'Cancelled') return Status.CANCELLED;
  switch (err.status) {
    case 400:
    case 413:
    case 415:
    case 422:
      return Status.INVALID_ARGUMENT;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.NOT_FOUND;
    case 408:
    case 504:
      return Status.DEADLINE_EXCEEDED;
    case 409:
      return Status.ABORTED;
    case 429:
      return Status.RESOURCE_EXHAUSTED;
    case 501:
      return Status.UNIMPLEMENTED;
    case 502:
    case 503:
      return Status.UNAVAILABLE;
    default:
      return err.status >= 500 ? Status.INTERNAL : Status.FAILED_PRECONDITION;
  }
}

export type GrpcError = Partial<ServiceError> & { code: Status; details: string; metadata: Metadata };

/** Any error of the request path as the status a gRPC client gets (an unknown one: INTERNAL, logged by the caller). */
export function toGrpcError(err: unknown): GrpcError {
  const e =
    err instanceof HttpError
      ? err
      : err instanceof ConfigError
        ? HttpError.invalid(err.message, { code: 'invalid_config' })
        : new HttpError(500, 'server_error', 'Internal error; it has been logged.');
  const code = grpcCodeOf(e);
  const metadata = new Metadata();
  metadata.set('switchyard-error-type', e.type);
  if (e.code) metadata.set('switchyard-error-code', e.code);
  if (e.param) metadata.set('switchyard-error-param', e.param);
  const requestId = e.extra.request_id;
  if (typeof requestId === 'string') metadata.set('x-switchyard-request-id', requestId);
  for (const name of ['retry-after', 'x-should-retry']) if (e.headers[name]) metadata.set(name, e.headers[name]);
  metadata.set(
    'switchyard-error-bin',
    Buffer.from(JSON.stringify({ message: e.message, type: e.type, param: e.param, code: e.code, ...e.extra })),
  );
  const retryAfter = Number(e.headers['retry-after']);
  if (code === Status.RESOURCE_EXHAUSTED && Number.isFinite(retryAfter) && retryAfter > 0)
    metadata.set('grpc-status-details-bin', richStatus(code, e.message, retryAfter));
  return Object.assign(new Error(e.message), { code, details: e.message, metadata });
}

/** An error class besides HttpError that the path may throw unmapped: INTERNAL. */
export const isInternal = (err: unknown) => !(err instanceof HttpError) && !(err instanceof ConfigError);

// google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3 }
// google.protobuf.Any { string type_url = 1; bytes value = 2 }
// google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1 }; Duration { int64 seconds = 1 }
// Written by hand: three small messages, rather than a dependency on the googleapis protos.
export const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

export function richStatus(code: number, message: string, retryAfterSeconds: number): Buffer {
  const duration = field(1, varint(Math.ceil(retryAfterSeconds)), 0);
  const retryInfo = bytesField(1, duration);
  const any = Buffer.concat([bytesField(1, Buffer.from(RETRY_INFO_TYPE)), bytesField(2, retryInfo)]);
  return Buffer.concat([field(1, varint(code), 0), bytesField(2, Buffer.from(message)), bytesField(3, any)]);
}

/** The retry delay (seconds) of a `grpc-status-details-bin` RetryInfo detail, if it has one. */
export function retryDelayOf(statusBin: Buffer): number | undefined {
  for (const [n, v] of fields(statusBin))
    if (n === 3 && Buffer.isBuffer(v)) {
      const any = new Map(fields(v));
      if (String(any.get(1)) !== RETRY_INFO_TYPE || !Buffer.isBuffer(any.get(2))) continue;
      const info = new Map(fields(any.get(2) as Buffer));
      const duration = info.get(1);
      if (!Buffer.isBuffer(duration)) return 0;
      const seconds = new Map(fields(duration)).get(1);
      return typeof seconds === 'number' ? seconds : 0;
    }
  return undefined;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
const field = (n: number, payload: Buffer, wire: number) => Buffer.concat([varint((n << 3) | wire), payload]);
const bytesField = (n: number, b: Buffer) => field(n, Buffer.concat([varint(b.length), b]), 2);

/** A message's fields: varints as numbers, length-delimited ones as buffers (other wire types end the read). */
function fields(buf: Buffer): Array<[number, number | Buffer]> {
  const out: Array<[number, number | Buffer]> = [];
  let i = 0;
  const readVarint = () => {
    let result = 0;
    let shift = 1;
    for (;;) {
      const b = buf[i++]!;
      result += (b & 0x7f) * shift;
      if (b < 0x80) return result;
      shift *= 128;
    }
  };
  while (i < buf.length) {
    const key = readVarint();
    const wire = key & 7;
    if (wire === 0) out.push([key >> 3, readVarint()]);
    else if (wire === 2) {
      const len = readVarint();
      out.push([key >> 3, buf.subarray(i, i + len)]);
      i += len;
    } else break;
  }
  return out;
}
