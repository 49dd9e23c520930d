import fc from 'fast-check';
import {
  applyOutcomes,
  cooldownFor,
  force,
  grantProbe,
  initialBreaker,
  snapshot,
  type BreakerState,
} from '../../src/domain/breaker';
import { BreakerSettingsSchema } from '../../src/domain/breakerSettings';

const s = BreakerSettingsSchema.parse({
  failureThreshold: 3,
  windowMs: 60_000,
  cooldownMs: 60_000,
  maxCooldownMs: 600_000,
  minCalls: 10,
  failureRateThreshold: 0.5,
});
const fail = (at: number, type = 'Overloaded') => ({ failures: [{ at, type, message: 'x' }] });
const ok = (at: number, count = 1) => ({ failures: [], successes: { count, latencySumMs: 100 * count, at } });

describe('breaker state machine', () => {
  it('counts failures in a sliding window only', () => {
    let st = initialBreaker('e', 0);
    st = applyOutcomes(st, fail(0), 0, s);
    st = applyOutcomes(st, fail(1_000), 1_000, s);
    st = applyOutcomes(st, fail(70_000), 70_000, s); // the first two are out of the window
    expect(st.status).toBe('closed');
    st = applyOutcomes(st, fail(71_000), 71_000, s);
    st = applyOutcomes(st, fail(72_000), 72_000, s);
    expect(st.status).toBe('open');
  });

  it("ignores failures that are the request's own fault", () => {
    let st = initialBreaker('e', 0);
    for (let i = 0; i < 5; i++) st = applyOutcomes(st, fail(i, 'InvalidRequest'), i, s);
    expect(st.status).toBe('closed');
  });

  it('counts abandoned calls (a worker died mid-call) without treating them as failures', () => {
    let st = initialBreaker('e', 0);
    for (let i = 0; i < 10; i++) st = applyOutcomes(st, fail(i, 'Abandoned'), i, s);
    expect(st.status).toBe('closed');
    expect(st.abandonedCalls).toBe(10);
    expect(st.ewmaErrorRate).toBe(0);
    expect(snapshot(st).abandonedCalls).toBe(10);
  });

  it('trips on the failure rate over a minimum number of calls', () => {
    let st = initialBreaker('e', 0);
    st = applyOutcomes(st, ok(0, 9), 0, s);
    st = applyOutcomes(
      st,
      {
        failures: [
          { at: 1, type: 'Timeout', message: 'x' },
          { at: 1, type: 'Timeout', message: 'x' },
        ],
      },
      1,
      { ...s, failureThreshold: 100, failureRateThreshold: 0.15 },
    );
    expect(st.status).toBe('open');
  });

  it('doubles the cooldown per consecutive trip, up to the cap', () => {
    expect([1, 2, 3, 4, 5].map((n) => cooldownFor(n, s))).toEqual([60_000, 120_000, 240_000, 480_000, 600_000]);
  });

  it('an operator close resets the breaker without disabling it', () => {
    let st = applyOutcomes(
      applyOutcomes(applyOutcomes(initialBreaker('e', 0), fail(0), 0, s), fail(1), 1, s),
      fail(2),
      2,
      s,
    );
    st = force(st, 'closed', 'fixed', 10, s);
    expect(st.status).toBe('closed');
    for (const t of [20, 21, 22]) st = applyOutcomes(st, fail(t), t, s);
    expect(st.status).toBe('open');
  });

  it('never shortens an open deadline, whatever happens', () => {
    const events = fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('fail' as const), dt: fc.integer({ min: 0, max: 200_000 }) }),
        fc.record({ kind: fc.constant('ok' as const), dt: fc.integer({ min: 0, max: 200_000 }) }),
        fc.record({ kind: fc.constant('probe' as const), dt: fc.integer({ min: 0, max: 200_000 }) }),
        fc.record({ kind: fc.constant('forceOpen' as const), dt: fc.integer({ min: 0, max: 200_000 }) }),
      ),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(events, (evs) => {
        let st: BreakerState = initialBreaker('e', 0);
        let now = 0;
        for (const e of evs) {
          now += e.dt;
          const before = st.status === 'open' ? st.openUntil : undefined;
          if (e.kind === 'fail') st = applyOutcomes(st, { ...fail(now), probe: st.probes.length > 0 }, now, s);
          else if (e.kind === 'ok') st = applyOutcomes(st, { ...ok(now), probe: st.probes.length > 0 }, now, s);
          else if (e.kind === 'probe') st = grantProbe(st, now, s).state;
          else st = force(st, 'open', 'test', now, s);
          if (before !== undefined && st.status === 'open') expect(st.openUntil!).toBeGreaterThanOrEqual(before);
        }
      }),
      { numRuns: 300 },
    );
  });
});
