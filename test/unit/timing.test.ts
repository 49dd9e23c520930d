import { serverTiming, timingOf } from '../../src/domain/timing';

it('splits a request into queued, routing, provider and total from its attempts', () => {
  const t0 = Date.parse('2026-12-02T10:00:00.000Z');
  const t = timingOf({
    startedAt: t0,
    endedAt: t0 + 1_000,
    admissionMs: 50,
    attempts: [
      { startedAt: new Date(t0 + 200).toISOString(), latencyMs: 300, queuedMs: 100 },
      { startedAt: new Date(t0 + 600).toISOString(), latencyMs: 350 },
    ],
  });
  expect(t).toEqual({ queuedMs: 150, routingMs: 100, providerMs: 650, totalMs: 1_050 });
  expect(serverTiming(t)).toBe('queued;dur=150, routing;dur=100, provider;dur=650, total;dur=1050');
  expect(timingOf({ startedAt: t0, endedAt: t0 + 5, attempts: [] })).toEqual({
    queuedMs: 0,
    routingMs: 5,
    providerMs: 0,
    totalMs: 5,
  });
});
