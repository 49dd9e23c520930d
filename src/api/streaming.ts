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
 */
import type { Request, Response } from 'express';
import { getAnswer } from '../db/requests';
import { findModel } from '../domain/catalog';
import { substitutionOf, type RouteResult } from '../domain/request';
import { readAnswer } from '../domain/storedAnswer';
import { deltasOf, type StreamEvent, type StreamWriter } from '../domain/stream';
import { headersOf, type RouteInput } from './requestPath/outcome';
import { checkModel, type PathDeps } from './requestPath/run';
import { pathRequestOf, setHeaders } from './runRoute';
import { awaitResult, countRoute, submitRequest, type Submission } from './submit';

/** After the workflow ends, how long the relay may still be delivering its last events. */
const DRAIN_MS = 3_000;

type Settled = { ok: true; result: RouteResult } | { ok: false; error: unknown };
/** What the loop waits for next: a relay read, the workflow's outcome, or the end of the drain. */
type Arrival = { event: IteratorResult<StreamEvent> } | { settled: Settled } | { drained: true } | { lost: true };
type Ending = 'completed' | 'interrupted' | 'failed';

/**
 * The response as a server-sent event stream: opened (200 and its headers) by the first write,
 * so until then a failure can still be an ordinary HTTP error.
 */
class EventStreamResponse {
  opened = false;
  constructor(
    private readonly res: Response,
    private readonly onOpen: () => void,
  ) {}

  header(name: string, value: string): void {
    this.res.setHeader(name, value);
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

  close(): void {
    if (this.opened) this.res.end();
  }
}

export async function streamRoute(
  deps: PathDeps,
  req: Request,
  res: Response,
  r: { tenantId: string; body: unknown; route: RouteInput },
  writerFor: (sub: Submission) => StreamWriter,
): Promise<void> {
  const startedAt = Date.now();
  checkModel(deps, r.route);
  const sub = await submitRequest(deps, pathRequestOf(req, res, r));
  setHeaders(res, headersOf({ sub }));
  const counted = { tenantId: r.tenantId, operation: r.route.operation, startedAt };
  const { metrics, relay } = deps;
  const writer = writerFor(sub);
  const out = new EventStreamResponse(res, () => metrics?.firstTokenSeconds.observe((Date.now() - startedAt) / 1000));

  // A client that hangs up stops the reading; the workflow finishes and stores the answer anyway.
  const stop = new AbortController();
  res.on('close', () => stop.abort());
  const events = relay?.subscribe(sub.requestId, stop.signal);
  // Stop waiting on the workflow once the stream has ended (the relay may end it first).
  const outcome: Promise<Settled> = awaitResult(deps, sub, stop.signal).then(
    (result) => ({ ok: true, result }),
    (error: unknown) => ({ ok: false, error }),
  );

  let pending = events?.next();
  let settled: Settled | undefined;
  let drainUntil = Infinity;
  let received = 0;
  let from: string | undefined;
  let ending: Ending | undefined;
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
        // The relay failed (Redis went away): what was sent may miss pieces from here on.
        if (out.opened) {
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
   * Nothing sent and nothing on the relay: no piece is coming (a failure before the first token,
   * or an answer that was not streamed), so the outcome is answered at once instead of drained.
   */
  async function nothingComing(): Promise<boolean> {
    return !out.opened && relay !== undefined && (await relay.count(sub.requestId).catch(() => 0)) === 0;
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
    if (out.opened) {
      broken(`the stream ended after ${received} chunks without its end; ${stored}`);
      return;
    }
    if (!settled.ok) {
      end('failed');
      countRoute(deps, counted, { error: settled.error });
      throw settled.error; // an ordinary HTTP error: nothing was sent
    }
    // Answered without streaming (no relay between this process and the worker): the stored
    // answer as the stream it would have been.
    await sendWhole(settled.result);
  }

  async function sendWhole(result: RouteResult): Promise<void> {
    end('completed', { modelId: result.modelId, result });
    const row = await getAnswer(deps.db, sub.requestId);
    const answer = row?.response ? readAnswer(row.response, 'chat') : undefined;
    modelHeaders(result.modelId);
    for (const d of answer ? deltasOf(answer) : []) out.write(writer.delta({ ...d, model: result.modelId }));
    out.write(
      writer.end({
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

  /** Counts how the stream ended (once), and the request with it (a failure is counted where it is thrown). */
  function end(how: Ending, served?: { modelId: string; result?: RouteResult }) {
    if (ending) return;
    ending = how;
    metrics?.streams.inc({ outcome: how });
    if (how === 'completed' && served) {
      const provider = findModel(deps.configStore.current().config.catalog, served.modelId)?.provider ?? '';
      countRoute(deps, counted, { result: served.result ?? { provider, modelId: served.modelId, candidates: [] } });
    } else if (how !== 'failed') countRoute(deps, counted, { error: 'StreamInterrupted' });
  }
}
