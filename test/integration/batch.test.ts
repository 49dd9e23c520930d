/**
 * Summarization batches over real HTTP: JSONL and inline submission, a 500-document batch with
 * exactly one summary per document, a document many times the model's context chunked and
 * combined, line-numbered rejection that stores nothing, cancel with no call after it returns,
 * waiting out a forced-open breaker, and tenant scoping.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { upsertApiKey } from '../../src/db/apiKeys';
import { sentencesOf } from '../../src/domain/batch/chunk';
import { until } from '../support/chaos';
import { recordHistory } from '../support/histories';
import { uniqueId } from '../support/db';
import { fakeCatalog, fakeModel, useTestStack } from '../support/stack';

const CONTEXT = 2_000;

const stack = useTestStack(
  {
    breakers: true,
    catalog: (f) =>
      fakeCatalog(f, [fakeModel('oa', 'sum', { contextWindow: CONTEXT, capabilities: ['chat', 'json'] })]),
  },
  { timeout: 120_000 },
);
beforeAll(() => {
  stack.fakes.openai.setDefault('sum', { kind: 'ok', simulate: true });
});

const BATCHES = '/operations/summarize/batches';

async function api(path: string, init: RequestInit & { key?: string } = {}) {
  const res = await fetch(`${stack.baseURL}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${init.key ?? stack.apiKey}`, ...(init.headers as Record<string, string>) },
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // JSONL or empty
  }
  return { status: res.status, body, text };
}

const jsonl = (rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';

const submitJsonl = (rows: unknown[], query = '', key?: string) =>
  api(`${BATCHES}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: jsonl(rows),
    key,
  });

const batch = async (id: string) => (await api(`${BATCHES}/${id}`)).body;

async function finished(id: string, ms = 120_000) {
  let last: any;
  await until(async () => {
    last = await batch(id);
    return ['completed', 'cancelled', 'failed'].includes(last.status);
  }, ms);
  return last;
}

async function results(id: string) {
  const r = await api(`${BATCHES}/${id}/results`);
  expect(r.status).toBe(200);
  return r.text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** A document of `n` distinct sentences, single-spaced. */
const doc = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Sentence ${i} of ${tag} says the river crossed plain number ${i}.`).join(' ');

it('summarizes 500 documents from JSONL, each exactly once, and returns 500 result lines', async () => {
  const docs = Array.from({ length: 500 }, (_, i) => ({ id: `d${i}`, text: doc(`doc ${i}`, 3) }));
  const sub = await submitJsonl(docs, '?maxWords=40&concurrency=32');
  expect(sub.status).toBe(201);
  expect(sub.body).toMatchObject({ object: 'summarize.batch', counts: { total: 500 } });
  const done = await finished(sub.body.id, 300_000);
  expect(done).toMatchObject({ status: 'completed', counts: { total: 500, done: 500, failed: 0, pending: 0 } });
  expect(done.cost_usd).toBeGreaterThan(0);

  const rows = await stack.db.query<{ item_id: string; n: number }>(
    'select item_id, count(*)::int as n from batch_results where batch_id = $1 group by item_id',
    [sub.body.id],
  );
  expect(rows.rows).toHaveLength(500);
  expect(rows.rows.every((r) => r.n === 1)).toBe(true);
  const lines = await results(sub.body.id);
  expect(lines).toHaveLength(500);
  expect(lines.map((l) => l.id)).toEqual(docs.map((d) => d.id));
  // Extractive: the summary is the document's own first sentence(s).
  expect(docs[7]!.text.startsWith(lines[7].summary)).toBe(true);
  expect(lines[7]).toMatchObject({ models: ['oa/sum'], error: null, chunks: 1 });
  // Every call the fake provider saw is one attempt in the ledger.
  const attempts = await stack.db.query<{ n: number }>(
    `select count(*)::int as n from request_attempts a join requests r on r.request_id = a.request_id where r.batch_id = $1`,
    [sub.body.id],
  );
  expect(attempts.rows[0]!.n).toBe(500);
}, 400_000);

it('chunks a document five times the context window and combines the chunk summaries', async () => {
  const text = doc('the long report', 900);
  const sub = await api(BATCHES, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ documents: [{ id: 'long', text }], maxWords: 40 }),
  });
  expect(sub.status).toBe(201);
  const { countTokens } = await import('../../src/domain/tokens');
  expect(countTokens(text)).toBeGreaterThan(5 * CONTEXT);
  expect((await finished(sub.body.id)).status).toBe('completed');
  const [line] = await results(sub.body.id);
  expect(line.chunks).toBeGreaterThanOrEqual(6);
  // Combined: more requests than chunks (at least one combining round).
  const reqs = await stack.db.query<{ n: number }>('select count(*)::int as n from requests where batch_id = $1', [
    sub.body.id,
  ]);
  expect(reqs.rows[0]!.n).toBeGreaterThan(line.chunks);
  // The chunk requests ran on the batch queue, not the interactive one.
  const chunk = await stack.env.client.workflow.getHandle(`req-bt-${sub.body.id}-1-1-0-0`).describe();
  expect(chunk.taskQueue).toBe(`${stack.taskQueue}-batch`);
  await recordHistory('batch-summarize-long-document', stack.env.client.workflow.getHandle(`batch-${sub.body.id}`));
  await recordHistory('batch-item-chunked', stack.env.client.workflow.getHandle(`batch-${sub.body.id}/long`));
  const sentences = sentencesOf(line.summary).map((s) => s.trim());
  expect(sentences.length).toBeGreaterThan(0);
  for (const s of sentences) expect(text).toContain(s);
}, 120_000);

it('rejects a bad line 17 naming the line and field, and stores nothing', async () => {
  const count = async () =>
    (
      await stack.db.query<{ b: number; i: number }>(
        'select (select count(*) from batches)::int as b, (select count(*) from batch_items)::int as i',
      )
    ).rows[0]!;
  const before = await count();
  const rows: unknown[] = Array.from({ length: 30 }, (_, i) => ({ id: `x${i}`, text: 'Some text.' }));
  rows[16] = { id: 'x16' };
  const bad = await submitJsonl(rows);
  expect(bad.status).toBe(400);
  expect(bad.body.error.message).toBe('line 17: text: required');
  expect(bad.body.error).toMatchObject({ type: 'invalid_request_error', line: 17, param: 'text' });

  rows[16] = '{"id": "x16", "text": ';
  expect((await submitJsonl(rows)).body.error.message).toMatch(/^line 17: not valid JSON/);
  rows[16] = { id: 'x3', text: 'Again.' };
  const dup = await submitJsonl(rows);
  expect(dup.status).toBe(400);
  expect(dup.body.error.message).toBe("line 17: id: duplicate id 'x3' (first on line 4)");
  rows[16] = { id: 'x16', text: 'bad \u0000 byte' };
  expect((await submitJsonl(rows)).body.error.message).toMatch(/^line 17: text: contains a NUL/);
  expect(await count()).toEqual(before);

  const inline = await api(BATCHES, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ documents: [{ id: 'a', text: 'x' }, { id: 'b' }] }),
  });
  expect(inline.status).toBe(400);
  expect(inline.body.error.param).toBe('documents.1.text');
  expect((await submitJsonl([{ id: 'a', text: 'x' }], '?concurrency=999')).body.error.param).toBe('concurrency');
  expect((await submitJsonl([{ id: 'a', text: 'x' }], '?style=poem')).body.error.param).toBe('style');
  expect(await count()).toEqual(before);
});

it('calls the webhook once when the batch completes', async () => {
  const calls: unknown[] = [];
  const hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      calls.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/done`;
    const sub = await submitJsonl(
      [1, 2, 3].map((i) => ({ id: `h${i}`, text: `Hook document ${i}.` })),
      `?webhookUrl=${encodeURIComponent(url)}`,
    );
    expect(sub.status).toBe(201);
    await finished(sub.body.id);
    const handle = stack.env.client.workflow.getHandle(`batch-${sub.body.id}`);
    await until(async () => (await handle.describe()).status.name === 'COMPLETED');
    expect(calls).toEqual([
      expect.objectContaining({
        type: 'batch.finished',
        batch_id: sub.body.id,
        status: 'completed',
        done: 3,
        failed: 0,
      }),
    ]);
  } finally {
    hook.close();
  }
});

it("keeps batches to their tenant: another tenant's batch id is not found", async () => {
  const sub = await submitJsonl([{ id: 'only', text: 'One sentence here.' }]);
  expect(sub.status).toBe(201);
  const otherTenant = uniqueId('tenant');
  const otherKey = `sk-sy-${uniqueId('other')}`;
  await upsertApiKey(stack.db, otherTenant, otherKey, 'other');
  for (const path of ['', '/results'])
    expect((await api(`${BATCHES}/${sub.body.id}${path}`, { key: otherKey })).status).toBe(404);
  expect((await api(`${BATCHES}/${sub.body.id}/cancel`, { method: 'POST', key: otherKey })).status).toBe(404);
  const mine = (await api(BATCHES)).body.data.map((b: { id: string }) => b.id);
  expect(mine).toContain(sub.body.id);
  expect((await api(BATCHES, { key: otherKey })).body.data).toEqual([]);
  await finished(sub.body.id);
});

it('cancel: no provider call starts after it returns, and finished summaries are kept', async () => {
  stack.fakes.openai.setDefault('sum', { kind: 'ok', simulate: true, delayMs: 300 });
  try {
    const docs = Array.from({ length: 200 }, (_, i) => ({ id: `c${i}`, text: doc(`cancel ${i}`, 2) }));
    const sub = await submitJsonl(docs, '?concurrency=4');
    const id = sub.body.id;
    await until(async () => (await batch(id)).counts.done >= 8);
    const cancelled = await api(`${BATCHES}/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.cancel_requested).toBe(true);
    const callsAtCancel = stack.fakes.openai.callsFor('sum').length;
    const end = await finished(id);
    expect(end.status).toBe('cancelled');
    // Wait until the batch's workflows are closed before counting again.
    const handle = stack.env.client.workflow.getHandle(`batch-${id}`);
    await until(async () => (await handle.describe()).status.name !== 'RUNNING');
    expect(stack.fakes.openai.callsFor('sum').length).toBe(callsAtCancel);
    const kept = await results(id);
    expect(kept.length).toBe(end.counts.done);
    expect(kept.length).toBeGreaterThanOrEqual(8);
    expect(kept.length).toBeLessThan(200);
    expect(kept.every((l) => l.summary && l.error === null)).toBe(true);
  } finally {
    stack.fakes.openai.setDefault('sum', { kind: 'ok', simulate: true });
  }
}, 120_000);

it('waits out a forced-open breaker with status waiting, then completes with no document failed', async () => {
  const breaker = (action: 'open' | 'close') =>
    api('/providers/oa/sum/breaker', {
      method: 'POST',
      key: stack.operatorKey,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action, reason: 'batch test' }),
    });
  expect((await breaker('open')).status).toBe(200);
  try {
    const sub = await submitJsonl(Array.from({ length: 20 }, (_, i) => ({ id: `w${i}`, text: doc(`wait ${i}`, 2) })));
    const id = sub.body.id;
    let seen: any;
    await until(async () => (seen = await batch(id)).status === 'waiting');
    expect(seen.status_reason).toMatch(/breaker/);
    expect(seen.counts.failed).toBe(0);
    const progress = await stack.env.client.workflow.getHandle(`batch-${id}`).query('progress');
    expect(progress).toMatchObject({ status: 'waiting' });
  } finally {
    expect((await breaker('close')).status).toBe(200);
  }
  const latest = (await api(BATCHES)).body.data[0];
  const end = await finished(latest.id);
  expect(end).toMatchObject({ status: 'completed', counts: { done: 20, failed: 0 } });
  const handle = stack.env.client.workflow.getHandle(`batch-${latest.id}`);
  await until(async () => (await handle.describe()).status.name === 'COMPLETED');
  await recordHistory('batch-summarize-waiting', handle);
}, 120_000);

it('waits out an exhausted budget with status waiting, then completes once the budget allows', async () => {
  const budget = (body: unknown) =>
    api(`/admin/tenants/${stack.tenantId}/budget`, {
      method: body === undefined ? 'DELETE' : 'PUT',
      key: stack.adminKey,
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  expect((await budget({ dailyUsd: 0.0005 })).status).toBe(200);
  try {
    const sub = await submitJsonl(
      Array.from({ length: 60 }, (_, i) => ({ id: `b${i}`, text: doc(`budget ${i}`, 2) })),
      '?maxWords=40&concurrency=4',
    );
    const id = sub.body.id;
    let seen: any;
    await until(async () => (seen = await batch(id)).status === 'waiting');
    expect(seen.status_reason).toMatch(/^budget exhausted \(tenant:.* daily, resets at /);
    expect(seen.counts.failed).toBe(0);
    expect(seen.counts.done).toBeLessThan(60);
    expect((await budget({ dailyUsd: 10 })).status).toBe(200);
    const end = await finished(id);
    expect(end).toMatchObject({ status: 'completed', counts: { done: 60, failed: 0 } });
  } finally {
    await budget(undefined);
  }
}, 120_000);

it('runs sentiment, intent and entities batches on the same engine', async () => {
  const post = (op: string, body: unknown) =>
    api(`/operations/${op}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const texts = [
    { id: 's1', text: 'I love this product, it is great.' },
    { id: 's2', text: 'The delivery was late and the box was broken.' },
  ];
  const sentiment = await post('sentiment', { documents: texts });
  expect(sentiment.status).toBe(201);
  expect(sentiment.body).toMatchObject({ object: 'sentiment.batch', counts: { total: 2 } });
  const intent = await post('intent', { documents: texts, intents: ['praise', 'complaint'] });
  expect(intent.status).toBe(201);
  const entities = await post('entities', {
    documents: [{ id: 'e1', text: 'Ada Lovelace met Charles Babbage in London.' }],
  });
  expect(entities.status).toBe(201);

  for (const [op, b] of [
    ['sentiment', sentiment.body],
    ['intent', intent.body],
    ['entities', entities.body],
  ] as const) {
    let end: any;
    await until(async () => (end = (await api(`/operations/${op}/batches/${b.id}`)).body).status === 'completed');
    expect(end.counts.failed).toBe(0);
  }
  const lines = async (op: string, id: string) =>
    (await api(`/operations/${op}/batches/${id}/results`)).text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const s = await lines('sentiment', sentiment.body.id);
  expect(s.map((l) => [l.id, l.result.label])).toEqual([
    ['s1', 'positive'],
    ['s2', 'negative'],
  ]);
  const i = await lines('intent', intent.body.id);
  expect(i.every((l) => ['praise', 'complaint'].includes(l.result.intent))).toBe(true);
  const e = await lines('entities', entities.body.id);
  expect(e[0].result.entities.map((x: { text: string }) => x.text)).toEqual(
    expect.arrayContaining(['Ada Lovelace', 'Charles Babbage', 'London']),
  );
  // Options of another operation are refused; an operation without batches is not found.
  expect((await post('sentiment', { documents: texts, maxWords: 10 })).body.error.param).toBe('maxWords');
  expect((await post('intent', { documents: texts, intents: ['only-one'] })).body.error.param).toBe('intents');
  expect((await post('embed', { documents: texts })).status).toBe(404);
  // A batch is found only under its own operation.
  expect((await api(`/operations/summarize/batches/${sentiment.body.id}`)).status).toBe(404);
  const handle = stack.env.client.workflow.getHandle(`batch-${sentiment.body.id}`);
  await until(async () => (await handle.describe()).status.name === 'COMPLETED');
  await recordHistory('operation-batch-sentiment', handle);
}, 120_000);

it("results asked for before a batch finishes are a 202 that says so; after, a 200; a finished batch's cancel is a 409", async () => {
  const texts = Array.from({ length: 6 }, (_, i) => ({ id: `p${i}`, text: `Item ${i} is fine, I like it.` }));
  const RESULTS = (id: string) => `/operations/sentiment/batches/${id}/results`;
  const get = (path: string) =>
    fetch(`${stack.baseURL}${path}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
  // The first document is answered at once; every later call is held until the partial fetch
  // has been checked, so the batch is still running then however slow the machine is.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  stack.fakes.openai.script('sum', { kind: 'ok', simulate: true });
  stack.fakes.openai.setDefault('sum', { kind: 'ok', simulate: true, waitFor: held });
  let id: string;
  try {
    const sub = await api('/operations/sentiment/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ documents: texts, concurrency: 1 }),
    });
    expect(sub.status).toBe(201);
    id = sub.body.id;

    // Right after submitting: not an empty 200, but a 202 with the status in a header and the body.
    const early = await get(RESULTS(id));
    expect(early.status).toBe(202);
    expect(early.headers.get('content-type')).toMatch(/^application\/json/);
    const status = early.headers.get('x-switchyard-batch-status');
    expect(['queued', 'running']).toContain(status);
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await early.json()) as any;
    expect(body).toMatchObject({
      object: 'sentiment.batch.results_pending',
      id,
      status,
      counts: { total: 6 },
      batch_url: `/v1/operations/sentiment/batches/${id}`,
    });
    expect(body.message).toContain(`Batch ${id} is ${status} (`);
    expect(body.message).toContain('once it has finished');

    // The results so far, on request: a 200 whose header says the batch still runs (the second
    // document's call is held, at concurrency 1: exactly one result).
    await until(async () => (await batch_(id)).counts.done >= 1);
    const partial = await get(`${RESULTS(id)}?partial=true`);
    expect(partial.status).toBe(200);
    expect(partial.headers.get('x-switchyard-batch-status')).toBe('running');
    const partialLines = (await partial.text()).split('\n').filter(Boolean);
    expect(partialLines.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(['p0']);
    release();

    const bad = await api(`${RESULTS(id)}?partial=maybe`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ param: 'partial', type: 'invalid_request_error' });
  } finally {
    release();
    stack.fakes.openai.setDefault('sum', { kind: 'ok', simulate: true });
  }

  await until(async () => (await batch_(id)).status === 'completed');
  const done = await get(RESULTS(id));
  expect(done.status).toBe(200);
  expect(done.headers.get('x-switchyard-batch-status')).toBe('completed');
  expect(done.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  const lines = (await done.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  expect(lines.map((l) => l.id)).toEqual(texts.map((t) => t.id));
  expect(lines.every((l) => typeof l.result.label === 'string' && l.error === null)).toBe(true);

  // Cancelling the finished batch does not claim a cancel: a 409 with its final status.
  const cancel = await api(`/operations/sentiment/batches/${id}/cancel`, { method: 'POST' });
  expect(cancel.status).toBe(409);
  expect(cancel.body.error).toMatchObject({
    type: 'invalid_request_error',
    code: 'batch_already_finished',
    message: `Batch ${id} had already finished (completed); there is nothing to cancel.`,
    batch: { id, status: 'completed', cancel_requested: false, counts: { done: 6 } },
  });
  expect((await api(`/operations/sentiment/batches/${id}`)).body).toMatchObject({
    status: 'completed',
    cancel_requested: false,
  });
}, 120_000);

const batch_ = async (id: string) => (await api(`/operations/sentiment/batches/${id}`)).body;
