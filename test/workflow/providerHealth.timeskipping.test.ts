/**
 * The breaker entity under the time-skipping test server: every timer case of the breaker, with
 * time moved by env.sleep — none of these tests waits in real time.
 */
import { recordHistory } from '../support/histories';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Context } from '@temporalio/activity';
import type { BreakerSnapshot, Outcomes } from '../../src/domain/breaker';
import { BreakerSettingsSchema } from '../../src/domain/breakerSettings';
import { ensureBinary, TEMPORAL_TEST_SERVER } from '../../src/temporal/binaries';
import { buildWorkflowBundle, installRuntime } from '../../src/start/worker';
import { forceUpdate, outcomesSignal, probeUpdate, providerHealth, stateQuery } from '../../workflows/providerHealth';

const TQ = 'health-test';
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
const settings = BreakerSettingsSchema.parse({
  failureThreshold: 3,
  windowMs: 60_000,
  cooldownMs: 60_000,
  maxCooldownMs: 30 * 60_000,
});
const failures = (n: number, at: number): Outcomes => ({
  failures: Array.from({ length: n }, () => ({ at, type: 'Overloaded', message: '503 Overloaded' })),
});

beforeAll(async () => {
  installRuntime('ERROR');
  bundle = await buildWorkflowBundle();
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_TEST_SERVER) } },
  });
});
afterAll(async () => env?.teardown());

// The projection the entity publishes (its one activity), recorded per workflow run.
const published: Array<{ workflowId: string; status: string; at: number }> = [];
const activities = {
  async publishBreaker(input: { snapshot: BreakerSnapshot; at: number }): Promise<void> {
    published.push({
      workflowId: Context.current().info.workflowExecution?.workflowId ?? '',
      status: input.snapshot.status,
      at: input.at,
    });
  },
};

async function withBreaker(fn: (h: Awaited<ReturnType<typeof start>>) => Promise<void>, maxHistoryEvents?: number) {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TQ,
    workflowBundle: bundle,
    activities,
  });
  await worker.runUntil(async () => fn(await start(maxHistoryEvents)));
}
let n = 0;
const start = (maxHistoryEvents?: number) =>
  env.client.workflow.start(providerHealth, {
    taskQueue: TQ,
    workflowId: `health-test-${++n}`,
    args: [{ endpoint: 'p/m', settings, ...(maxHistoryEvents && { maxHistoryEvents }) }],
  });
const now = () => env.currentTimeMs();
const state = (h: Awaited<ReturnType<typeof start>>) => h.query(stateQuery);

it('trips after 3 failures, stays open at 59 s, is half-open after 61 s; a probe success closes it', async () => {
  await withBreaker(async (h) => {
    await h.signal(outcomesSignal, failures(2, await now()));
    expect((await state(h)).status).toBe('closed');
    await h.signal(outcomesSignal, failures(1, await now()));
    const opened = await state(h);
    expect(opened).toMatchObject({ status: 'open', tripCount: 1 });
    const openUntil = Date.parse(opened.openUntil!);
    await env.sleep(59_000);
    expect((await state(h)).status).toBe('open');
    await env.sleep(2_000);
    expect((await state(h)).status).toBe('half-open');
    expect(Date.parse((await state(h)).openUntil!)).toBe(openUntil);

    const probe = await h.executeUpdate(probeUpdate);
    expect(probe.granted).toBe(true);
    expect((await h.executeUpdate(probeUpdate)).granted).toBe(false); // one probe slot
    await h.signal(outcomesSignal, {
      failures: [],
      successes: { count: 1, latencySumMs: 120, at: await now() },
      probe: true,
    });
    expect(await state(h)).toMatchObject({ status: 'closed', consecutiveTrips: 0, ewmaLatencyMs: 120 });
    await recordHistory('health-trip-recover', h);
  });
});

it('a probe failure re-opens with a doubled cooldown', async () => {
  await withBreaker(async (h) => {
    await h.signal(outcomesSignal, failures(3, await now()));
    await env.sleep(61_000);
    expect((await h.executeUpdate(probeUpdate)).granted).toBe(true);
    const failedAt = await now();
    await h.signal(outcomesSignal, { ...failures(1, failedAt), probe: true });
    const reopened = await state(h);
    expect(reopened).toMatchObject({ status: 'open', consecutiveTrips: 2, tripCount: 2 });
    expect(Date.parse(reopened.openUntil!) - failedAt).toBeGreaterThanOrEqual(119_000);
    await env.sleep(100_000);
    expect((await state(h)).status).toBe('open'); // a single cooldown has passed, not the doubled one
    await env.sleep(21_000);
    expect((await state(h)).status).toBe('half-open');
  });
});

it('forced open while open: no stale deadline is shown, and failures while open change nothing', async () => {
  await withBreaker(async (h) => {
    await h.signal(outcomesSignal, failures(3, await now()));
    expect((await state(h)).openUntil).toBeDefined();
    await env.sleep(30_000);
    const forced = await h.executeUpdate(forceUpdate, { args: [{ status: 'open', reason: 'provider incident' }] });
    // Forced open has no end until an operator closes it: a cooldown time would be stale.
    expect(forced.openUntil).toBeUndefined();
    expect(forced.forced).toMatchObject({ status: 'open', reason: 'provider incident' });
    // Failures arriving while open change nothing.
    await h.signal(outcomesSignal, failures(5, await now()));
    expect(await state(h)).toMatchObject({ status: 'open', tripCount: forced.tripCount, forced: { status: 'open' } });
    // A forced-open breaker stays open past its cooldown until an operator closes it.
    await env.sleep(10 * 60_000);
    expect((await state(h)).status).toBe('open');
    expect((await h.executeUpdate(forceUpdate, { args: [{ status: 'closed', reason: 'incident over' }] })).status).toBe(
      'closed',
    );
    // The validator refuses a bad update before it reaches history.
    const refused = (await h
      .executeUpdate(forceUpdate, { args: [{ status: 'sideways' as 'open', reason: 'x' }] })
      .catch((e: unknown) => e)) as Error & { cause?: Error };
    expect(refused.cause?.message).toMatch(/status must be/);
  });
});

it('continue-as-new carries the state and the pending deadline', async () => {
  await withBreaker(async (h) => {
    await h.signal(outcomesSignal, failures(3, await now()));
    const before = await state(h);
    const runId = (await h.describe()).runId;
    // Enough signals to pass the (small) history limit and continue as new.
    for (let i = 0; i < 12; i++) await h.signal(outcomesSignal, { failures: [] });
    await env.sleep(1_000);
    const after = await env.client.workflow.getHandle(h.workflowId).describe();
    expect(after.runId).not.toBe(runId);
    const carried = await env.client.workflow.getHandle(h.workflowId).query(stateQuery);
    expect(carried).toMatchObject({ status: 'open', tripCount: before.tripCount, openUntil: before.openUntil });
    await env.sleep(60_000);
    expect((await env.client.workflow.getHandle(h.workflowId).query(stateQuery)).status).toBe('half-open');
  }, 20);
});

it('a breaker left open for 2 hours of skipped time recovers correctly', async () => {
  await withBreaker(async (h) => {
    await h.signal(outcomesSignal, failures(3, await now()));
    await env.sleep(2 * 60 * 60_000);
    expect((await state(h)).status).toBe('half-open');
    expect((await h.executeUpdate(probeUpdate)).granted).toBe(true);
    await h.signal(outcomesSignal, {
      failures: [],
      successes: { count: 1, latencySumMs: 80, at: await now() },
      probe: true,
    });
    expect((await state(h)).status).toBe('closed');
    // Closed again means the next trip starts from the base cooldown.
    await h.signal(outcomesSignal, failures(3, await now()));
    const reopened = await state(h);
    expect(Date.parse(reopened.openUntil!) - (await now())).toBeLessThanOrEqual(60_000);
  });
});

it('publishes its routing state on every transition, not on every outcome', async () => {
  await withBreaker(async (h) => {
    const mine = () => published.filter((p) => p.workflowId === h.workflowId).map((p) => p.status);
    await h.signal(outcomesSignal, failures(1, await now()));
    await h.signal(outcomesSignal, failures(1, await now()));
    expect((await state(h)).status).toBe('closed');
    await h.signal(outcomesSignal, failures(1, await now()));
    expect((await state(h)).status).toBe('open');
    await env.sleep(61_000);
    expect((await state(h)).status).toBe('half-open');
    expect((await h.executeUpdate(probeUpdate)).granted).toBe(true);
    await h.signal(outcomesSignal, {
      failures: [],
      successes: { count: 1, latencySumMs: 50, at: await now() },
      probe: true,
    });
    expect((await state(h)).status).toBe('closed');
    // The write follows the transition in the same workflow task's local activity: wait for it.
    for (const deadline = Date.now() + 10_000; mine().length < 4 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // Two failures that did not trip changed nothing routing reads: no write for them.
    expect(mine()).toEqual(['closed', 'open', 'half-open', 'closed']);
  });
});
