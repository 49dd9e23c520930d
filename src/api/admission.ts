/**
 * Admission control for the request path: at most `maxInFlight` requests run at once; the next
 * `maxQueued` wait their turn in order (each at most `maxWaitMs`); beyond that a request gets 429
 * with `retry-after` at once. A burst therefore queues instead of piling work onto Temporal until
 * every start times out, and a client always learns it may retry (never a 503 for being many).
 */
import type { RequestHandler } from 'express';
import type { Metrics } from '../services/metrics';
import { HttpError } from './errors';

export interface AdmissionOptions {
  maxInFlight: number;
  maxQueued: number;
  maxWaitMs: number;
}

export class Admission {
  private inFlight = 0;
  private readonly waiting: Array<{ admit: () => void; timer: NodeJS.Timeout }> = [];

  constructor(private readonly opts: AdmissionOptions) {}

  get stats() {
    return { inFlight: this.inFlight, queued: this.waiting.length };
  }

  /** Resolves with a release function once admitted; throws a 429 when full or after waiting too long. */
  async acquire(): Promise<() => void> {
    if (this.inFlight < this.opts.maxInFlight && this.waiting.length === 0) {
      this.inFlight++;
      return this.releaser();
    }
    if (this.waiting.length >= this.opts.maxQueued) throw this.busy('queue is full');
    await new Promise<void>((resolve, reject) => {
      const entry = {
        admit: () => {
          clearTimeout(entry.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(this.busy(`waited ${this.opts.maxWaitMs} ms for a slot`));
        }, this.opts.maxWaitMs),
      };
      this.waiting.push(entry);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next in line.
      if (next) next.admit();
      else this.inFlight--;
    };
  }

  private busy(why: string): HttpError {
    // About how long the queue ahead takes to drain at one slot-turn per second each.
    const retryAfter = Math.max(1, Math.ceil(this.waiting.length / Math.max(1, this.opts.maxInFlight)));
    return new HttpError(429, 'rate_limit_error', `Switchyard is at capacity (${why}); retry after ${retryAfter} s.`, {
      code: 'overloaded',
      headers: { 'retry-after': String(retryAfter) },
    });
  }
}

/** Express middleware: holds a slot for the whole request, released when the response ends. */
export function admit(admission: Admission, metrics?: Metrics): RequestHandler {
  return (_req, res, next) => {
    const started = performance.now();
    admission.acquire().then(
      (release) => {
        const waited = performance.now() - started;
        metrics?.admissionWaitSeconds.observe(waited / 1000);
        res.locals.admissionMs = Math.round(waited);
        res.once('close', release);
        next();
      },
      (err: unknown) => next(err),
    );
  };
}
