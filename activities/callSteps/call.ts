/**
 * What the steps of one provider call attempt share: the slice of Temporal's activity context
 * they use (passed in, so each step runs without a worker in its tests), the attempt's identity
 * and reservation, and the call as it goes from reservation to settlement.
 */
import type { Model, Provider } from '../../src/domain/catalog';
import type { AttemptRecord, CallModelInput } from '../../src/domain/request';
import type { StreamOut } from '../streamOut';
import type { StoredRequest } from '../storedRequest';

/** The part of `Context.current()` the steps use (`Context` itself satisfies it). */
export interface CallContext {
  readonly info: { readonly attempt: number; readonly currentAttemptScheduledTimestampMs: number };
  readonly cancellationSignal: AbortSignal;
  heartbeat(details?: unknown): void;
  sleep(ms: number): Promise<void>;
}

/**
 * The context the steps are given. A local activity (the fast path) cannot heartbeat: its
 * heartbeats are dropped here (a dead worker is seen by its workflow task's timeout instead).
 */
export function callContextOf(ctx: CallContext & { readonly info: { readonly isLocal: boolean } }): CallContext {
  if (!ctx.info.isLocal) return ctx;
  return {
    info: ctx.info,
    cancellationSignal: ctx.cancellationSignal,
    heartbeat: () => undefined,
    sleep: (ms) => ctx.sleep(ms),
  };
}

/** Where the call goes: its provider and model, as the catalog has them now. */
export interface Target {
  provider: Provider;
  model: Model;
}

/** The attempt's record as it starts: what every later row of it repeats. */
export type StartedAttempt = Omit<AttemptRecord, 'outcome' | 'latencyMs'>;

/** One attempt on record, and the budget reservation it holds (none without a budget). */
export interface AttemptRef {
  requestId: string;
  candidateIndex: number;
  attempt: number;
  reservation?: string;
}

/** This minute's tokens taken under a `tpm` limit, settled to what the call really used. */
export interface TokenTurn {
  settle(actual: number): void;
}

/** A call admitted, on record and past its gates: what invoking and settling it read. */
export interface Call {
  input: CallModelInput;
  model: Model;
  request: StoredRequest;
  ref: AttemptRef;
  started: StartedAttempt;
  startedAt: Date;
  /** This call is its half-open breaker's probe. */
  probe: boolean;
  /** Its stream to the client, when it is streamed. */
  stream?: StreamOut;
  tokens?: TokenTurn;
  /** Malformed events its stream had, skipped (counted as they come, recorded on the attempt). */
  malformed?: number;
}

/** The attempt's record as it ends repeats how it started, and how many malformed events it skipped. */
export const recordOf = (call: Pick<Call, 'started' | 'malformed'>): StartedAttempt => ({
  ...call.started,
  ...(call.malformed ? { malformedEvents: call.malformed } : {}),
});

/** The failure details every step's failures carry. */
export const whoOf = (input: CallModelInput) => ({ provider: input.provider, model: input.model });
