/**
 * A streamed answer's server-sent events read as JSON by us, not by the SDK's `Stream`: the SDK's
 * iterator throws at the first event it cannot parse, and the stream is gone with it. Here an event
 * that is not JSON, or JSON that is not the wire format's shape, is skipped and reported, up to a
 * bound per stream; one more ends the stream with `MalformedStreamError` (which the call settles
 * as a stream cut: `MalformedResponse`, or `StreamInterrupted` once pieces were sent).
 * The events themselves are split by the SDK's own SSE decoder (each kind passes it in).
 */

/** Malformed events skipped per stream when the worker sets no bound (SWITCHYARD_STREAM_MAX_MALFORMED). */
export const DEFAULT_MAX_MALFORMED = 3;

/** One event as the SDKs' decoders give it. */
export interface ServerSentEvent {
  event: string | null;
  data: string;
}

/** A malformed event skipped: why, and how big it was. Never its content: it may hold the answer. */
export interface MalformedEvent {
  reason: string;
  bytes: number;
  /** How many this stream has had, this one included. */
  count: number;
  /** It was one past the bound: not skipped, it ends the stream (still counted). */
  ends?: true;
}

export interface MalformedPolicy {
  /** Skipped per stream at most; one more ends it. */
  max: number;
  /** Each malformed event: every one skipped, and the one that ends the stream (`ends`). */
  onMalformed?: (e: MalformedEvent) => void;
}

export class MalformedStreamError extends Error {
  override name = 'MalformedStreamError';
  constructor(
    readonly count: number,
    readonly max: number,
    reason: string,
  ) {
    super(`${count} malformed events in the stream, more than the ${max} allowed (the last: ${reason})`);
  }
}

/** What a wire format makes of one event: a value, nothing (a keep-alive, the end marker), or malformed. */
export type EventReading<T> = { value: T } | { ignore: true } | { malformed: string };

/**
 * The stream's events as the wire format's values. `read` may throw (an error event from the
 * provider is the provider's failure, not a malformed event).
 */
export async function* readEvents<T>(
  events: AsyncIterable<ServerSentEvent>,
  read: (sse: ServerSentEvent) => EventReading<T>,
  policy: MalformedPolicy,
): AsyncGenerator<T> {
  let count = 0;
  for await (const sse of events) {
    const r = read(sse);
    if ('value' in r) yield r.value;
    else if ('malformed' in r) {
      count++;
      const over = count > policy.max;
      policy.onMalformed?.({
        reason: r.malformed,
        bytes: Buffer.byteLength(sse.data),
        count,
        ...(over && { ends: true }),
      });
      if (over) throw new MalformedStreamError(count, policy.max, r.malformed);
    }
  }
}

/** `JSON.parse`, or undefined when the text is not JSON. */
export function parseJson(text: string): { json: unknown } | undefined {
  try {
    return { json: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Absent, null, or of the type `check` accepts. */
export const optional = (v: unknown, check: (v: unknown) => boolean) => v === undefined || v === null || check(v);
