/**
 * The usage-event settings (src/domain/events.ts): sinks validated with the path of what is wrong,
 * secrets named by environment variable only, names unique; and the retry backoff of a failed sink.
 */
import { EventSettingsSchema, sinkRetryDelayMs } from '../../src/domain/events';
import { SwitchyardConfigSchema } from '../../src/domain/config';

const issues = (input: unknown) => {
  const r = EventSettingsSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

it('accepts webhook, redis and kafka sinks, with defaults', () => {
  const s = EventSettingsSchema.parse({
    sinks: [
      { name: 'billing', type: 'webhook', url: 'https://billing.example.com/events', secretName: 'BILLING_HMAC' },
      { name: 'stream', type: 'redis', stream: 'switchyard:events', maxLen: 1_000_000 },
      { name: 'kafka', type: 'kafka', brokers: ['kafka-1:9092'], topic: 'switchyard.usage' },
    ],
  });
  expect(s).toMatchObject({ pollMs: 500, batchSize: 100 });
  expect(s.sinks[1]).toMatchObject({ urlName: 'REDIS_URL' });
});

it('refuses a bad sink with the path of the problem', () => {
  expect(issues({ sinks: [{ name: 'a', type: 'webhook', url: 'ftp://x' }] })).toEqual([
    expect.stringMatching(/^sinks\.0\.url: /),
  ]);
  // A secret goes in the environment, its name in the configuration.
  expect(issues({ sinks: [{ name: 'a', type: 'webhook', url: 'https://x.example', secretName: 'hunter2!' }] })).toEqual(
    [expect.stringMatching(/^sinks\.0\.secretName: an environment variable name/)],
  );
  expect(issues({ sinks: [{ name: 'a', type: 'webhook', url: 'https://x.example', secret: 'inline' }] })).toEqual([
    expect.stringMatching(/^sinks\.0: Unrecognized key/),
  ]);
  expect(issues({ sinks: [{ name: 'a', type: 'smtp' }] })).toEqual([expect.stringMatching(/^sinks\.0\.type: /)]);
  expect(
    issues({
      sinks: [
        {
          name: 'k',
          type: 'kafka',
          brokers: ['k:9092'],
          topic: 't',
          sasl: { mechanism: 'plain', username: 'u', password: 'inline' },
        },
      ],
    }),
  ).toEqual([
    'sinks.0.sasl.passwordName: Invalid input: expected string, received undefined',
    'sinks.0.sasl: Unrecognized key: "password"',
  ]);
  expect(issues({ sinks: [{ name: 'k', type: 'kafka', brokers: [], topic: 't' }] })).toEqual([
    expect.stringMatching(/^sinks\.0\.brokers: /),
  ]);
  expect(
    issues({
      sinks: [
        { name: 'a', type: 'redis', stream: 's' },
        { name: 'a', type: 'redis', stream: 't' },
      ],
    }),
  ).toEqual(["sinks.1.name: duplicate sink name 'a'"]);
  expect(issues({ pollMs: 0 })).toEqual([expect.stringMatching(/^pollMs: /)]);
});

it('is the configuration key `events`', () => {
  const r = SwitchyardConfigSchema.safeParse({
    catalog: { providers: [], models: [] },
    events: { sinks: [{ name: 'Bad Name', type: 'redis', stream: 's' }] },
  });
  expect(r.success).toBe(false);
  expect(r.error!.issues.map((i) => i.path.join('.'))).toContain('events.sinks.0.name');
});

it('retries a failed sink after 0.5 s, doubling to at most 30 s', () => {
  expect([0, 1, 2, 3, 6, 7, 50].map(sinkRetryDelayMs)).toEqual([0, 500, 1_000, 2_000, 16_000, 30_000, 30_000]);
});
