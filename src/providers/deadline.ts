/**
 * Enforces a provider call's timeout ourselves, with our own abort, instead of trusting how an SDK
 * reports its timeout: when our timer fires we know it was a timeout and say so with a typed error,
 * whatever error the aborted SDK call surfaces (they differ by SDK, version and runtime).
 */
/** The SDK's own timeout is a backstop, set a little past ours. */
export const SDK_TIMEOUT_MARGIN_MS = 1_000;

export class ProviderTimeoutError extends Error {
  override name = 'ProviderTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

export async function withDeadline<T>(
  timeoutMs: number | undefined,
  outer: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  let timedOut = false;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, timeoutMs);
  try {
    return await fn(controller.signal);
  } catch (err) {
    if (timedOut) throw new ProviderTimeoutError(timeoutMs!);
    throw err;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  }
}

/** Request options for an SDK call made under `withDeadline`: our signal, and the SDK's backstop timeout. */
export function sdkOptions(
  signal: AbortSignal,
  timeoutMs: number | undefined,
): { signal: AbortSignal; timeout?: number } {
  return timeoutMs === undefined ? { signal } : { signal, timeout: timeoutMs + SDK_TIMEOUT_MARGIN_MS };
}

/** A stream that went quiet: no first token in time, or no chunk within the idle timeout. */
export class StreamStalledError extends Error {
  override name = 'StreamStalledError';
  constructor(
    readonly waitedMs: number,
    readonly firstToken: boolean,
  ) {
    super(firstToken ? `no first token within ${waitedMs} ms` : `no chunk within ${waitedMs} ms (idle timeout)`);
  }
}

export interface StreamLimits {
  /** Longest wait for the first chunk (time to first token). */
  firstTokenMs: number;
  /** Longest wait between chunks once the stream has begun. */
  idleMs: number;
  /** Malformed events skipped per stream; one more ends it (absent: `DEFAULT_MAX_MALFORMED`, 3). */
  maxMalformed?: number;
}

/**
 * `withDeadline` for a stream: the call's whole timeout, plus a first-token limit and an idle
 * limit between chunks. `fn` calls `tick` on every chunk that shows the model at work (reasoning
 * included, though it is not relayed); a limit that passes aborts the call and it fails with a
 * `StreamStalledError`.
 */
export function withStreamDeadlines<T>(
  timeoutMs: number | undefined,
  outer: AbortSignal | undefined,
  limits: StreamLimits,
  fn: (signal: AbortSignal, tick: () => void) => Promise<T>,
): Promise<T> {
  return withDeadline(timeoutMs, outer, async (signal) => {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
    let begun = false;
    let stalled: StreamStalledError | undefined;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      const ms = begun ? limits.idleMs : limits.firstTokenMs;
      timer = setTimeout(() => {
        stalled = new StreamStalledError(ms, !begun);
        controller.abort();
      }, ms);
    };
    arm();
    try {
      return await fn(controller.signal, () => {
        begun = true;
        arm();
      });
    } catch (err) {
      throw stalled ?? err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  });
}
