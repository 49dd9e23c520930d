/**
 * A streamed call's side of the relay: numbers its pieces, publishes them in order without
 * waiting on each, and ends the stream once. A relay failure never fails the call (the answer is
 * still stored): the reader sees the gap (a missing sequence number or end) and tells its client.
 */
import { addDelta, emptyAnswer, type StreamAnswer, type StreamDelta, type StreamEvent } from '../src/domain/stream';
import type { StreamRelay } from '../src/services/streamRelay';

export class StreamOut {
  readonly answer: StreamAnswer;
  /** Pieces the client already had when this call took the stream over (0: it began the stream). */
  readonly carried: number;
  /** The text the client already had when this call took the stream over. */
  readonly carriedContent: string;
  /** The first relay failure, if any (for the log; the reader detects the gap itself). */
  failure: unknown;
  private sent: Promise<unknown> = Promise.resolve();

  /**
   * `continuing`: this call continues a broken stream (issue 29): the answer so far, and the sender
   * of its last pieces; the hand-over is published first, and this call's pieces are numbered on.
   */
  constructor(
    private readonly relay: StreamRelay,
    private readonly requestId: string,
    private readonly model: string,
    private readonly from: string,
    continuing?: { answer: StreamAnswer; from: string },
  ) {
    this.answer = continuing
      ? {
          ...continuing.answer,
          toolCalls: continuing.answer.toolCalls.map((c) => c && { ...c, function: { ...c.function } }),
        }
      : emptyAnswer();
    this.carried = this.answer.chunks;
    this.carriedContent = this.answer.content;
    // Published with this call's first event: a continuation refused before it sends anything
    // leaves no trace on the stream (the next one takes it over from the same sender).
    if (continuing)
      this.handover = { type: 'continued', from: continuing.from, to: from, model, chunks: this.answer.chunks };
  }

  private handover?: StreamEvent;

  /** Pieces this call itself sent. */
  get own(): number {
    return this.answer.chunks - this.carried;
  }

  private publish(event: StreamEvent): void {
    if (this.handover && event.type !== 'continued') {
      const h = this.handover;
      this.handover = undefined;
      this.publish(h);
    }
    const p = this.relay.publish(this.requestId, event).catch((err: unknown) => {
      this.failure ??= err;
    });
    this.sent = Promise.all([this.sent, p]);
  }

  delta(d: StreamDelta): void {
    const seq = this.answer.chunks;
    addDelta(this.answer, d);
    this.publish({ type: 'delta', model: this.model, from: this.from, seq, ...d });
  }

  /** Every piece handed to the relay so far has been published (or failed). */
  flush(): Promise<unknown> {
    return this.sent;
  }

  async end(e: { finishReason: string; inputTokens: number; outputTokens: number }): Promise<void> {
    this.publish({ type: 'end', model: this.model, from: this.from, chunks: this.answer.chunks, ...e });
    await this.flush();
  }

  async error(message: string): Promise<void> {
    this.publish({ type: 'error', errorType: 'StreamInterrupted', message, chunks: this.answer.chunks });
    await this.flush();
  }
}
