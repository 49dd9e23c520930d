/**
 * The OpenAI Batch API, driven by the official `openai` client unchanged: files.create,
 * batches.create, retrieve until completed, files.content of the output and error files, cancel
 * mid-way, and embeddings lines, each line a routed, durable request.
 */
import OpenAI, { toFile } from 'openai';
import { upsertApiKey } from '../../src/db/apiKeys';
import { until } from '../support/chaos';
import { recordHistory } from '../support/histories';
import { uniqueId } from '../support/db';
import { fakeCatalog, fakeModel, openaiClient, useTestStack } from '../support/stack';

let client: OpenAI;

const stack = useTestStack(
  {
    catalog: (f) =>
      fakeCatalog(f, [
        fakeModel('oa', 'chat'),
        fakeModel('oa', 'broken'),
        fakeModel('oa', 'text-embedding-3-small', { capabilities: ['embeddings'], outputPricePerMTok: 0 }),
      ]),
  },
  { timeout: 120_000 },
);
beforeAll(() => {
  stack.fakes.openai.setDefault('broken', { kind: 'error', status: 400, message: 'unsupported parameter' });
  client = openaiClient(stack);
});

const chatLine = (customId: string, model = 'oa/chat') => ({
  custom_id: customId,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model, messages: [{ role: 'user', content: `Say hello to ${customId}` }], max_tokens: 50 },
});

const upload = async (lines: unknown[], c = client) =>
  c.files.create({
    file: await toFile(Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'), 'batch.jsonl'),
    purpose: 'batch',
  });

async function settled(id: string) {
  let b = await client.batches.retrieve(id);
  await until(async () => {
    b = await client.batches.retrieve(id);
    return ['completed', 'cancelled', 'failed', 'expired'].includes(b.status);
  }, 120_000);
  return b;
}

/** A batch of the uploaded file's lines, completed within 24 h (OpenAI's one window). */
const createBatch = (fileId: string, endpoint: '/v1/chat/completions' | '/v1/embeddings') =>
  client.batches.create({ input_file_id: fileId, endpoint, completion_window: '24h' });

const contentLines = async (fileId: string) =>
  (await (await client.files.content(fileId)).text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

it('runs a 20-line batch file to completion; the output file holds one answer per custom_id', async () => {
  const lines = Array.from({ length: 20 }, (_, i) => chatLine(`req-${i}`));
  const file = await upload(lines);
  expect(file).toMatchObject({ object: 'file', purpose: 'batch', filename: 'batch.jsonl' });
  expect(file.bytes).toBeGreaterThan(0);
  expect((await client.files.retrieve(file.id)).id).toBe(file.id);

  const created = await client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    metadata: { job: 'nightly' },
  });
  expect(created).toMatchObject({ object: 'batch', input_file_id: file.id, metadata: { job: 'nightly' } });
  expect(['validating', 'in_progress']).toContain(created.status);

  const done = await settled(created.id);
  expect(done.status).toBe('completed');
  const handle = stack.env.client.workflow.getHandle(`batch-${created.id}`);
  await until(async () => (await handle.describe()).status.name === 'COMPLETED');
  await recordHistory('openai-batch-completed', handle);
  expect(done.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });
  expect(done.error_file_id).toBeNull();
  const out = await contentLines(done.output_file_id!);
  expect(out).toHaveLength(20);
  expect(out.map((l) => l.custom_id).sort()).toEqual(lines.map((l) => l.custom_id).sort());
  expect(out[0]).toMatchObject({
    custom_id: 'req-0',
    error: null,
    response: { status_code: 200, body: { object: 'chat.completion', choices: [{ message: { role: 'assistant' } }] } },
  });
  expect(out[0].response.body.choices[0].message.content).toBe('fake answer from chat');
  // The input file reads back as uploaded; the batch is listed.
  expect((await contentLines(file.id)).map((l) => l.custom_id)).toEqual(lines.map((l) => l.custom_id));
  const listed = [];
  for await (const b of client.batches.list({ limit: 5 })) listed.push(b.id);
  expect(listed).toContain(created.id);
  // Each line was one routed request, with its attempt in the ledger.
  const ledger = await stack.db.query<{ n: number }>(
    `select count(*)::int as n from request_attempts a join requests r on r.request_id = a.request_id where r.batch_id = $1`,
    [created.id],
  );
  expect(ledger.rows[0]!.n).toBe(20);
}, 180_000);

it('puts a line that fails after its fallbacks in the error file, with its status and error', async () => {
  const file = await upload([chatLine('fine'), chatLine('req-broken', 'oa/broken')]);
  const created = await createBatch(file.id, '/v1/chat/completions');
  const done = await settled(created.id);
  expect(done).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 1, failed: 1 } });
  expect((await contentLines(done.output_file_id!)).map((l) => l.custom_id)).toEqual(['fine']);
  expect(await contentLines(done.error_file_id!)).toEqual([
    expect.objectContaining({
      custom_id: 'req-broken',
      response: expect.objectContaining({
        status_code: 400,
        body: { error: expect.objectContaining({ type: 'InvalidRequest' }) },
      }),
    }),
  ]);
}, 120_000);

it('a batch cancelled mid-way ends cancelled and keeps the lines that finished', async () => {
  stack.fakes.openai.setDefault('chat', { kind: 'ok', delayMs: 300 });
  try {
    const file = await upload(Array.from({ length: 150 }, (_, i) => chatLine(`slow-${i}`)));
    const created = await createBatch(file.id, '/v1/chat/completions');
    await until(async () => (await client.batches.retrieve(created.id)).request_counts!.completed >= 5);
    const cancelling = await client.batches.cancel(created.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    const end = await settled(created.id);
    expect(end.status).toBe('cancelled');
    const finished = end.request_counts!.completed;
    expect(finished).toBeGreaterThanOrEqual(5);
    expect(finished).toBeLessThan(150);
    const out = await contentLines(end.output_file_id!);
    expect(out).toHaveLength(finished);
    expect(out.every((l) => l.response.status_code === 200)).toBe(true);
  } finally {
    stack.fakes.openai.setDefault('chat', { kind: 'ok' });
  }
}, 180_000);

it('runs embeddings lines and returns OpenAI embedding lists', async () => {
  const file = await upload(
    ['alpha', 'beta gamma'].map((input, i) => ({
      custom_id: `e${i}`,
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: 'oa/text-embedding-3-small', input },
    })),
  );
  const created = await createBatch(file.id, '/v1/embeddings');
  const done = await settled(created.id);
  expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
  const out = await contentLines(done.output_file_id!);
  expect(out.find((l) => l.custom_id === 'e1').response.body).toMatchObject({
    object: 'list',
    data: [{ object: 'embedding', index: 0, embedding: [10, 1, 0, 0.5] }],
  });
}, 120_000);

it("a line's switchyard.quality drives its tier as a request's does; a line without one takes the tenant's default", async () => {
  // The prompt the trained classifier is unsure of (complex ≈ 0.6): the dial decides its tier.
  const prompt = 'Prove that the sum of two even integers is even, step by step.';
  const line = (customId: string, quality?: number) => ({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'auto',
      messages: [{ role: 'user', content: prompt }],
      max_tokens: 50,
      ...(quality !== undefined && { switchyard: { quality } }),
    },
  });
  const before = stack.configStore.current().config;
  // The tenant asks for the cheapest acceptable tier, and only the working chat model.
  await stack.configStore.update((c) => ({
    ...c,
    tenants: {
      ...c.tenants,
      [stack.tenantId]: { ...c.tenants[stack.tenantId]!, quality: 0, allowedModels: ['oa/chat'] },
    },
  }));
  try {
    const file = await upload([line('best', 1), line('tenant-default'), line('low', 0.2)]);
    const created = await createBatch(file.id, '/v1/chat/completions');
    const done = await settled(created.id);
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    const rows = (
      await stack.db.query<{ body: { switchyard?: { quality: number } }; decision: { dial?: any } }>(
        'select body, decision from requests where batch_id = $1',
        [created.id],
      )
    ).rows;
    const dialOf = (q: number | undefined) => rows.find((r) => r.body.switchyard?.quality === q)!.decision.dial;
    expect(dialOf(1)).toMatchObject({ quality: 1, source: 'request', tier: 'complex' });
    expect(dialOf(0.2)).toMatchObject({ quality: 0.2, source: 'request' });
    expect(dialOf(undefined)).toMatchObject({ quality: 0, source: 'tenant' });
    expect(dialOf(undefined).tier).not.toBe('complex');

    // A batch created with X-Switchyard-Quality: its lines without their own take it, before the tenant's.
    const second = await client.batches.create(
      {
        input_file_id: (await upload([line('from-header')])).id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      },
      { headers: { 'X-Switchyard-Quality': '0.9' } },
    );
    expect((await settled(second.id)).request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    const [fromHeader] = (
      await stack.db.query<{ decision: { dial?: any } }>('select decision from requests where batch_id = $1', [
        second.id,
      ])
    ).rows;
    expect(fromHeader!.decision.dial).toMatchObject({ quality: 0.9, source: 'request', tier: 'complex' });
  } finally {
    await stack.configStore.update((c) => ({ ...c, tenants: before.tenants }));
  }
}, 120_000);

it('rejects a bad line with its number, a mismatched endpoint, and other tenants', async () => {
  const lines: unknown[] = Array.from({ length: 5 }, (_, i) => chatLine(`b${i}`));
  lines[2] = { custom_id: 'b2', method: 'POST', url: '/v1/chat/completions', body: { model: 'oa/chat' } };
  await expect(upload(lines)).rejects.toMatchObject({
    status: 400,
    message: expect.stringMatching(/^400 line 3: body\.messages/),
  });
  lines[2] = chatLine('b0');
  await expect(upload(lines)).rejects.toMatchObject({
    status: 400,
    message: expect.stringMatching(/line 3: custom_id: duplicate id 'b0'/),
  });

  const file = await upload([chatLine('ok')]);
  await expect(
    client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
  ).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/line 1: url/) });

  const otherKey = `sk-sy-${uniqueId('other')}`;
  await upsertApiKey(stack.db, uniqueId('tenant'), otherKey, 'other');
  const other = new OpenAI({ apiKey: otherKey, baseURL: stack.baseURL, maxRetries: 0 });
  await expect(other.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
  await expect(
    other.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
  ).rejects.toMatchObject({ status: 404 });
  const mine = await createBatch(file.id, '/v1/chat/completions');
  await expect(other.batches.retrieve(mine.id)).rejects.toMatchObject({ status: 404 });
  await expect(other.batches.cancel(mine.id)).rejects.toMatchObject({ status: 404 });
  await settled(mine.id);
}, 120_000);
