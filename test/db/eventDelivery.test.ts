/**
 * The deliverer (src/services/eventDelivery.ts) on a real database with fake sinks: each sink has
 * its own cursor; a failing one holds its backlog (retried with backoff, in order) while the others
 * carry on; a sink that cannot be built (its secret not set) fails alone; a removed sink is closed;
 * a Kafka sink is built from the configuration with its password from the environment.
 */
import type { Db } from '../../src/db';
import { ensureTenant } from '../../src/db/apiKeys';
import { EventSettingsSchema } from '../../src/domain/events';
import { createEventSink, EventDeliverer } from '../../src/services/eventDelivery';
import { Metrics } from '../../src/services/metrics';
import type { EventSink, UsageEvent } from '../../src/services/eventSinks/types';
import { openTestDb } from '../support/db';

let db: Db;
beforeEach(async () => {
  db = await openTestDb();
  for (const t of ['acme', 'beta']) await ensureTenant(db, t);
});
afterEach(async () => {
  await db.close();
});

const addEvents = async (n: number) => {
  for (let i = 0; i < n; i++)
    await db.query(
      `insert into event_outbox (id, tenant_id, type, data) values (gen_random_uuid(), $1, 'request.finished', $2)`,
      [i % 2 ? 'beta' : 'acme', JSON.stringify({ i })],
    );
};

class FakeSink implements EventSink {
  received: UsageEvent[] = [];
  failNext = 0;
  closed = false;
  constructor(readonly name: string) {}
  async send(events: readonly UsageEvent[]) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('sink down');
    }
    this.received.push(...events);
  }
  async close() {
    this.closed = true;
  }
}

const settings = (names: string[], batchSize = 4) =>
  EventSettingsSchema.parse({
    batchSize,
    sinks: names.map((name) =>
      name === 'broken'
        ? { name, type: 'webhook', url: 'https://broken.example.com/', secretName: 'SY_TEST_NOT_SET' }
        : { name, type: 'webhook', url: `https://${name}.example.com/` },
    ),
  });

it('a failing sink holds its backlog and catches up in order; the others carry on', async () => {
  let now = 1_000_000;
  const sinks = new Map<string, FakeSink>();
  const errors: string[] = [];
  const metrics = new Metrics();
  const d = new EventDeliverer({
    db,
    metrics,
    sinkContext: { env: {} },
    now: () => now,
    make: (s, ctx) => {
      if (s.name === 'broken') return createEventSink(s, ctx);
      const sink = new FakeSink(s.name);
      sinks.set(s.name, sink);
      return sink;
    },
    onSinkError: (sink, failures, message) => errors.push(`${sink} ${failures} ${message}`),
  });
  await addEvents(10);
  const s = settings(['good', 'flaky', 'broken']);
  // First tick builds the sinks: make `flaky` fail its first two sends.
  let r = await d.tick(s);
  expect(r).toMatchObject({ delivered: 8, failed: 1, more: true }); // good 4, flaky 4, broken failed
  sinks.get('flaky')!.failNext = 2;
  r = await d.tick(s); // good 4 more; flaky fails; broken is waiting out its backoff
  expect(r).toMatchObject({ delivered: 4, failed: 1 });
  now += 100;
  r = await d.tick(s); // good 2 (the last), flaky waits (500 ms backoff)
  expect(r).toMatchObject({ delivered: 2, failed: 0, more: false });
  now += 500;
  r = await d.tick(s); // flaky fails again (then 1 s), broken fails again (then 1 s)
  expect(r).toMatchObject({ delivered: 0, failed: 2 });
  expect(await d.measureBacklog()).toEqual({ good: 0, flaky: 6, broken: 10 });
  now += 1_000;
  while ((await d.tick(s)).more);
  const seqs = (sink: FakeSink) => sink.received.map((e) => Number(e.seq));
  expect(seqs(sinks.get('good')!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(seqs(sinks.get('flaky')!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(sinks.get('good')!.received[1]).toMatchObject({ tenantId: 'beta', type: 'request.finished', data: { i: 1 } });
  const unset = 'environment variable SY_TEST_NOT_SET (the HMAC key) is not set';
  expect(d.state().find((x) => x.name === 'broken')).toMatchObject({ lastError: unset });
  expect(errors).toEqual([`broken 1 ${unset}`, 'flaky 1 sink down']);
  expect(await d.measureBacklog()).toEqual({ good: 0, flaky: 0, broken: 10 });
  const metric = async (name: string) =>
    Object.fromEntries(
      (await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => [String(v.labels.sink), v.value]),
    );
  expect(await metric('switchyard_events_delivered_total')).toEqual({ good: 10, flaky: 10 });
  expect(await metric('switchyard_events_failed_sends_total')).toEqual({ flaky: 2, broken: 3 });
  expect(await metric('switchyard_events_backlog')).toEqual({ good: 0, flaky: 0, broken: 10 });

  // A sink removed from the configuration is closed; one added starts from the first event.
  await d.tick(settings(['fresh'], 100));
  expect(sinks.get('good')!.closed).toBe(true);
  expect(seqs(sinks.get('fresh')!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await d.close();
  expect(sinks.get('fresh')!.closed).toBe(true);
});

it('a new deliverer (another worker) goes on from the cursor in the database', async () => {
  await addEvents(5);
  const first = new FakeSink('hook');
  const a = new EventDeliverer({ db, sinkContext: { env: {} }, make: () => first });
  await a.tick(settings(['hook'], 3));
  expect(first.received.map((e) => e.seq)).toEqual(['1', '2', '3']);
  await addEvents(2);
  const second = new FakeSink('hook');
  const b = new EventDeliverer({ db, sinkContext: { env: {} }, make: () => second });
  while ((await b.tick(settings(['hook'], 3))).more);
  expect(second.received.map((e) => e.seq)).toEqual(['4', '5', '6', '7']);
});

it('a webhook the URL policy forbids is never called: its backlog is held', async () => {
  await addEvents(2);
  const d = new EventDeliverer({ db, sinkContext: { env: {} } }); // no policy: public addresses only
  const s = EventSettingsSchema.parse({ sinks: [{ name: 'private', type: 'webhook', url: 'http://10.255.255.1/e' }] });
  expect(await d.tick(s)).toMatchObject({ delivered: 0, failed: 1 });
  expect(d.state()[0]!.lastError).toMatch(/10\.255\.255\.1/);
  expect(await d.measureBacklog()).toEqual({ private: 2 });
  // A secret named but not set: the sink fails alone, with what is missing.
  const unset = new EventDeliverer({ db, sinkContext: { env: {} } });
  await unset.tick(
    EventSettingsSchema.parse({
      sinks: [{ name: 'signed', type: 'webhook', url: 'https://x.example/', secretName: 'NOT_SET_ANYWHERE' }],
    }),
  );
  expect(unset.state()[0]!.lastError).toBe('environment variable NOT_SET_ANYWHERE (the HMAC key) is not set');
});

it('builds a Kafka sink from the configuration, its SASL password from the environment', async () => {
  const kafka = EventSettingsSchema.parse({
    sinks: [
      {
        name: 'kafka',
        type: 'kafka',
        brokers: ['127.0.0.1:9092'],
        topic: 'usage',
        sasl: { mechanism: 'plain', username: 'sy', passwordName: 'SY_TEST_KAFKA_PASSWORD' },
      },
    ],
  }).sinks[0]!;
  expect(() => createEventSink(kafka, { env: {} })).toThrow(
    'environment variable SY_TEST_KAFKA_PASSWORD (the Kafka password) is not set',
  );
  const sink = createEventSink(kafka, { env: { SY_TEST_KAFKA_PASSWORD: 'pw' } });
  expect(sink.name).toBe('kafka');
  await sink.close(); // never connected: nothing to close
});
