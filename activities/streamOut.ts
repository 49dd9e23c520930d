/**
 * A streamed call's side of the relay: numbers its pieces, publishes them in order without
 * waiting on each, and ends the stream once. A relay failure never fails the call (the answer is
 * still stored): the reader sees the gap (a missing sequence number or end) and tells its client.
 */
import { addDelta, emptyAnswer, type StreamDelta, type StreamEvent } from '../src/domain/stream';
import type { StreamRelay } from '../src/services/streamRelay';

export class StreamOut {
  readonly answer = emptyAnswer();
  /** The first relay failure, if any (for the log; the reader detects the gap itself). */
  failure: unknown;
  private sent: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly relay: StreamRelay,
    private readonly requestId: string,
    private readonly model: string,
    private readonly from: string,
  ) {}

  private publish(event: StreamEvent): void {
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
