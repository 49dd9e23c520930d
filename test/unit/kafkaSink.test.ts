/**
 * The Kafka sink's contract with kafkajs, on a stand-in client (the broker test is
 * test/integration/kafkaSink.test.ts): what the producer is asked for, what each record carries,
 * and that a failed send rejects and is retried on a fresh producer.
 */
import type { Kafka, Producer, ProducerConfig, ProducerRecord } from 'kafkajs';
import { createKafkaSink, toKafkaMessage } from '../../src/services/eventSinks/kafka';
import type { UsageEvent } from '../../src/services/eventSinks/types';

const event = (tenantId: string, seq: number): UsageEvent => ({
  id: `evt_${tenantId}_${seq}`,
  seq: String(seq),
  tenantId,
  type: 'request.finished',
  occurredAt: '2026-12-07T21:00:00.000Z',
  data: { requestId: `req_${seq}`, inputTokens: 10, outputTokens: 3, costUsd: 0.0001 },
});

function fakeKafka(failSends = 0) {
  const configs: ProducerConfig[] = [];
  const sent: ProducerRecord[] = [];
  const calls = { connect: 0, disconnect: 0 };
  let failures = failSends;
  const kafka: Pick<Kafka, 'producer'> = {
    producer(config?: ProducerConfig) {
      configs.push(config ?? {});
      return {
        connect: async () => void calls.connect++,
        disconnect: async () => void calls.disconnect++,
        send: async (record: ProducerRecord) => {
          if (failures > 0) {
            failures--;
            throw new Error('KafkaJSNumberOfRetriesExceeded: Connection refused');
          }
          sent.push(record);
          return [];
        },
      } as unknown as Producer;
    },
  };
  return { kafka, configs, sent, calls };
}

describe('Kafka sink', () => {
  it('asks for an idempotent producer, one request in flight, acks from all replicas', async () => {
    const f = fakeKafka();
    const sink = createKafkaSink({ brokers: ['127.0.0.1:9092'], topic: 'usage' }, { kafka: f.kafka });
    await sink.send([event('t1', 1)]);
    expect(f.configs).toHaveLength(1);
    expect(f.configs[0]).toMatchObject({ idempotent: true, maxInFlightRequests: 1 });
    expect(f.configs[0]!.retry?.retries).toBe(5);
    expect(f.sent).toHaveLength(1);
    expect(f.sent[0]).toMatchObject({ topic: 'usage', acks: -1 });
    await sink.close();
  });

  it('keys each record by tenant, carries the event as JSON and its id in a header, in the given order', async () => {
    const f = fakeKafka();
    const sink = createKafkaSink({ name: 'audit', brokers: ['127.0.0.1:9092'], topic: 'usage' }, { kafka: f.kafka });
    const events = [event('t1', 1), event('t2', 2), event('t1', 3)];
    await sink.send(events);
    expect(sink.name).toBe('audit');
    const messages = f.sent[0]!.messages;
    expect(messages.map((m) => m.key)).toEqual(['t1', 't2', 't1']);
    expect(messages.map((m) => JSON.parse(String(m.value)) as UsageEvent)).toEqual(events);
    expect(messages.map((m) => m.headers?.['event-id'])).toEqual(events.map((e) => e.id));
    expect(messages[0]).toEqual(toKafkaMessage(events[0]!));
  });

  it('sends nothing for an empty batch', async () => {
    const f = fakeKafka();
    const sink = createKafkaSink({ brokers: ['127.0.0.1:9092'], topic: 'usage' }, { kafka: f.kafka });
    await sink.send([]);
    expect(f.calls.connect).toBe(0);
    expect(f.sent).toHaveLength(0);
  });

  it('rejects when the broker does not acknowledge, and the next send starts a fresh producer', async () => {
    const f = fakeKafka(1);
    const sink = createKafkaSink({ brokers: ['127.0.0.1:9092'], topic: 'usage' }, { kafka: f.kafka });
    await expect(sink.send([event('t1', 1)])).rejects.toThrow(/Connection refused/);
    expect(f.calls.disconnect).toBe(1);
    await sink.send([event('t1', 1)]);
    expect(f.configs).toHaveLength(2);
    expect(f.sent).toHaveLength(1);
  });

  it('keeps one producer across sends, and refuses to send once closed', async () => {
    const f = fakeKafka();
    const sink = createKafkaSink({ brokers: ['127.0.0.1:9092'], topic: 'usage' }, { kafka: f.kafka });
    await sink.send([event('t1', 1)]);
    await sink.send([event('t1', 2)]);
    expect(f.configs).toHaveLength(1);
    await sink.close();
    expect(f.calls.disconnect).toBe(1);
    await expect(sink.send([event('t1', 3)])).rejects.toThrow(/closed/);
  });

  it('rejects settings it cannot use, naming the field', () => {
    expect(() => createKafkaSink({ brokers: [], topic: 'usage' })).toThrow(/brokers/);
    expect(() => createKafkaSink({ brokers: ['http://127.0.0.1:9092'], topic: 'usage' })).toThrow(/host:port/);
    expect(() => createKafkaSink({ brokers: ['127.0.0.1:9092'], topic: 'usage events' })).toThrow(/topic/);
  });
});
