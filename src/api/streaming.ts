/**
 * A streamed answer: the request is the same `routeRequest` workflow; its provider call relays
 * each piece through the relay, and this process writes them to the client as server-sent events.
 *
 * Nothing is sent until the first piece: a failure before it (every candidate failed, a budget
 * refused, a filter) is an ordinary HTTP error, and a fallback before it is invisible. After it,
 * the stream ends either normally (the format's terminator, only on the relay's own `end` with
 * every piece received) or with an error event and no terminator, never a normal end of a broken
 * or incomplete answer.
 */
import type { Request, Response } from 'express';
import { getAnswer } from '../db/requests';
import { deltasOf, type StreamEvent, type StreamWriter } from '../domain/stream';
import { substitutionOf, type RouteResult } from '../domain/request';
import type { ToolCall } from '../domain/chat';
import type { ConfigStore } from '../services/configStore';
import { checkModel, startRoute, type RouteInput } from './runRoute';
import { awaitResult, countRoute, type RunnerDeps, type Submission } from './submit';
import { findModel } from '../domain/catalog';

/** After the workflow ends, how long the relay may still be delivering its last events. */
const DRAIN_MS = 3_000;

type Settled = { ok: true; result: RouteResult } | { ok: false; error: unknown };
type Step = { event: IteratorResult<StreamEvent> } | { outcome: Settled } | { drained: true } | { lost: true };

export async function streamRoute(
  deps: RunnerDeps & { configStore: ConfigStore },
  req: Request,
  res: Response,
  tenantId: string,
  body: unknown,
  route: RouteInput,
  writerFor: (sub: Submission) => StreamWriter,
): Promise<void> {
  const startedAt = Date.now();
  checkModel(deps, route);
  const sub = await startRoute(deps, req, res, tenantId, body, route);
  const counted = { tenantId, operation: route.operation, startedAt };
  const metrics = deps.metrics;
  /** Counts how the stream ended (once), and the request with it. */
  let ended = false;
  const count = (
    outcome: 'completed' | 'interrupted' | 'failed',
    served?: { modelId: string; result?: RouteResult },
  ) => {
    if (ended) return;
    ended = true;
    metrics?.streams.inc({ outcome });
    if (outcome === 'completed' && served) {
      const provider = findModel(deps.configStore.current().config.catalog, served.modelId)?.provider ?? '';
      countRoute(deps, counted, { result: served.result ?? { provider, modelId: served.modelId, candidates: [] } });
    } else if (outcome !== 'failed') countRoute(deps, counted, { error: 'StreamInterrupted' });
  };
  const writer = writerFor(sub);
  const stop = new AbortController();
  // A client that hangs up stops the reading; the workflow finishes and stores the answer anyway.
  res.on('close', () => stop.abort());
  const relay = deps.relay;
  const events = relay?.subscribe(sub.requestId, stop.signal);
  // Stop waiting on the workflow once the stream has ended (the relay may end it first).
  const settled: Promise<Settled> = awaitResult(deps, sub, stop.signal).then(
    (result) => ({ ok: true, result }),
    (error: unknown) => ({ ok: false, error }),
  );

  let started = false;
  let received = 0;
  let from: string | undefined;
  const write = (text: string) => {
    if (!started) {
      started = true;
      metrics?.firstTokenSeconds.observe((Date.now() - startedAt) / 1000);
      res.status(200);
      res.setHeader('content-type', 'text/event-stream; charset=utf-8');
      res.setHeader('cache-control', 'no-cache');
      res.setHeader('x-accel-buffering', 'no');
      res.flushHeaders();
    }
    if (text) res.write(text);
  };
  /** The stream cannot be completed from here: an error event (the answer may still be stored). */
  const broken = (message: string) => {
    count('interrupted');
    write(writer.error({ type: 'error', errorType: 'StreamInterrupted', message, chunks: received }));
  };
  const stored = `the whole answer, if the request completed, is stored: GET /v1/requests/${sub.requestId}`;

  const modelHeaders = (model: string) => {
    res.setHeader('x-switchyard-model', model);
    if (substitutionOf(sub.requestedModel, model)) res.setHeader('x-switchyard-model-substituted', sub.requestedModel);
  };

  let pending = events?.next();
  try {
    let outcome: Settled | undefined;
    let drainUntil = Infinity;
    for (;;) {
      if (outcome && !pending) break;
      const waits: Array<Promise<Step>> = [];
      if (pending)
        waits.push(
          pending.then(
            (event) => ({ event }),
            () => ({ lost: true }),
          ),
        );
      if (!outcome) waits.push(settled.then((o) => ({ outcome: o })));
      else waits.push(new Promise((r) => setTimeout(() => r({ drained: true }), Math.max(0, drainUntil - Date.now()))));
      const got = await Promise.race(waits);
      if ('outcome' in got) {
        outcome = got.outcome;
        // Nothing sent and nothing on the relay: no piece is coming (a failure before the first
        // token, or an answer that was not streamed): answer at once instead of draining.
        if (!started && relay && (await relay.count(sub.requestId).catch(() => 0)) === 0) {
          pending?.catch(() => undefined); // given up on: the outcome is what is answered
          pending = undefined;
        }
        drainUntil = Date.now() + DRAIN_MS;
        continue;
      }
      if ('lost' in got) {
        // The relay failed (Redis went away): what was sent may miss pieces from here on.
        if (started) return broken(`the stream relay failed after ${received} chunks; ${stored}`);
        pending = undefined;
        continue;
      }
      if ('drained' in got || got.event.done) break;
      const ev = got.event.value;
      pending = events!.next();
      if (ev.type === 'error') {
        count('interrupted');
        return write(writer.error(ev));
      }
      // One stream, one sender, every piece in order: anything else is a broken stream.
      from ??= ev.from;
      if (ev.from !== from) return broken(`a second call began streaming after ${received} chunks; ${stored}`);
      if (ev.type === 'delta') {
        if (ev.seq !== received) return broken(`the stream relay lost pieces after ${received} chunks; ${stored}`);
        if (!started) modelHeaders(ev.model);
        received++;
        write(writer.delta(ev));
        continue;
      }
      if (ev.chunks !== received) return broken(`the stream relay lost pieces after ${received} chunks; ${stored}`);
      count('completed', { modelId: ev.model, ...(outcome?.ok && { result: outcome.result }) });
      return write(writer.end(ev));
    }
    // The relay brought no ending.
    if (!outcome || stop.signal.aborted || res.destroyed) return; // the client hung up
    if (started) return broken(`the stream ended after ${received} chunks without its end; ${stored}`);
    if (!outcome.ok) {
      count('failed');
      countRoute(deps, counted, { error: outcome.error });
      throw outcome.error; // an ordinary HTTP error: nothing was sent
    }
    // Answered without streaming (no relay between this process and the worker): the stored
    // answer as the stream it would have been.
    await sendWhole(outcome.result);
  } finally {
    stop.abort();
    pending?.catch(() => undefined); // a read left behind (aborted by stop): nobody waits on it
    if (started) res.end();
  }

  async function sendWhole(result: RouteResult) {
    count('completed', { modelId: result.modelId, result });
    const row = await getAnswer(deps.db, sub.requestId);
    const answer = row?.response as { content: string | null; toolCalls?: ToolCall[] } | undefined;
    modelHeaders(result.modelId);
    for (const d of answer ? deltasOf(answer) : []) write(writer.delta({ ...d, model: result.modelId }));
    write(
      writer.end({
        model: result.modelId,
        finishReason: result.finishReason ?? 'stop',
        inputTokens: result.inputTokens ?? 0,
        outputTokens: result.outputTokens ?? 0,
      }),
    );
  }
}
