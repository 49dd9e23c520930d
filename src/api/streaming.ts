/**
 * A streamed answer: the request is the same `routeRequest` workflow; its provider call relays
 * each piece through the relay, and this process writes them to the client as server-sent events.
 *
 * Nothing is sent until the first piece: a failure before it (every candidate failed, a budget
 * refused, a filter) is an ordinary HTTP error, and a fallback before it is invisible. After it,
 * the stream ends either normally (the format's terminator, only on the relay's own `end` with
 * every piece received) or with an error event and no terminator, never a normal end of a broken
 * or incomplete answer.
 *
 * In one pass: submit → relay each arrival (a piece, the end, an error event, the workflow's
 * outcome, a failed relay) until the stream ends → if the relay brought no ending, answer from
 * the outcome (an HTTP error, or the stored answer sent whole). Each way out is counted once.
 *
 * The relay loop (`relayStream`) also runs for a submission started elsewhere (a Responses API
 * background stream, or a later `GET /v1/responses/{id}?stream=true`): such a stream may open at
 * once (`eager`: the writer's `open()` before the first token), and a failure after that opening
 * is written as the format's failure event, not thrown (the status line is already sent).
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import { getAnswer, getRequest } from '../db/requests';
import { findModel } from '../domain/catalog';
import { substitutionOf, type RouteResult } from '../domain/request';
import { readAnswer, type ChatAnswer } from '../domain/storedAnswer';
import { deltasOf, type StreamEvent, type StreamWriter } from '../domain/stream';
import { HttpError } from './errors';
import { headersOf, type PathRequest } from './requestPath/outcome';
import { checkModel, type PathDeps } from './requestPath/run';
import { inRouteSpan } from './requestPath/spans';
import { annotate } from '../services/tracing';
import { pathRequestOf, setHeaders } from './runRoute';
import { awaitResult, countRoute, submitRequest, type Submission } from './submit';

/** After the workflow ends, how long the relay may still be delivering its last events. */
const DRAIN_MS = 3_000;

type Settled = { ok: true; result: RouteResult } | { ok: false; error: unknown };
/** What the loop waits for next: a relay read, the workflow's outcome, or the end of the drain. */
type Arrival = { event: IteratorResult<StreamEvent> } | { settled: Settled } | { drained: true } | { lost: true };
type Ending = 'completed' | 'interrupted' | 'failed';

/**
 * Where a relayed stream's text goes: an HTTP response (server-sent events, below) or a gRPC call
 * (`../grpc/stream`). Opened by the first write; until then a failure can still be an ordinary
 * error of the call.
 */
export interface StreamSink {
  readonly opened: boolean;
  /** A header (HTTP) or metadata (gRPC), while they can still be sent. */
  header(name: string, value: string): void;
  write(text: string): void;
  /** The client hung up. */
  readonly gone: boolean;
  /** Called once when the client hangs up or the call ends. */
  onGone(listener: () => void): void;
  close(): void;
}

/**
 * The response as a server-sent event stream: opened (200 and its headers) by the first write,
 * so until then a failure can still be an ordinary HTTP error.
 */
class EventStreamResponse implements StreamSink {
  opened = false;
  constructor(
    private readonly res: Response,
    private readonly onOpen: () => void,
  ) {}

  /** A header, while they can still be sent (an eager stream sent them with its opening). */
  header(name: string, value: string): void {
    if (!this.res.headersSent) this.res.setHeader(name, value);
  }

  write(text: string): void {
    if (!this.opened) {
      this.opened = true;
      this.onOpen();
      this.res.status(200);
      this.res.setHeader('content-type', 'text/event-stream; charset=utf-8');
      this.res.setHeader('cache-control', 'no-cache');
      this.res.setHeader('x-accel-buffering', 'no');
      this.res.flushHeaders();
    }
    if (text) this.res.write(text);
  }

  /** The client hung up (or the socket is gone). */
  get gone(): boolean {
    return this.res.destroyed;
  }

  onGone(listener: () => void): void {
    this.res.on('close', listener);
  }

  close(): void {
    if (this.opened) this.res.end();
  }
}

/** A writer that can also say the route failed after it opened (the Responses API's `response.failed`). */
export type RelayWriter = StreamWriter & { failed?(e: { errorType: string; message: string }): string };

/** A request counted as it ends: the stream of the request's own submission (a later reader counts nothing). */
export interface Counted {
  tenantId: string;
  operation: string;
  startedAt: number;
}

export interface RelayOptions {
  /** Write the writer's opening (`open()`) at once, before the first token. */
  eager?: boolean;
  counted?: Counted;
}

/** Submits a streamed request and relays its answer (chat, Messages; a Responses API stream goes through `relayStream`). */
export async function streamRoute(
  deps: PathDeps,
  req: Request,
  res: Response,
  r: Parameters<typeof pathRequestOf>[2],
  writerFor: (sub: Submission) => StreamWriter,
): Promise<void> {
  await streamRequest(
    deps,
    pathRequestOf(req, res, r),
    (onOpen) => new EventStreamResponse(res, onOpen),
    writerFor,
    (sub) => setHeaders(res, headersOf({ sub })),
  );
}

/** `streamRoute` free of HTTP (gRPC's too): submits the request and relays its answer to `sinkFor`'s sink. */
export async function streamRequest(
  deps: PathDeps,
  r: PathRequest,
  sinkFor: (onOpen: () => void) => StreamSink,
  writerFor: (sub: Submission) => RelayWriter,
  onSubmitted?: (sub: Submission) => void,
): Promise<void> {
  await inRouteSpan(r, async () => {
    const startedAt = Date.now();
    checkModel(deps, r.route);
    const sub = await submitRequest(deps, r);
    onSubmitted?.(sub);
    annotate({ 'switchyard.request_id': sub.requestId });
    await relayTo(deps, sinkFor, sub, writerFor(sub), {
      counted: { tenantId: r.tenantId, operation: r.route.operation, startedAt },
    });
  });
}

/**
 * Relays a submitted request's stream to `res` until it ends: its pieces from the relay (from
 * the first, whoever reads), then its end; or, when the relay brings no ending, the outcome.
 */
export async function relayStream(
  deps: PathDeps,
  res: Response,
  sub: Submission,
  writer: RelayWriter,
  opts: RelayOptions = {},
): Promise<void> {
  await relayTo(deps, (onOpen) => new EventStreamResponse(res, onOpen), sub, writer, opts);
}

/** `relayStream` to any sink. */
async function relayTo(
  deps: PathDeps,
  sinkFor: (onOpen: () => void) => StreamSink,
  sub: Submission,
  writer: RelayWriter,
  opts: RelayOptions = {},
): Promise<void> {
  const { counted } = opts;
  const { metrics, relay } = deps;
  const out = sinkFor(() => {
    // The first token's time: an eager stream opens before it, so it is not one.
    if (counted && !opts.eager) metrics?.firstTokenSeconds.observe((Date.now() - counted.startedAt) / 1000);
  });
  if (opts.eager) out.write(writer.open?.() ?? '');

  // A client that hangs up stops the reading; the workflow finishes and stores the answer anyway.
  const stop = new AbortController();
  out.onGone(() => stop.abort());
  const events = relay?.subscribe(sub.requestId, stop.signal);
  // Stop waiting on the workflow once the stream has ended (the relay may end it first), or once
  // a continued stream is counted (`countContinued`).
  const waiting = new AbortController();
  stop.signal.addEventListener(
    'abort',
    () => {
      if (!countLater) waiting.abort();
    },
    { once: true },
  );
  const outcome: Promise<Settled> = awaitResult(deps, sub, waiting.signal).then(
    (result) => ({ ok: true, result }),
    (error: unknown) => ({ ok: false, error }),
  );

  let pending = events?.next();
  let settled: Settled | undefined;
  let drainUntil = Infinity;
  let received = 0;
  let from: string | undefined;
  let ending: Ending | undefined;
  /** The stream was continued by another candidate after a break (issue 29). */
  let continued = false;
  /** A continued stream that completed before its workflow's outcome: counted once that comes. */
  let countLater: { modelId: string } | undefined;
  const stored = `the whole answer, if the request completed, is stored: GET /v1/requests/${sub.requestId}`;

  try {
    while (pending || !settled) {
      const arrival = await next();
      if ('settled' in arrival) {
        settled = arrival.settled;
        if (await nothingComing()) stopReading();
        drainUntil = Date.now() + DRAIN_MS;
        continue;
      }
      if ('lost' in arrival) {
        // The relay failed (Redis went away): what was sent may miss pieces from here on. Before
        // the first piece (an eager stream's opening aside) the outcome can still answer whole.
        if (received > 0) {
          broken(`the stream relay failed after ${received} chunks; ${stored}`);
          return;
        }
        pending = undefined;
        continue;
      }
      if ('drained' in arrival || arrival.event.done) break;
      pending = events!.next();
      if (relayed(arrival.event.value)) return;
    }
    await noEnding();
  } finally {
    stop.abort();
    pending?.catch(() => undefined); // a read left behind (aborted by stop): nobody waits on it
    out.close();
    if (countLater) await countContinued(countLater);
    waiting.abort();
  }

  /**
   * A continued stream's end came before its workflow's outcome: counted with the outcome (the
   * candidates it fell back from), once it comes; the client's stream is already closed.
   */
  async function countContinued(served: { modelId: string }): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), DRAIN_MS)));
    const s = settled ?? (await Promise.race([outcome, late]));
    clearTimeout(timer);
    const provider = findModel(deps.configStore.current().config.catalog, served.modelId)?.provider ?? '';
    countRoute(deps, counted!, {
      result: s?.ok ? s.result : { provider, modelId: served.modelId, candidates: [] },
    });
  }

  /** The next arrival: a relay read or the outcome; once the outcome is known, a read or the drain's end. */
  function next(): Promise<Arrival> {
    const waits: Array<Promise<Arrival>> = [];
    if (pending)
      waits.push(
        pending.then(
          (event) => ({ event }),
          () => ({ lost: true }),
        ),
      );
    if (!settled) waits.push(outcome.then((s) => ({ settled: s })));
    else waits.push(new Promise((r) => setTimeout(() => r({ drained: true }), Math.max(0, drainUntil - Date.now()))));
    return Promise.race(waits);
  }

  /**
   * No piece sent and nothing on the relay: no piece is coming (a failure before the first token,
   * or an answer that was not streamed), so the outcome is answered at once instead of drained.
   */
  async function nothingComing(): Promise<boolean> {
    return received === 0 && relay !== undefined && (await relay.count(sub.requestId).catch(() => 0)) === 0;
  }

  function stopReading() {
    pending?.catch(() => undefined); // given up on: the outcome is what is answered
    pending = undefined;
  }

  /** Writes one relayed event; true when it ended the stream (its end, an error event, or a break). */
  function relayed(ev: StreamEvent): boolean {
    if (ev.type === 'error') {
      end('interrupted');
      out.write(writer.error(ev));
      return true;
    }
    // One stream, one sender, every piece in order: anything else is a broken stream.
    from ??= ev.from;
    if (ev.from !== from) return broken(`a second call began streaming after ${received} chunks; ${stored}`);
    if (ev.type === 'continued') {
      // A fallback continues the answer: its pieces follow under the same numbering.
      if (ev.chunks !== received) return broken(`the stream relay lost pieces after ${received} chunks; ${stored}`);
      from = ev.to;
      continued = true;
      return false;
    }
    if (ev.type === 'delta') {
      if (ev.seq !== received) return broken(`the stream relay lost pieces after ${received} chunks; ${stored}`);
      if (!out.opened) modelHeaders(ev.model);
      received++;
      out.write(writer.delta(ev));
      return false;
    }
    if (ev.chunks !== received) return broken(`the stream relay lost pieces after ${received} chunks; ${stored}`);
    end('completed', { modelId: ev.model, ...(settled?.ok && { result: settled.result }) });
    out.write(writer.end(ev));
    return true;
  }

  /** The relay brought no ending: the client left, the stream broke, or the outcome is the answer. */
  async function noEnding(): Promise<void> {
    if (!settled || stop.signal.aborted || out.gone) return; // the client hung up
    if (received > 0) {
      // A stream left open for a continuation that did not come (issue 29): the route's own
      // failure, as recorded (the broken stream's error, never a fallback's refusal of it).
      if (!settled.ok) {
        const failure = await failureOf(settled.error);
        // Counted as the request ended: its recorded failure, and the candidates it fell back from.
        end('interrupted', undefined, settled.error);
        out.write(writer.error({ type: 'error', ...failure, chunks: received }));
        return;
      }
      broken(`the stream ended after ${received} chunks without its end; ${stored}`);
      return;
    }
    if (!settled.ok) {
      end('failed');
      if (counted) countRoute(deps, counted, { error: settled.error });
      if (!out.opened) throw settled.error; // an ordinary HTTP error: nothing was sent
      // Opened eagerly: the status line is sent, so the failure is an event of the stream.
      const failure = await failureOf(settled.error);
      out.write(writer.failed ? writer.failed(failure) : writer.error({ type: 'error', ...failure, chunks: 0 }));
      return;
    }
    // Answered without streaming (no relay between this process and the worker): the stored
    // answer as the stream it would have been.
    await sendWhole(settled.result);
  }

  /** Why the route failed, as its request records it (what a later GET says), else as the error says. */
  async function failureOf(error: unknown): Promise<{ errorType: string; message: string }> {
    const row = await getRequest(deps.db, sub.requestId).catch(() => undefined);
    const recorded = RecordedError.safeParse(row?.error);
    if (recorded.success) return { errorType: recorded.data.type, message: recorded.data.message };
    if (error instanceof HttpError) return { errorType: error.code ?? error.type, message: error.message };
    return { errorType: 'Unknown', message: error instanceof Error ? error.message : String(error) };
  }

  async function sendWhole(result: RouteResult): Promise<void> {
    end('completed', { modelId: result.modelId, result });
    const row = await getAnswer(deps.db, sub.requestId);
    const answer = row?.response ? readAnswer(row.response, 'chat') : undefined;
    modelHeaders(result.modelId);
    out.write(
      wholeStream(writer, answer, {
        model: result.modelId,
        finishReason: result.finishReason ?? 'stop',
        inputTokens: result.inputTokens ?? 0,
        outputTokens: result.outputTokens ?? 0,
      }),
    );
  }

  /** The stream cannot be completed from here: an error event (the answer may still be stored). */
  function broken(message: string): true {
    end('interrupted');
    out.write(writer.error({ type: 'error', errorType: 'StreamInterrupted', message, chunks: received }));
    return true;
  }

  function modelHeaders(model: string) {
    out.header('x-switchyard-model', model);
    if (substitutionOf(sub.requestedModel, model)) out.header('x-switchyard-model-substituted', sub.requestedModel);
  }

  /**
   * Counts how the stream ended (once), and the request with it (a failure is counted where it is
   * thrown). `error`: the route's own failure, when the stream ends on it (else a broken stream).
   */
  function end(how: Ending, served?: { modelId: string; result?: RouteResult }, error?: unknown) {
    if (ending) return;
    ending = how;
    metrics?.streams.inc({ outcome: how });
    if (!counted) return;
    if (how === 'completed' && served) {
      // A continued stream's outcome names the candidate that broke: worth the wait (`countContinued`).
      if (!served.result && continued) {
        countLater = served;
        return;
      }
      const provider = findModel(deps.configStore.current().config.catalog, served.modelId)?.provider ?? '';
      countRoute(deps, counted, { result: served.result ?? { provider, modelId: served.modelId, candidates: [] } });
    } else if (how !== 'failed') countRoute(deps, counted, { error: error ?? 'StreamInterrupted' });
  }
}

/** A request's recorded failure (`requests.error`). */
const RecordedError = z.looseObject({ type: z.string(), message: z.string() });

/** A stored answer as the stream it would have been: its deltas, then its end. */
function wholeStream(
  writer: StreamWriter,
  answer: Pick<ChatAnswer, 'content' | 'toolCalls'> | undefined,
  e: { model: string; finishReason: string; inputTokens: number; outputTokens: number },
): string {
  let text = '';
  for (const d of answer ? deltasOf(answer) : []) text += writer.delta({ ...d, model: e.model });
  return text + writer.end(e);
}

/**
 * A finished request's stream from its row alone (no relay holds its events, and Temporal is not
 * asked): the writer's opening, then the stored answer whole, or the recorded failure.
 */
export async function sendStored(deps: Pick<PathDeps, 'db'>, res: Response, requestId: string, writer: RelayWriter) {
  const out = new EventStreamResponse(res, () => undefined);
  out.write(writer.open?.() ?? '');
  try {
    const row = await getRequest(deps.db, requestId);
    if (row?.status === 'succeeded' && row.response) {
      const answer = readAnswer(row.response, 'chat');
      out.write(
        wholeStream(writer, answer, {
          model: row.model ?? answer.providerModel,
          finishReason: answer.finishReason,
          inputTokens: row.input_tokens ?? 0,
          outputTokens: row.output_tokens ?? 0,
        }),
      );
      return;
    }
    const recorded = RecordedError.safeParse(row?.error);
    const failure = recorded.success
      ? { errorType: recorded.data.type, message: recorded.data.message }
      : { errorType: 'Unknown', message: 'the request failed' };
    out.write(writer.failed ? writer.failed(failure) : writer.error({ type: 'error', ...failure, chunks: 0 }));
  } finally {
    out.close();
  }
}
