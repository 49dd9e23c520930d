/** The sliding-minute estimate behind per-key request limits (both the memory and the Redis store). */
import fc from 'fast-check';
import { slidingWindow } from '../../src/domain/slidingWindow';

it('allows up to the limit in a fresh window, then refuses until the next window', () => {
  expect(slidingWindow({ previous: 0, current: 4, elapsedMs: 10_000 }, 5)).toEqual({ allowed: true });
  expect(slidingWindow({ previous: 0, current: 5, elapsedMs: 10_000 }, 5)).toEqual({
    allowed: false,
    retryAfterMs: 50_000,
  });
});

it('weighs the previous window by how much of it still overlaps the last minute', () => {
  // 10 in the previous minute, 15 s into this one: 7.5 of them still count, so one more fits under 10.
  expect(slidingWindow({ previous: 10, current: 1, elapsedMs: 15_000 }, 10)).toEqual({ allowed: true });
  const refused = slidingWindow({ previous: 10, current: 2, elapsedMs: 15_000 }, 10);
  // Room for one more once the previous minute weighs 7: 18 s in, 3 s from now.
  expect(refused.allowed).toBe(false);
  expect(!refused.allowed && refused.retryAfterMs).toBeCloseTo(3_000, 6);
});

it('never allows more than the limit within one window, and a refusal always names a wait within the window', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1_000 }),
      fc.integer({ min: 0, max: 2_000 }),
      fc.integer({ min: 0, max: 59_999 }),
      (limit, previous, elapsedMs) => {
        let current = 0;
        while (slidingWindow({ previous, current, elapsedMs }, limit).allowed) current++;
        expect(current).toBeLessThanOrEqual(limit);
        const refused = slidingWindow({ previous, current, elapsedMs }, limit);
        expect(refused.allowed).toBe(false);
        if (!refused.allowed) {
          expect(refused.retryAfterMs).toBeGreaterThanOrEqual(0);
          expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
          // After the wait, one more fits (counts unchanged; the weight of the previous minute shrank).
          const later = elapsedMs + refused.retryAfterMs;
          if (later < 60_000)
            expect(slidingWindow({ previous, current, elapsedMs: later + 1 }, limit).allowed).toBe(true);
        }
      },
    ),
  );
});
