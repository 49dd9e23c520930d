/**
 * The channel a streaming provider call relays its events through to the API process holding the
 * client's connection. Redis streams (`REDIS_URL`) work across processes and machines, keep the
 * order, and let a reader start late (it reads from the beginning: a subscriber that attaches
 * after the first delta misses nothing, and an `Idempotency-Key` retry replays the stream).
 * Without Redis, an in-process relay serves the all-in-one process.
 * Only the relay carries tokens: the workflow history records where the final text is stored.
 */
import { Redis } from 'ioredis';
import type { StreamEvent } from '../domain/stream';

export interface StreamRelay {
  readonly kind: 'redis' | 'memory';
  /** Appends an event to the request's stream (in order: callers need not await each one). */
  publish(requestId: string, event: StreamEvent): Promise<void>;
  /** How many events the request's stream holds (a retried call checks whether its stream began). */
  count(requestId: string): Promise<number>;
  /** The request's events so far, without waiting (a continuing call reads the answer the client holds). */
  read(requestId: string): Promise<StreamEvent[]>;
  /** The request's events from the first, as they come, until `signal` aborts. */
  subscribe(requestId: string, signal: AbortSignal): AsyncGenerator<StreamEvent>;
  close(): Promise<void>;
}

/** How long a request's events are kept after the last one (a late reader or a retry replays them). */
const KEEP_MS = 10 * 60_000;
const keyOf = (requestId: string) => `switchyard:stream:${requestId}`;

export class RedisRelay implements StreamRelay {
  readonly kind = 'redis';
  private readonly redis: Redis;
  private readonly readers = new Set<Redis>();

  constructor(url: string) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
    // Connection errors surface on the commands that need it; keep them off the process's stderr.
    this.redis.on('error', () => undefined);
  }

  async publish(requestId: string, event: StreamEvent): Promise<void> {
    const key = keyOf(requestId);
    const replies = await this.redis.multi().xadd(key, '*', 'e', JSON.stringify(event)).pexpire(key, KEEP_MS).exec();
    // A transaction reports its commands' own errors in its replies, not by rejecting.
    const failed = replies?.find(([err]) => err)?.[0];
    if (!replies || failed) throw failed ?? new Error('the Redis transaction was discarded');
  }

  count(requestId: string): Promise<number> {
    return this.redis.xlen(keyOf(requestId));
  }

  async read(requestId: string): Promise<StreamEvent[]> {
    const entries = await this.redis.xrange(keyOf(requestId), '-', '+');
    return entries.map(([, fields]) => JSON.parse(fields[1]!) as StreamEvent);
  }

  async *subscribe(requestId: string, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    // A blocking read holds its connection: each reader has its own.
    const reader = this.redis.duplicate();
    reader.on('error', () => undefined);
    this.readers.add(reader);
    const stop = () => reader.disconnect();
    signal.addEventListener('abort', stop, { once: true });
    let last = '0';
    try {
      while (!signal.aborted) {
        const res = await reader.xread('BLOCK', 5_000, 'STREAMS', keyOf(requestId), last).catch((err: unknown) => {
          if (signal.aborted) return null;
          throw err;
        });
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            yield JSON.parse(fields[1]!) as StreamEvent;
          }
        }
      }
    } finally {
      signal.removeEventListener('abort', stop);
      this.readers.delete(reader);
      reader.disconnect();
    }
  }

  async close(): Promise<void> {
    for (const r of this.readers) r.disconnect();
    // Closing: a connection that cannot quit is already gone.
    await this.redis.quit().catch(() => undefined);
  }
}

/** One process's relay: the API and the worker in the same process (`npm start`, tests). */
export class MemoryRelay implements StreamRelay {
  readonly kind = 'memory';
  private readonly streams = new Map<
    string,
    { events: StreamEvent[]; wake: Set<() => void>; timer?: NodeJS.Timeout }
  >();

  private streamOf(requestId: string) {
    let s = this.streams.get(requestId);
    if (!s) {
      this.streams.set(requestId, (s = { events: [], wake: new Set() }));
      s.timer = setTimeout(() => this.streams.delete(requestId), KEEP_MS).unref();
    }
    return s;
  }

  async publish(requestId: string, event: StreamEvent): Promise<void> {
    const s = this.streamOf(requestId);
    s.events.push(event);
    clearTimeout(s.timer);
    s.timer = setTimeout(() => this.streams.delete(requestId), KEEP_MS).unref();
    for (const w of s.wake) w();
  }

  async count(requestId: string): Promise<number> {
    return this.streams.get(requestId)?.events.length ?? 0;
  }

  async read(requestId: string): Promise<StreamEvent[]> {
    return [...(this.streams.get(requestId)?.events ?? [])];
  }

  async *subscribe(requestId: string, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    let next = 0;
    while (!signal.aborted) {
      const s = this.streamOf(requestId);
      if (next < s.events.length) {
        yield s.events[next++]!;
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          s.wake.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        s.wake.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  async close(): Promise<void> {
    for (const s of this.streams.values()) clearTimeout(s.timer);
    this.streams.clear();
  }
}

export const createRelay = (redisUrl: string | undefined): StreamRelay =>
  redisUrl ? new RedisRelay(redisUrl) : new MemoryRelay();
