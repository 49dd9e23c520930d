/**
 * Bedrock runtime's exceptions onto our failure classes. The SDK throws a `ServiceException`
 * named after the service's exception (`ThrottlingException`…) with the HTTP status in
 * `$metadata`; an exception inside a ConverseStream arrives the same way, thrown by the iterator.
 * Errors that are not the service's (our deadline, a refused connection) are left to
 * `toProviderFailure`.
 */
import type { FailureType } from '../../domain/failures';
import { classifyStatus, failure, retryAfterMs } from '../errors';

/** Bedrock's words for a prompt over the model's window (a ValidationException, 400). */
const TOO_LONG =
  /input is too long|too many input tokens|prompt is too long|exceeds? the (maximum )?context|context (window|length)|maximum (input )?tokens? (length )?exceeded/i;
/**
 * A model id the region does not serve, or a field this model does not take (Llama and
 * `toolChoice.any`), both ValidationExceptions: another model may serve the request.
 */
const NOT_THIS_MODEL =
  /model identifier is invalid|invalid model identifier|model .* not (found|supported)|(doesn't|does not) support/i;

const BY_NAME: Record<string, FailureType> = {
  ThrottlingException: 'RateLimited',
  ServiceQuotaExceededException: 'RateLimited',
  TooManyRequestsException: 'RateLimited',
  ServiceUnavailableException: 'Overloaded',
  InternalServerException: 'Overloaded',
  ModelNotReadyException: 'Overloaded',
  ModelStreamErrorException: 'Overloaded',
  ModelErrorException: 'Overloaded',
  ModelTimeoutException: 'Timeout',
  AccessDeniedException: 'AuthFailed',
  UnrecognizedClientException: 'AuthFailed',
  InvalidSignatureException: 'AuthFailed',
  ExpiredTokenException: 'AuthFailed',
  IncompleteSignatureException: 'AuthFailed',
  MissingAuthenticationTokenException: 'AuthFailed',
  // No AWS credentials anywhere in the chain (or no token): our configuration, not worth a retry.
  CredentialsProviderError: 'AuthFailed',
  TokenProviderError: 'AuthFailed',
  ResourceNotFoundException: 'NotFound',
  ConflictException: 'InvalidRequest',
};

interface ServiceError {
  name: string;
  message: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $response?: { headers?: Record<string, string> };
}

/**
 * The service's error: a ServiceException (it has `$fault`, or an HTTP status), or an exception
 * event named as one. Not any error with `$metadata`: the SDK adds that to a refused connection
 * or an abort too, which are ours to read as Connection.
 */
function serviceError(err: unknown): ServiceError | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & Partial<ServiceError> & { $fault?: unknown };
  if (
    typeof e.$fault === 'string' ||
    typeof e.$metadata?.httpStatusCode === 'number' ||
    e.name in BY_NAME ||
    e.name === 'ValidationException'
  )
    return e as ServiceError;
  return undefined;
}

function typeOf(e: ServiceError, status: number | undefined): FailureType {
  if (e.name === 'ValidationException') {
    if (TOO_LONG.test(e.message)) return 'ContextLengthExceeded';
    return NOT_THIS_MODEL.test(e.message) ? 'NotFound' : 'InvalidRequest';
  }
  return BY_NAME[e.name] ?? classifyStatus(status ?? 500, e.message);
}

/**
 * The failure a Bedrock error is, or the error itself when it is not the service's. The message
 * is the service's own (redacted by `failure()`); the exception name is the provider code.
 */
export function bedrockFailure(err: unknown, provider: string, model: string): unknown {
  const e = serviceError(err);
  if (!e) return err;
  const status = e.$metadata?.httpStatusCode;
  const type = typeOf(e, status);
  // Bedrock sends no Retry-After today; honoured if a proxy in front of it does.
  const retryAfter = type === 'RateLimited' ? retryAfterMs(e.$response?.headers) : undefined;
  return failure(type, `${provider}/${model}${status ? ` ${status}` : ''} ${e.name}: ${e.message}`, {
    provider,
    model,
    ...(status !== undefined && { status }),
    providerCode: e.name,
    ...(retryAfter !== undefined && { retryAfterMs: retryAfter }),
  });
}
