/**
 * Invoking the adapter: the call itself (`callProvider`), streamed through the relay when the
 * client asked for a stream, with heartbeats while it runs so a dead worker is noticed quickly.
 */
import type { CallModelInput } from '../../src/domain/request';
import { senderOf, STREAM_CALL_MAX_MS, type StreamAnswer } from '../../src/domain/stream';
import type { StreamLimits } from '../../src/providers/deadline';
import { DEFAULT_MAX_MALFORMED, type MalformedEvent } from '../../src/providers/sse';
import type { ProviderAdapter } from '../../src/providers/types';
import { noteMalformedEvent, type Metrics } from '../../src/services/metrics';
import type { StreamRelay } from '../../src/services/streamRelay';
import { callProvider, type CallOutput } from '../providerCall';
import { StreamOut } from '../streamOut';
import type { Call, CallContext } from './call';

const HEARTBEAT_EVERY_MS = 2_000;
/**
 * Stream limits when the worker sets none (SWITCHYARD_STREAM_FIRST_TOKEN_MS, SWITCHYARD_STREAM_IDLE_MS,
 * SWITCHYARD_STREAM_MAX_MALFORMED).
 */
export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  firstTokenMs: 20_000,
  idleMs: 30_000,
  maxMalformed: DEFAULT_MAX_MALFORMED,
};

/** Runs `work` with a heartbeat every two seconds, stopped when it ends either way. */
export async function heartbeating<T>(ctx: Pick<CallContext, 'heartbeat'>, work: () => Promise<T>): Promise<T> {
  const heartbeat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(heartbeat);
  }
}

/** The call's stream to its client: each piece goes to the relay as it comes, from this attempt. */
export function openStream(
  relay: StreamRelay,
  input: CallModelInput,
  attempt: number,
  continuing?: { answer: StreamAnswer; from: string },
): StreamOut {
  return new StreamOut(relay, input.requestId, input.modelId, senderOf(input.candidateIndex, attempt), continuing);
}

/**
 * A malformed event the call's stream had: counted and logged; one it skipped also on the call
 * (its attempt's record counts the skipped ones; the one past the bound ends the stream).
 */
export function malformedSkipped(
  metrics: Pick<Metrics, 'malformedEvents'> | undefined,
  call: Pick<Call, 'input' | 'started' | 'malformed'>,
  e: MalformedEvent,
): void {
  if (!e.ends) call.malformed = e.count;
  noteMalformedEvent(metrics, {
    provider: call.input.provider,
    model: call.input.modelId,
    requestId: call.input.requestId,
    attempt: call.started.attempt,
    reason: e.reason,
    bytes: e.bytes,
    count: e.count,
    ...(e.ends && { ends: e.ends }),
  });
}

/**
 * Calls the provider. A stream is bounded by its first-token and idle limits (the call's timeout
 * caps the first token); a call answered whole, by the call's timeout. Under a budget, a chat
 * without max_tokens gets the cap its reservation covers.
 */
export function invoke(
  adapter: ProviderAdapter,
  call: Pick<Call, 'input' | 'model' | 'request' | 'stream'>,
  signal: AbortSignal,
  limits: StreamLimits,
  onMalformed?: (e: MalformedEvent) => void,
): Promise<CallOutput> {
  const { input, stream } = call;
  return callProvider(
    adapter,
    call.model,
    call.request,
    { signal, timeoutMs: stream ? STREAM_CALL_MAX_MS : input.timeoutMs },
    input.budget !== undefined,
    stream && {
      limits: { ...limits, firstTokenMs: Math.min(limits.firstTokenMs, input.timeoutMs) },
      onDelta: (d) => stream.delta(d),
      ...(onMalformed && { onMalformed }),
      // A continuation: the answer the client holds goes as the assistant's partial message.
      ...(stream.carried > 0 && { prefill: { ...stream.answer, toolCalls: [] } }),
    },
  );
}
