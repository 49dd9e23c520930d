/**
 * OpenTelemetry traces (src/services/tracing.ts) end to end: Switchyard as `npm start` assembles
 * it, with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an OTLP/HTTP receiver in this test (JSON), a
 * fake OpenAI-format provider, and the official `openai` client. One request is one trace: the
 * API's server span → the request path's → the workflow's start and run → the activities' → the
 * provider call's (GenAI conventions), with Switchyard's decision as attributes; a fallback says
 * why; no prompt or answer is in any span; the traced workflow's history replays with and without
 * the interceptors; and with no endpoint nothing of tracing is installed and nothing is sent.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import pino from 'pino';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config';
import { activeTracing, startTracing } from '../../src/services/tracing';
import { startSwitchyard, type Switchyard } from '../../src/start/switchyard';
import { buildWorkflowBundle } from '../../src/start/worker';
import { until } from '../support/chaos';
import { startOutside, type Outside } from '../support/outside';
import { freePort } from '../support/process';

const KEY = 'sk-sy-tracing-test-key-0123456789';
const PROMPT = 'Tell me about the purple-elephant-7Q4 project';
const ANSWER = 'The zebra-umbrella-9K2 answer';
// OTLP's SpanKind numbers.
const SERVER = 2;
const CLIENT = 3;

type Value = {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  arrayValue?: { values?: Value[] };
};
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number };
  attributes: Record<string, unknown>;
  service: unknown;
}

const valueOf = (v: Value | undefined): unknown =>
  v?.arrayValue
    ? (v.arrayValue.values ?? []).map(valueOf)
    : v?.intValue !== undefined
      ? Number(v.intValue)
      : (v?.stringValue ?? v?.boolValue);
const attributesOf = (list: Array<{ key: string; value: Value }> = []) =>
  Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/** An OTLP/HTTP receiver (JSON encoding): every span it is sent, and each body as it came. */
async function startReceiver() {
  const spans: ReceivedSpan[] = [];
  const bodies: string[] = [];
  const types: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      types.push(String(req.headers['content-type']));
      if (req.headers['content-type'] !== 'application/json') {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        return;
      }
      bodies.push(body);
      const payload = JSON.parse(body) as {
        resourceSpans?: Array<{
          resource?: { attributes?: Array<{ key: string; value: Value }> };
          scopeSpans?: Array<{ spans?: Array<Omit<ReceivedSpan, 'attributes' | 'service'> & { attributes?: [] }> }>;
        }>;
      };
      for (const rs of payload.resourceSpans ?? []) {
        const service = attributesOf(rs.resource?.attributes)['service.name'];
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? []) spans.push({ ...s, attributes: attributesOf(s.attributes), service });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    bodies,
    types,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let outside: Outside;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let app: Switchyard | undefined;
let client: OpenAI;
const ORIGINAL_KEY = process.env.TRACING_TEST_OA_API_KEY;

/** Switchyard (all in one) against the outside's Temporal and fake provider, with `env` added. */
async function startApp(env: Record<string, string>): Promise<Switchyard> {
  const port = await freePort();
  const configFile = path.join(outside.dataDir, 'switchyard.yaml');
  // A provider of the configuration file, on the shared queue: its short calls take the fast path.
  fs.writeFileSync(
    configFile,
    [
      'catalog:',
      '  providers:',
      `    - { id: oa, kind: openai, baseUrl: "${outside.fake.url}", apiKey: { env: TRACING_TEST_OA_API_KEY } }`,
      '  models:',
      '    - { id: oa/primary, provider: oa, model: primary, inputPricePerMTok: 0.1, outputPricePerMTok: 0.4,',
      '        contextWindow: 16000, maxOutputTokens: 2000, capabilities: [chat], qualityTier: 3 }',
      '    - { id: oa/backup, provider: oa, model: backup, inputPricePerMTok: 0.2, outputPricePerMTok: 0.8,',
      '        contextWindow: 16000, maxOutputTokens: 2000, capabilities: [chat], qualityTier: 3 }',
      'retry:',
      '  default: { maximumAttempts: 2, initialIntervalMs: 20, timeoutMs: 5000 }',
      '',
    ].join('\n'),
  );
  const started = await startSwitchyard(
    loadConfig({
      ...outside.processEnv(),
      OPENAI_API_KEY: '',
      PORT: String(port),
      SWITCHYARD_CONFIG: configFile,
      SWITCHYARD_BOOTSTRAP_KEY: KEY,
      ...env,
    }),
    { role: 'all', logger: pino({ level: 'silent' }) },
  );
  client = new OpenAI({ apiKey: KEY, baseURL: `${started.apiUrl}/v1`, maxRetries: 0 });
  return started;
}

/** The spans of the trace the request's provider call is in, once `names` have all arrived. */
async function traceOf(requestId: string, names: string[]): Promise<ReceivedSpan[]> {
  let spans: ReceivedSpan[] = [];
  await until(async () => {
    await activeTracing()!.flush();
    const call = receiver.spans.find((s) => s.kind === CLIENT && s.attributes['switchyard.request_id'] === requestId);
    spans = call ? receiver.spans.filter((s) => s.traceId === call.traceId) : [];
    return names.every((n) => spans.some((s) => s.name === n));
  }, 30_000);
  return spans;
}

/** The names from a span up to its trace's root, following parents. */
function ancestry(spans: ReceivedSpan[], from: ReceivedSpan): string[] {
  const names = [from.name];
  for (let s = from; s.parentSpanId;) {
    const parent = spans.find((p) => p.spanId === s.parentSpanId);
    if (!parent) throw new Error(`the parent of ${s.name} is not in the trace`);
    names.push(parent.name);
    s = parent;
  }
  return names;
}

beforeAll(async () => {
  process.env.TRACING_TEST_OA_API_KEY = 'sk-fake-tracing-0123456789';
  outside = await startOutside('sy-tracing-');
  receiver = await startReceiver();
  app = await startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
}, 180_000);

afterAll(async () => {
  await app?.stop();
  await receiver?.close();
  await outside?.close();
  if (ORIGINAL_KEY === undefined) delete process.env.TRACING_TEST_OA_API_KEY;
  else process.env.TRACING_TEST_OA_API_KEY = ORIGINAL_KEY;
});

let traced: { requestId: string; workflowId: string };

it('one chat is one trace: API → workflow → activities → the provider call, GenAI attributes and the decision on it', async () => {
  outside.fake.script('primary', { kind: 'ok', content: ANSWER });
  const { data, response } = await client.chat.completions
    .create({ model: 'oa/primary', messages: [{ role: 'user', content: PROMPT }] })
    .withResponse();
  expect(data.choices[0]!.message.content).toBe(ANSWER);
  const requestId = response.headers.get('x-switchyard-request-id')!;
  traced = { requestId, workflowId: response.headers.get('x-switchyard-workflow-id')! };

  const spans = await traceOf(requestId, [
    'POST /v1/chat/completions',
    'route chat',
    'StartWorkflow:routeRequest',
    'RunWorkflow:routeRequest',
    'RunActivity:decideRoute',
    'RunActivity:callModel',
    'chat primary',
  ]);
  const call = spans.find((s) => s.name === 'chat primary')!;
  // One trace, parent by parent: the call (a local activity: the fast path) up to the API's span.
  expect(ancestry(spans, call)).toEqual([
    'chat primary',
    'RunActivity:callModel',
    'StartActivity:callModel',
    'RunWorkflow:routeRequest',
    'StartWorkflow:routeRequest',
    'route chat',
    'POST /v1/chat/completions',
  ]);
  expect(
    ancestry(
      spans,
      spans.find((s) => s.name === 'RunActivity:decideRoute')!,
    ),
  ).toContain('RunWorkflow:routeRequest');
  expect(call.kind).toBe(CLIENT);
  expect(call.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.system': 'openai',
    'gen_ai.request.model': 'primary',
    'gen_ai.response.model': 'primary',
    'switchyard.request_id': requestId,
    'switchyard.model_id': 'oa/primary',
    'switchyard.call_path': 'local',
  });
  expect(call.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
  expect(call.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);

  const server = spans.find((s) => s.name === 'POST /v1/chat/completions')!;
  expect(server.kind).toBe(SERVER);
  expect(server.parentSpanId ?? '').toBe('');
  expect(server.attributes).toMatchObject({ 'http.response.status_code': 200, 'switchyard.request_id': requestId });
  const route = spans.find((s) => s.name === 'route chat')!;
  expect(route.attributes).toMatchObject({
    'switchyard.request_id': requestId,
    'switchyard.requested_model': 'oa/primary',
    'switchyard.candidates': expect.arrayContaining(['oa/primary']),
    'switchyard.chosen_model': 'oa/primary',
    'switchyard.fallbacks': [],
  });
  expect(route.attributes['switchyard.fallback_reason']).toBeUndefined();
  expect(spans.find((s) => s.name === 'RunActivity:decideRoute')!.attributes).toMatchObject({
    'switchyard.candidates': expect.arrayContaining(['oa/primary']),
  });
  expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['switchyard']));
});

it('a fallback: the failed call says why, and the route names the reason and the model that answered', async () => {
  outside.fake.script('primary', { kind: 'error', status: 401, message: 'Incorrect API key provided' });
  outside.fake.script('backup', { kind: 'ok', content: ANSWER });
  const { data, response } = await client.chat.completions
    .create({ model: 'oa/primary', models: ['oa/backup'], messages: [{ role: 'user', content: PROMPT }] } as never)
    .withResponse();
  expect((data as OpenAI.ChatCompletion).model).toBe('oa/backup');
  const requestId = response.headers.get('x-switchyard-request-id')!;

  const spans = await traceOf(requestId, ['route chat', 'chat primary', 'chat backup', 'RunWorkflow:routeRequest']);
  const failed = spans.find((s) => s.name === 'chat primary')!;
  expect(failed.status?.code).toBe(2); // ERROR
  const failure = failed.attributes['error.type'];
  expect(typeof failure).toBe('string');
  const route = spans.find((s) => s.name === 'route chat')!;
  expect(route.attributes).toMatchObject({
    'switchyard.chosen_model': 'oa/backup',
    'switchyard.candidates': ['oa/primary', 'oa/backup'],
    'switchyard.fallback_reason': failure,
    'switchyard.fallbacks': [`oa/primary: ${String(failure)}`],
  });
  expect(spans.find((s) => s.name === 'chat backup')!.attributes['gen_ai.response.model']).toBe('backup');
});

it('a stream is traced on the regular activity path', async () => {
  outside.fake.script('primary', { kind: 'ok', content: ANSWER });
  const { data, response } = await client.chat.completions
    .create({ model: 'oa/primary', messages: [{ role: 'user', content: PROMPT }], stream: true })
    .withResponse();
  let text = '';
  for await (const c of data) text += c.choices[0]?.delta.content ?? '';
  expect(text).toBe(ANSWER);
  const requestId = response.headers.get('x-switchyard-request-id')!;
  // The client has its answer before the workflow ends: its spans come once it has.
  const spans = await traceOf(requestId, [
    'POST /v1/chat/completions',
    'route chat',
    'StartActivity:callModel',
    'RunWorkflow:routeRequest',
    'chat primary',
  ]);
  const call = spans.find((s) => s.name === 'chat primary')!;
  expect(call.attributes).toMatchObject({ 'switchyard.call_path': 'activity', 'switchyard.stream': true });
  expect(ancestry(spans, call).at(-1)).toBe('POST /v1/chat/completions');
  expect(ancestry(spans, call)).toContain('RunWorkflow:routeRequest');
});

it('no prompt and no answer in any span sent', () => {
  expect(receiver.bodies.length).toBeGreaterThan(0);
  // Everything sent so far: a chat, a fallback and a stream, each with the prompt and the answer.
  const all = receiver.bodies.join('\n');
  expect(all).not.toContain('purple-elephant-7Q4');
  expect(all).not.toContain('zebra-umbrella-9K2');
  expect(all).not.toContain('gen_ai.input.messages');
});

it('only requests are traced: the entities started at start-up and their activities make no spans', () => {
  const requests = new Set(receiver.spans.filter((s) => s.kind === SERVER).map((s) => s.traceId));
  expect(requests.size).toBe(3);
  expect(receiver.spans.filter((s) => !requests.has(s.traceId)).map((s) => s.name)).toEqual([]);
});

it("the traced workflow's history replays with the tracing interceptors and without them", async () => {
  const history = await outside.env.client.workflow.getHandle(traced.workflowId).fetchHistory();
  // It carries the trace context in its headers: what the interceptors read back on replay.
  expect(JSON.stringify(history.events?.[0]?.workflowExecutionStartedEventAttributes?.header)).toContain(
    '_tracer-data',
  );
  for (const tracing of [true, false]) {
    const workflowBundle = await buildWorkflowBundle({ tracing });
    await Worker.runReplayHistory({ workflowBundle, replayName: `traced-${tracing}` }, history, traced.workflowId);
  }
});

it("prompts and answers are in the call's span only when asked for (OTEL_SWITCHYARD_CAPTURE_CONTENT)", async () => {
  await app!.stop();
  app = await startApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SWITCHYARD_CAPTURE_CONTENT: 'true',
  });
  outside.fake.script('primary', { kind: 'ok', content: ANSWER });
  const { response } = await client.chat.completions
    .create({ model: 'oa/primary', messages: [{ role: 'user', content: PROMPT }] })
    .withResponse();
  const spans = await traceOf(response.headers.get('x-switchyard-request-id')!, ['chat primary']);
  const call = spans.find((s) => s.name === 'chat primary')!;
  expect(JSON.parse(String(call.attributes['gen_ai.input.messages']))).toEqual([{ role: 'user', content: PROMPT }]);
  expect(String(call.attributes['gen_ai.output.messages'])).toContain(ANSWER);
});

it('with no endpoint, nothing of tracing is installed and nothing is sent', async () => {
  await app!.stop();
  app = undefined;
  expect(activeTracing()).toBeUndefined();
  expect(await startTracing(loadConfig({}))).toBeUndefined();
  const before = receiver.bodies.length;
  app = await startApp({});
  expect(activeTracing()).toBeUndefined();
  outside.fake.script('primary', { kind: 'ok', content: ANSWER });
  const { response } = await client.chat.completions
    .create({ model: 'oa/primary', messages: [{ role: 'user', content: PROMPT }] })
    .withResponse();
  const history = await outside.env.client.workflow
    .getHandle(response.headers.get('x-switchyard-workflow-id')!)
    .fetchHistory();
  // No client interceptor: the workflow's start carries no trace context.
  expect(JSON.stringify(history.events?.[0]?.workflowExecutionStartedEventAttributes?.header ?? {})).not.toContain(
    '_tracer-data',
  );
  expect(receiver.bodies.length).toBe(before);
});

it("OTLP over HTTP as protobuf by default (OTLP's own default protocol)", async () => {
  const tracing = (await startTracing(
    loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` }),
  ))!;
  try {
    const seen = receiver.types.length;
    tracing.tracer.startSpan('probe').end();
    await tracing.flush();
    expect(receiver.types.slice(seen)).toEqual(['application/x-protobuf']);
  } finally {
    await tracing.shutdown();
  }
  expect(activeTracing()).toBeUndefined();
});
