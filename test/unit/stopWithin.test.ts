/** A stop with a deadline: a step that never finishes is abandoned at the deadline and named. */
import { stopWithin } from '../../src/start/stopWithin';

it('a stop that finishes in time is reported stopped', async () => {
  await expect(
    stopWithin(
      async () => undefined,
      1_000,
      () => undefined,
    ),
  ).resolves.toEqual({ stopped: true });
});

it('a stop stuck in a step is abandoned at the deadline, naming the step', async () => {
  let step: string | undefined = 'closing the database';
  const started = Date.now();
  const outcome = await stopWithin(
    () => new Promise<void>(() => undefined),
    200,
    () => step,
  );
  expect(outcome).toEqual({ stopped: false, stuckAt: 'closing the database' });
  // Not before the deadline (a generous upper bound: the machine may be busy).
  expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  expect(Date.now() - started).toBeLessThan(10_000);
  step = undefined;
});

it('a stop that fails is reported with its error', async () => {
  const outcome = await stopWithin(
    () => Promise.reject(new Error('boom')),
    1_000,
    () => undefined,
  );
  expect(outcome).toMatchObject({ stopped: false, error: new Error('boom') });
});
