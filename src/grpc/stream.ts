/**
 * A streamed chat over gRPC: the relay loop of `../api/streaming` writes to a `GrpcStreamSink`
 * through `grpcStreamWriter`. The writer's "format" is one JSON ChatChunk per line (the loop deals
 * in text, as server-sent events are); the sink writes each as a message. A stream that breaks
 * after its first chunk ends with UNAVAILABLE (as HTTP's ends with an error event and no [DONE]);
 * a failure before the first chunk is the call's ordinary status.
 */
import { Metadata, status as Status, type ServerWritableStream } from '@grpc/grpc-js';
import type { RelayWriter, StreamSink } from '../api/streaming';
import { toList } from './struct';
import type { GrpcError } from './status';

interface ErrorLine {
  error: { errorType: string; message: string; chunks: number };
}

const line = (o: unknown) => `${JSON.stringify(o)}\n`;

export function grpcStreamWriter(requestId: string): RelayWriter {
  return {
    delta: (d) =>
      line({
        request_id: requestId,
        model: d.model,
        delta: d.content ?? '',
        ...(d.toolCalls?.length && { tool_calls: d.toolCalls }),
      }),
    end: (e) =>
      line({
        request_id: requestId,
        model: e.model,
        finish_reason: e.finishReason,
        usage: { input_tokens: e.inputTokens, output_tokens: e.outputTokens },
      }),
    error: (e) => line({ error: { errorType: e.errorType, message: e.message, chunks: e.chunks } } satisfies ErrorLine),
    failed: (e) => line({ error: { ...e, chunks: 0 } } satisfies ErrorLine),
  };
}

export class GrpcStreamSink implements StreamSink {
  opened = false;
  /** How the stream failed after it opened: its status, sent when the sink closes. */
  failure: GrpcError | undefined;
  private readonly metadata = new Metadata();

  private onOpen: () => void = () => undefined;

  constructor(private readonly call: ServerWritableStream<unknown, unknown>) {}

  /** This sink, told what to do as it opens (the relay loop counts the first token's time). */
  opening(onOpen: () => void): this {
    this.onOpen = onOpen;
    return this;
  }

  header(name: string, value: string): void {
    if (!this.opened) this.metadata.set(name, value);
  }

  write(text: string): void {
    if (!this.opened) {
      this.opened = true;
      this.onOpen();
      this.call.sendMetadata(this.metadata);
    }
    for (const l of text.split('\n')) {
      if (!l) continue;
      const chunk = JSON.parse(l) as Record<string, unknown> & Partial<ErrorLine>;
      if (chunk.error) {
        const { errorType, message, chunks } = chunk.error;
        const metadata = new Metadata();
        metadata.set('switchyard-error-type', 'provider_error');
        metadata.set('switchyard-error-code', errorType);
        metadata.set('switchyard-stream-chunks', String(chunks));
        const requestId = this.metadata.get('x-switchyard-request-id')[0];
        if (requestId !== undefined) metadata.set('x-switchyard-request-id', String(requestId));
        // A broken stream may be retried (the answer may also be stored: GetRequest).
        this.failure = Object.assign(new Error(message), { code: Status.UNAVAILABLE, details: message, metadata });
        continue;
      }
      if (Array.isArray(chunk.tool_calls)) chunk.tool_calls = toList(chunk.tool_calls);
      this.call.write(chunk);
    }
  }

  get gone(): boolean {
    return this.call.cancelled || this.call.destroyed;
  }

  onGone(listener: () => void): void {
    this.call.once('cancelled', listener);
    this.call.once('close', listener);
  }

  close(): void {
    if (!this.opened || this.call.cancelled) return;
    if (this.failure) this.call.emit('error', this.failure);
    else this.call.end();
  }
}
