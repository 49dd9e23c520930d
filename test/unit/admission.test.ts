import { Admission } from '../../src/api/admission';
import { HttpError } from '../../src/api/errors';

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('admission control', () => {
  it('admits up to maxInFlight at once and queues the rest in order', async () => {
    const a = new Admission({ maxInFlight: 2, maxQueued: 10, maxWaitMs: 10_000 });
    const r1 = await a.acquire();
    await a.acquire();
    const order: number[] = [];
    const waiting = [3, 4].map((n) => a.acquire().then((release) => (order.push(n), release)));
    expect(a.stats).toEqual({ inFlight: 2, queued: 2 });
    r1();
    const r3 = await waiting[0]!;
    expect(order).toEqual([3]);
    r3();
    await waiting[1];
    expect(order).toEqual([3, 4]);
    expect(a.stats).toEqual({ inFlight: 2, queued: 0 });
  });

  it('answers 429 with retry-after when the queue is full, without waiting', async () => {
    const a = new Admission({ maxInFlight: 1, maxQueued: 1, maxWaitMs: 10_000 });
    await a.acquire();
    const queued = a.acquire();
    const err = await rejection(a.acquire());
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ status: 429, type: 'rate_limit_error', code: 'overloaded' });
    expect(Number((err as HttpError).headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(a.stats.queued).toBe(1);
    void queued.catch(() => undefined);
  });

  it('gives up on a request that waited too long, with a 429', async () => {
    const a = new Admission({ maxInFlight: 1, maxQueued: 5, maxWaitMs: 50 });
    const release = await a.acquire();
    const err = await rejection(a.acquire());
    expect(err).toMatchObject({ status: 429, code: 'overloaded' });
    expect(a.stats).toEqual({ inFlight: 1, queued: 0 });
    release();
    expect(a.stats).toEqual({ inFlight: 0, queued: 0 });
  });

  it('releasing twice frees one slot only', async () => {
    const a = new Admission({ maxInFlight: 2, maxQueued: 0, maxWaitMs: 1_000 });
    const release = await a.acquire();
    await a.acquire();
    release();
    release();
    expect(a.stats.inFlight).toBe(1);
  });
});
