/**
 * A streamed answer: the request is the same `routeRequest` workflow; its provider call relays
 * each piece through the relay, and this process writes them to the client as server-sent events.
 *
 * Nothing is sent until the first piece: a failure before it (every candidate failed, a budget
 * refused, a filter) is an ordinary HTTP error, and a fallback before it is invisible. After it,
 * the stream ends either normally (the format's terminator) or with an error event and no
 * terminator, never a normal end of a broken answer.
 */
import type { Request, Response } from 'express';
import { getAnswer } from '../db/requests';
import { deltasOf, type StreamEvent, type StreamWriter } from '../domain/stream';
import type { RouteResult } from '../domain/request';
import type { ToolCall } from '../domain/chat';
import type { ConfigStore } from '../services/configStore';
import { startRoute, type RouteInput } from './runRoute';
import { awaitResult, type RunnerDeps, type Submission } from './submit';
import { HttpError } from './errors';

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
  const sub = await startRoute(deps, req, res, tenantId, body, route);
  const writer = writerFor(sub);
  const stop = new AbortController();
  // A client that hangs up stops the reading; the workflow finishes and stores the answer anyway.
  res.on('close', () => stop.abort());
  const events = deps.relay?.subscribe(sub.requestId, stop.signal);
  // Stop waiting on the workflow once the stream has ended (the relay may end it first).
  const settled: Promise<Settled> = deps.client.connection
    .withAbortSignal(stop.signal, () => awaitResult(deps, sub))
    .then(
      (result) => ({ ok: true, result }),
      (error: unknown) => ({ ok: false, error }),
    );

  let started = false;
  const write = (text: string) => {
    if (!started) {
      started = true;
      res.status(200);
      res.setHeader('content-type', 'text/event-stream; charset=utf-8');
      res.setHeader('cache-control', 'no-cache');
      res.setHeader('x-accel-buffering', 'no');
      res.flushHeaders();
    }
    if (text) res.write(text);
  };

  try {
    let pending = events?.next();
    let outcome: Settled | undefined;
    let drainUntil = Infinity;
    let lost = false;
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
        drainUntil = Date.now() + DRAIN_MS;
        continue;
      }
      if ('lost' in got) {
        // The relay failed (Redis went away): what was sent may miss pieces from here on.
        lost = true;
        pending = undefined;
        continue;
      }
      if ('drained' in got || got.event.done) break;
      const ev = got.event.value;
      pending = events!.next();
      if (ev.type === 'delta') {
        if (!started) res.setHeader('x-switchyard-model', ev.model);
        write(writer.delta(ev));
        continue;
      }
      write(ev.type === 'end' ? writer.end(ev) : writer.error(ev));
      return;
    }
    // The relay had no ending for us (no relay, a relay across processes not configured, events
    // lost): finish from the workflow's own result.
    if (!outcome) return; // the client hung up
    if (!outcome.ok || (started && lost)) {
      if (!started && !outcome.ok) throw outcome.error; // an ordinary HTTP error: nothing was sent
      const e = outcome.ok ? undefined : outcome.error;
      write(
        writer.error({
          type: 'error',
          errorType: 'StreamInterrupted',
          message:
            e instanceof HttpError
              ? e.message
              : e
                ? 'the request failed after the stream began'
                : 'the stream relay failed; the whole answer is stored: fetch it with GET /v1/requests/' +
                  sub.requestId,
          chunks: 0,
        }),
      );
      return;
    }
    const result = outcome.result;
    if (!started) {
      // Answered whole: send the stored answer as the stream it would have been.
      const row = await getAnswer(deps.db, sub.requestId);
      const stored = row?.response as { content: string | null; toolCalls?: ToolCall[] } | undefined;
      res.setHeader('x-switchyard-model', result.modelId);
      for (const d of stored ? deltasOf(stored) : []) write(writer.delta({ ...d, model: result.modelId }));
    }
    write(
      writer.end({
        type: 'end',
        model: result.modelId,
        finishReason: result.finishReason ?? 'stop',
        inputTokens: result.inputTokens ?? 0,
        outputTokens: result.outputTokens ?? 0,
      }),
    );
  } finally {
    stop.abort();
    if (started) res.end();
  }
}
